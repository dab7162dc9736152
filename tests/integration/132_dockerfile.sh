#!/usr/bin/env bash
# deploy/Dockerfile without a container engine. What this proves: the build stage's RUN lines,
# run as a script in a copy of the build context (the repository minus .dockerignore), build and
# install ckptd, ckpt and libckpt into DESTDIR=/out; every shared library those binaries load
# comes from a package the runtime stage installs (directly needed ones from its own list,
# indirect ones from that list's Depends closure on this Debian 12 machine); the installed ckptd
# runs the image's first-run flow (refuses 0.0.0.0 with no token, starts with one, answers the
# HEALTHCHECK command); the Dockerfile passes a few lint rules (pinned base tags, non-root USER,
# HEALTHCHECK, no ADD of URLs, exec-form ENTRYPOINT). What it does not prove: that `docker build`
# succeeds (no engine here: base image pull, apt-get inside the image, COPY/USER/VOLUME
# semantics are untested), nor that the packages resolve in the debian:12-slim image of the day.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
DF=$HARNESS_ROOT/deploy/Dockerfile
[ -f "$DF" ] || bail "deploy/Dockerfile exists"

# Join continuation lines, drop comments: one instruction per line.
joined()
{
    sed -e '/^[[:space:]]*#/d' "$DF" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | sed -e 's/[[:space:]]\+/ /g'
}
joined >"$WORK/df"
stage_of()
{
    # stage_of NAME: the instructions of stage NAME (FROM ... AS NAME up to the next FROM).
    awk -v n="$1" 'toupper($1) == "FROM" { on = (tolower($NF) == n && toupper($(NF-1)) == "AS"); next } on' "$WORK/df"
}
stage_of build >"$WORK/build.df"
stage_of runtime >"$WORK/runtime.df"
last=$(awk 'toupper($1) == "FROM" { s = "" } { s = s $0 "\n" } END { printf "%s", s }' "$WORK/df")

# ---- lint
check_eq "two stages, named build and runtime" "build runtime" \
    "$(awk 'toupper($1) == "FROM" {print tolower($NF)}' "$WORK/df" | xargs)"
check "every FROM names a pinned tag (not latest, not untagged)" bash -c \
    "! awk 'toupper(\$1) == \"FROM\" {print \$2}' '$WORK/df' | grep -Ev '^[a-z0-9./-]+:[0-9][A-Za-z0-9._-]*(@sha256:[0-9a-f]{64})?\$'"
check "the base image is debian:12-slim" bash -c "awk 'toupper(\$1) == \"FROM\" {print \$2}' '$WORK/df' | grep -qx 'debian:12-slim'"
user=$(printf '%s' "$last" | awk 'toupper($1) == "USER" {u = $2} END {print u}')
check_match "the final stage runs as a non-root USER" 'ckptd' "$user"
check "no ADD of a URL (ADD at all)" bash -c "! grep -Eiq '^ADD ' '$WORK/df'"
check "HEALTHCHECK probes /healthz with curl" bash -c \
    "printf '%s' \"\$1\" | grep -Eq '^HEALTHCHECK .*CMD curl -fsS http://127.0.0.1:8420/healthz'" _ "$last"
check "EXPOSE 8420 and VOLUME /data in the final stage" bash -c \
    "printf '%s' \"\$1\" | grep -qx 'EXPOSE 8420' && printf '%s' \"\$1\" | grep -qx 'VOLUME /data'" _ "$last"
check "ENTRYPOINT is exec form" bash -c "printf '%s' \"\$1\" | grep -Eq '^ENTRYPOINT \[\"/usr/bin/ckptd\"\]'" _ "$last"
cmd=$(printf '%s' "$last" | awk '$1 == "CMD"' | sed -e 's/^CMD //' | tr -d '[],"')
check_eq "CMD listens on 0.0.0.0:8420 with the data in /data" "--listen 0.0.0.0:8420 --data /data" "$(echo $cmd)"
check "every apt-get install uses --no-install-recommends and cleans the lists" bash -c \
    "! grep 'apt-get install' '$WORK/df' | grep -v -- '--no-install-recommends' | grep -q . &&
     ! grep 'apt-get install' '$WORK/df' | grep -v 'rm -rf /var/lib/apt/lists' | grep -q ."
check ".dockerignore keeps build trees and .git out of the context" bash -c \
    "grep -qx build '$HARNESS_ROOT/.dockerignore' && grep -qx build-san '$HARNESS_ROOT/.dockerignore' && grep -qx .git '$HARNESS_ROOT/.dockerignore'"

# ---- the build stage, outside a container
CTX=$WORK/src
OUT=$WORK/out
mkdir -p "$CTX" "$OUT"
excl=()
while IFS= read -r p; do
    case $p in '' | '#'*) continue ;; esac
    # Docker matches a pattern from the context root; **/X anywhere.
    case $p in '**/'*) excl+=("--exclude=${p#\*\*/}") ;; *) excl+=("--exclude=./$p") ;; esac
done <"$HARNESS_ROOT/.dockerignore"
tar -C "$HARNESS_ROOT" "${excl[@]}" -cf - . | tar -C "$CTX" -xf -
check "the build context copy has no build tree" test ! -e "$CTX/build" -a ! -e "$CTX/build-san" -a -f "$CTX/Makefile"
n=0
while IFS= read -r line; do
    case $line in
    "" | " ") continue ;;
    "RUN "*) ;;
    "WORKDIR "* | "COPY "*) continue ;; # WORKDIR /src + COPY . /src: the copy above
    *)
        fail "build stage instruction the test knows how to run" "$line"
        continue
        ;;
    esac
    run=${line#RUN }
    n=$((n + 1))
    if printf '%s' "$run" | grep -q 'apt-get install'; then
        pkgs=$(printf '%s' "$run" | sed -e 's/.*--no-install-recommends//' -e 's/&&.*//')
        missing=
        for p in $pkgs; do
            dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing="$missing $p"
        done
        check_eq "the build stage's packages are installed here, so its apt-get line is not run" "" "$missing"
        continue
    fi
    run=${run//DESTDIR=\/out/DESTDIR=$OUT}
    # A container build inherits nothing from this make: not `make SAN=1 test`'s variables.
    (cd "$CTX" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SAN -u BUILD -u CFLAGS -u LDFLAGS \
        sh -c "nproc() { echo 2; }; set -e; $run") >"$WORK/run$n.log" 2>&1
    rc=$?
    check_eq "build stage RUN $n exits 0: ${run:0:60}" 0 "$rc"
    [ "$rc" = 0 ] || diag "$(tail -n 8 "$WORK/run$n.log")"
done <"$WORK/build.df"
for f in usr/bin/ckptd usr/bin/ckpt usr/lib/libckpt.so.0 usr/share/man/man8/ckptd.8 \
    usr/lib/systemd/system/ckptd.service; do
    check "the build stage installs /out/$f" test -e "$OUT/$f"
done

# ---- the runtime stage's packages cover the built binaries
rt_pkgs=$(grep 'apt-get install' "$WORK/runtime.df" | sed -e 's/.*--no-install-recommends//' -e 's/&&.*//' | xargs)
check_match "the runtime stage installs the libraries and curl" \
    '.*libmicrohttpd12.*libsqlite3-0.*libssl3.*libcurl4.*ca-certificates.*curl.*' "$rt_pkgs"
for p in $rt_pkgs; do
    apt-cache show "$p" >/dev/null 2>&1 || dpkg -s "$p" >/dev/null 2>&1 ||
        fail "runtime package $p is known to this Debian's apt"
done
# pkg_of FILE: the Debian package owning a library path (usrmerge: try with and without /usr).
pkg_of()
{
    local f=$1 alt
    alt=${f#/usr}
    [ "$alt" = "$f" ] && alt=/usr$f
    { dpkg -S "$f" 2>/dev/null || dpkg -S "$alt" 2>/dev/null || dpkg -S "*/$(basename "$f")" 2>/dev/null; } |
        head -n1 | cut -d: -f1
}
# closure PKG...: the packages and everything they Depend/Pre-Depend on, as installed here.
closure()
{
    local todo=("$@") seen=" " p deps d
    while [ "${#todo[@]}" -gt 0 ]; do
        p=${todo[0]}
        todo=("${todo[@]:1}")
        case $seen in *" $p "*) continue ;; esac
        seen="$seen$p "
        deps=$(dpkg-query -W -f='${Depends}, ${Pre-Depends}' "$p" 2>/dev/null | tr ',' '\n')
        while IFS= read -r d; do
            # Alternatives "a | b": the first one installed here.
            for alt in $(printf '%s' "$d" | tr '|' '\n' | sed -e 's/(.*)//' -e 's/:any//' | xargs); do
                if dpkg -s "$alt" >/dev/null 2>&1; then
                    todo+=("$alt")
                    break
                fi
            done
        done <<<"$deps"
    done
    echo "$seen"
}
allowed=$(closure $rt_pkgs)
bins=("$OUT/usr/bin/ckptd" "$OUT/usr/bin/ckpt" "$OUT/usr/lib/libckpt.so.0")
direct_bad= trans_bad= nlibs=0
for b in "${bins[@]}"; do
    [ -e "$b" ] || continue
    for lib in $(objdump -p "$b" 2>/dev/null | awk '$1 == "NEEDED" {print $2}'); do
        path=$(ldd "$b" | awk -v l="$lib" '$1 == l {print $3}')
        p=$(pkg_of "$path")
        case " $rt_pkgs libc6 " in *" ${p%%:*} "*) ;; *) direct_bad="$direct_bad $lib($p)" ;; esac
    done
    for path in $(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'); do
        nlibs=$((nlibs + 1))
        p=$(pkg_of "$path")
        case $allowed in *" ${p%%:*} "*) ;; *) trans_bad="$trans_bad $path($p)" ;; esac
    done
done
check "ldd resolved the built binaries' libraries ($nlibs)" test "$nlibs" -gt 10
check_eq "every directly needed library is from a runtime-stage package (or libc6)" "" "$direct_bad"
check_eq "every loaded library is from the runtime list's dependency closure" "" "$trans_bad"

# ---- the image's first run, with the binary the build stage installed
CKPTD=$OUT/usr/bin/ckptd
D=$(new_tmpdir)
"$CKPTD" --listen 0.0.0.0:0 --data "$D" >"$WORK/noauth.out" 2>&1
check_eq "the image's CMD (0.0.0.0) refuses to start with no token" 1 "$?"
check "and tells how to mint one" grep -q 'ckptd token add' "$WORK/noauth.out"
tok=$("$CKPTD" token add ops --role admin --data "$D" 2>/dev/null)
check_match "token add on the volume prints a token" '[0-9a-f]{16}\.[0-9a-f]{64}' "$tok"
CKPTD_LISTEN=0.0.0.0:0 start_ckptd_on "$D" || bail "the installed ckptd starts on 0.0.0.0 once a token exists"
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>"$WORK/hc.err"
check_eq "the HEALTHCHECK command succeeds against it" 0 "$?"
http GET /v1/runs
expect_status "and it enforces the token" 401
stop_ckptd
