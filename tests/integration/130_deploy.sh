#!/usr/bin/env bash
# `make install` lays out the daemon's deployment files (man page ckptd.8, systemd unit, docs)
# under DESTDIR/PREFIX; the man pages render without warnings; the installed unit carries the
# hardening directives, runs the installed binary, and passes `systemd-analyze verify` (offline:
# no systemd needs to run; the check is skipped when systemd-analyze is not installed).
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
BUILD_DIR=${BUILD_DIR:-$HARNESS_ROOT/build}
case $BUILD_DIR in *build-san*) SANARG=SAN=1 ;; *) SANARG= ;; esac
DEST=$(new_tmpdir)
make -s -C "$HARNESS_ROOT" $SANARG install DESTDIR="$DEST" PREFIX=/usr >"$WORK/install.log" 2>&1
check_eq "make install DESTDIR=... PREFIX=/usr exits 0" 0 "$?"
for f in usr/bin/ckpt usr/bin/ckptd usr/include/ckpt.h usr/lib/libckpt.a usr/lib/libckpt.so \
    usr/lib/libckpt.so.0 usr/lib/pkgconfig/ckpt.pc usr/share/man/man1/ckpt.1 \
    usr/share/man/man8/ckptd.8 usr/lib/systemd/system/ckptd.service usr/share/doc/ckpt/backup.md; do
    check "installed /$f" test -e "$DEST/$f"
done
if [ -f "$HARNESS_ROOT/deploy/ckptd.conf.example" ]; then
    check "installed /usr/share/doc/ckpt/ckptd.conf.example" cmp -s "$HARNESS_ROOT/deploy/ckptd.conf.example" \
        "$DEST/usr/share/doc/ckpt/ckptd.conf.example"
else
    skip "installed ckptd.conf.example" "deploy/ckptd.conf.example is not in this tree yet"
fi
check "nothing is installed under /etc" test ! -e "$DEST/etc"
modes=$(cd "$DEST" && stat -c '%a %n' usr/share/man/man8/ckptd.8 usr/lib/systemd/system/ckptd.service \
    usr/share/doc/ckpt/backup.md usr/bin/ckptd | xargs)
check_eq "file modes" "644 usr/share/man/man8/ckptd.8 644 usr/lib/systemd/system/ckptd.service 644 usr/share/doc/ckpt/backup.md 755 usr/bin/ckptd" "$modes"

# ---- man pages
for m in usr/share/man/man1/ckpt.1 usr/share/man/man8/ckptd.8; do
    out=$(MANWIDTH=80 man --warnings -l "$DEST/$m" 2>&1 >/dev/null)
    check_eq "man --warnings -l $(basename "$m") renders without warnings" "" "$out"
    out=$(groff -man -ww -z "$DEST/$m" 2>&1)
    check_eq "groff -man -ww -z $(basename "$m") has no warnings" "" "$out"
done
page=$(MANWIDTH=200 man -l "$DEST/usr/share/man/man8/ckptd.8" 2>/dev/null)
missing=
for o in $("$CKPTD" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    printf '%s' "$page" | grep -qF -- "$o" || missing="$missing $o"
done
check_eq "ckptd.8 documents every option of ckptd --help" "" "$missing"
for s in "SIGTERM" "SIGHUP" "token add" "token list" "token revoke" "backup" "fsck" "EXIT STATUS" "FILES"; do
    printf '%s' "$page" | grep -qF -- "$s" || missing="$missing '$s'"
done
check_eq "ckptd.8 covers the subcommands, signals, exit status and files" "" "$missing"

# ---- the unit
UNIT=$DEST/usr/lib/systemd/system/ckptd.service
check_eq "the installed unit runs the installed ckptd with the config file" \
    "ExecStart=/usr/bin/ckptd --config /etc/ckpt/ckptd.conf" "$(grep '^ExecStart=' "$UNIT")"
missing=
for d in 'Type=simple' 'User=ckptd' 'Group=ckptd' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
    'ReadWritePaths=/var/lib/ckptd' 'StateDirectory=ckptd' 'PrivateTmp=yes' 'ProtectHome=yes' \
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'LimitNOFILE=65536' 'Restart=on-failure' \
    'ExecReload=/bin/kill -HUP $MAINPID' 'KillSignal=SIGTERM' 'PrivateDevices=yes' \
    'ProtectKernelTunables=yes' 'ProtectKernelModules=yes' 'ProtectControlGroups=yes' \
    'SystemCallFilter=@system-service' 'CapabilityBoundingSet=' 'WantedBy=multi-user.target'; do
    grep -qxF -- "$d" "$UNIT" || missing="$missing [$d]"
done
check_eq "the unit has every hardening directive" "" "$missing"
check "the unit does not use DynamicUser" bash -c "! grep -q '^DynamicUser=yes' '$UNIT'"
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$UNIT")
grace=$("$CKPTD" --help | tr '\n' ' ' | grep -oE 'in flight [0-9]+ seconds' | grep -oE '[0-9]+')
check "TimeoutStopSec ($stop) exceeds the shutdown grace (${grace:-10} s)" test "${stop:-0}" -gt "${grace:-10}"
check "the unit says why it is Type=simple (no sd_notify)" grep -qi 'sd_notify' "$UNIT"
if command -v systemd-analyze >/dev/null 2>&1; then
    # Offline: verify the installed unit with ExecStart pointing into DESTDIR (verify checks the
    # binary is executable) and man(1) looking there for Documentation=man:ckptd(8).
    sed -e "s|^ExecStart=/usr/bin/ckptd|ExecStart=$DEST/usr/bin/ckptd|" "$UNIT" >"$WORK/ckptd.service"
    out=$(MANPATH=$DEST/usr/share/man SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$WORK/ckptd.service" 2>&1)
    rc=$?
    # verify exits 0 on unknown keys or bad values: any output is a failure too.
    check_eq "systemd-analyze verify passes with no message" "0 " "$rc $out"
    printf 'Bogus=1\n' >>"$WORK/ckptd.service"
    out=$(MANPATH=$DEST/usr/share/man systemd-analyze verify "$WORK/ckptd.service" 2>&1)
    check_match "and the same check catches a bad line" ".*Unknown key.*Bogus.*" "$out"
    sed -i '$d' "$WORK/ckptd.service"
    score=$(systemd-analyze security --offline=yes "$WORK/ckptd.service" 2>/dev/null |
        sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
    if [ -n "$score" ]; then
        check "systemd-analyze security rates the unit below 2.0 (got $score)" \
            awk -v s="$score" 'BEGIN { exit !(s < 2.0) }'
    else
        skip "systemd-analyze security --offline" "this systemd-analyze has no --offline"
    fi
else
    skip "systemd-analyze verify" "systemd-analyze not installed (Debian package systemd)"
fi

# ---- other layouts
DEST2=$(new_tmpdir)
make -s -C "$HARNESS_ROOT" $SANARG install DESTDIR="$DEST2" >"$WORK/install2.log" 2>&1
check_eq "default PREFIX=/usr/local: the unit goes to /usr/local/lib/systemd/system and runs /usr/local/bin/ckptd" \
    "ExecStart=/usr/local/bin/ckptd --config /etc/ckpt/ckptd.conf" \
    "$(grep '^ExecStart=' "$DEST2/usr/local/lib/systemd/system/ckptd.service" 2>&1)"
DEST3=$(new_tmpdir)
make -s -C "$HARNESS_ROOT" $SANARG install DESTDIR="$DEST3" PREFIX=/usr SYSTEMD_UNITDIR=/lib/systemd/system \
    >"$WORK/install3.log" 2>&1
check "SYSTEMD_UNITDIR=/lib/systemd/system is honoured" test -f "$DEST3/lib/systemd/system/ckptd.service"
