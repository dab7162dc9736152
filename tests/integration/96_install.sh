#!/usr/bin/env bash
# Installation as a user would do it: `make install DESTDIR=... PREFIX=/usr` lays out the
# binaries, library (with soname), header, pkg-config file and man page; a program builds
# against them with pkg-config and runs; `make install-python` installs the binding with
# libckpt beside it, importable with no other path set.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
BUILD_DIR=${BUILD_DIR:-$HARNESS_ROOT/build}
case $BUILD_DIR in *build-san*) SANARG=SAN=1 ;; *) SANARG= ;; esac
DEST=$(new_tmpdir)
make -s -C "$HARNESS_ROOT" $SANARG install DESTDIR="$DEST" PREFIX=/usr >"$WORK/install.log" 2>&1
check_eq "make install DESTDIR=... PREFIX=/usr exits 0" 0 "$?"
for f in usr/bin/ckpt usr/bin/ckptd usr/include/ckpt.h usr/lib/libckpt.a usr/lib/libckpt.so \
    usr/lib/libckpt.so.0 usr/lib/pkgconfig/ckpt.pc usr/share/man/man1/ckpt.1; do
    check "installed $f" test -e "$DEST/$f"
done
check_eq "libckpt.so carries the soname libckpt.so.0" libckpt.so.0 \
    "$(objdump -p "$DEST/usr/lib/libckpt.so" 2>/dev/null | awk '/SONAME/ {print $2}')"
check "the .so exports only ckpt_* symbols" bash -c \
    "! nm -D --defined-only '$DEST/usr/lib/libckpt.so' | awk '\$2==\"T\"{print \$3}' | grep -v '^ckpt_'"
pcdir=$DEST/usr/lib/pkgconfig
flags=$(PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$DEST pkg-config --cflags --libs ckpt)
check_match "pkg-config knows ckpt" '.*-lckpt.*' "$flags"
# A sanitizer build installs an ASan library: the program must link the ASan runtime first.
sanflags=
[ -n "$SANARG" ] && sanflags="-fsanitize=address,undefined"
cc $sanflags -o "$WORK/pp" "$HARNESS_ROOT/client/examples/push_pull.c" $flags \
    -Wl,-rpath,"$DEST/usr/lib" >"$WORK/cc.log" 2>&1
check_eq "the example builds against the installed library with pkg-config" 0 "$?"
start_ckptd || bail "ckptd starts"
rand_file "$WORK/m.pt" 12345
"$WORK/pp" "$BASE" "$WORK/m.pt" "$WORK/out.pt" >/dev/null 2>&1
check_eq "and runs against the installed shared library" 0 "$?"
check "round-tripping the file" cmp -s "$WORK/m.pt" "$WORK/out.pt"

PYT=$(new_tmpdir)
if [ -n "$SANARG" ]; then
    # python3 cannot load an ASan-built libckpt without preloading the runtime
    skip "make install-python" "SKIPPED under the sanitizer build: its libckpt needs the ASan runtime preloaded"
elif /usr/bin/python3 -m pip --version >/dev/null 2>&1; then
    make -s -C "$HARNESS_ROOT" install-python PYTHON=/usr/bin/python3 PIP_FLAGS="--target $PYT -q" \
        >"$WORK/pyinstall.log" 2>&1
    check_eq "make install-python (offline pip) exits 0" 0 "$?"
    check "libckpt is installed beside the package" test -e "$PYT/ckpt/libckpt.so.0"
    out=$(cd / && env -u CKPT_LIB PYTHONPATH="$PYT" CKPT_URL="$BASE" /usr/bin/python3 -c '
import ckpt
c = ckpt.Client()
print(c.get(1).sha256 == c.push(b"installed", "py-install").sha256 or "ok", ckpt._native.lib._name)' 2>&1)
    check_match "the installed package loads its own libckpt and talks to ckptd" ".*$PYT/ckpt/libckpt.so.0.*" "$out"
else
    skip "make install-python" "SKIPPED: pip is not available for /usr/bin/python3"
fi
stop_ckptd
