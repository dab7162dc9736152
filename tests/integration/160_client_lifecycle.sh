#!/usr/bin/env bash
# The lifecycle commands of the ckpt CLI and libckpt (issue 5) against a real ckptd: pin/unpin,
# alias set/get/delete/list with --if-match / --create (a lost compare-and-swap exits 5 with a
# clear message), pull --alias and --resume (skipping a checkpoint whose blob was damaged on disk),
# policy set/get/delete/plan from flags, lease take/release, and watch (a checkpoint printed within
# 1 s of its upload, JSON lines, a daemon restart survived, a clean exit 0 on SIGINT), retries of
# 503s and of answers lost after the server acted, and which commands a read token may run.
# The library's view is tests/client/lifecycle.c (build/tests/client_lifecycle), run first.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/client.sh"
need_daemon_binary
need_cli
start_ckptd || bail "ckptd starts"

run_client lifecycle "$BASE" "$(new_tmpdir)"

C=$WORK/lc
mkdir -p "$C"
F1=$C/one.bin
F2=$C/two.bin
F3=$C/three.bin
rand_file "$F1" 3000
rand_file "$F2" 50000
rand_file "$F3" 200000

jout()
{
    jq -r "$1" <"$OUT" 2>/dev/null
}

# ---- help
run_ckpt --help
missing=
for word in 'policy set' 'policy get' 'policy plan' 'pin ID' 'unpin ID' 'alias set' 'alias list' \
    '--alias NAME' '--resume' '--if-match' '--create' 'lease ID' 'lease release' 'watch RUN' \
    '--keep-last' '--keep-best' '--keep-every' '--keep-within' '--ttl' '--after'; do
    grep -q -- "$word" "$OUT" || missing="$missing [$word]"
done
check_eq "--help mentions every lifecycle command and option" "" "$missing"
check "--help documents exit status 5 (precondition failed)" grep -q '^  5  precondition failed' "$OUT"

# ---- three checkpoints
run_ckpt --url "$BASE" push cl "$F1" --epoch 1 --loss 0.5
ID1=$(cli_id)
run_ckpt --url "$BASE" push cl "$F2" --epoch 2 --loss 0.2
ID2=$(cli_id)
run_ckpt --url "$BASE" push cl "$F3" --epoch 3 --loss 0.4
ID3=$(cli_id)
check "push three checkpoints to run cl" test -n "$ID1" -a -n "$ID2" -a -n "$ID3"

# ---- pin / unpin
run_ckpt --url "$BASE" pin "$ID1"
expect_rc "pin ID exits 0" 0
check_eq "  ... and says so" "pinned checkpoint $ID1 of run cl" "$(cat "$OUT")"
http GET "/v1/checkpoints/$ID1"
expect_json "  ... the server has it pinned" '.pinned == true'
run_ckpt --url "$BASE" --json unpin "$ID1"
expect_rc "unpin --json exits 0" 0
check_eq "  ... prints the checkpoint as JSON, with pinned false" "$ID1 false" "$(jout '"\(.id) \(.pinned)"')"
http GET "/v1/checkpoints/$ID1"
expect_json "  ... the server has it unpinned" '.pinned == false'
run_ckpt --url "$BASE" pin 987654321
expect_rc "pin of a missing checkpoint exits 2" 2
check "  ... naming checkpoint_not_found" grep -q 'checkpoint_not_found' "$ERR"
run_ckpt --url "$BASE" pin abc
expect_rc "pin of a non-id exits 1" 1
run_ckpt --url "$BASE" pin
expect_rc "pin without an id exits 1" 1

# ---- aliases
run_ckpt --url "$BASE" alias set cl production "$ID1" --create
expect_rc "alias set --create of a new alias exits 0" 0
check_eq "  ... and says it is new" "alias production of run cl -> checkpoint $ID1 (new)" "$(cat "$OUT")"
run_ckpt --url "$BASE" alias set cl production "$ID2" --create
expect_rc "alias set --create of an existing alias exits 5" 5
check "  ... saying it already exists" grep -q "alias 'production' of run cl already exists" "$ERR"
check "  ... with the server's code" grep -q 'precondition_failed' "$ERR"
run_ckpt --url "$BASE" alias set cl production "$ID2" --if-match "$ID1"
expect_rc "alias set --if-match CURRENT exits 0" 0
check_eq "  ... and says what it was" "alias production of run cl -> checkpoint $ID2 (was $ID1)" "$(cat "$OUT")"
run_ckpt --url "$BASE" alias set cl production "$ID3" --if-match "$ID1"
expect_rc "alias set with a stale --if-match exits 5 (distinct from 2, refused)" 5
check "  ... saying the alias moved and nothing changed" \
    grep -q "no longer points at $ID1 (--if-match): someone else moved it; nothing was changed" "$ERR"
run_ckpt --url "$BASE" --json alias get cl production
expect_rc "alias get --json exits 0" 0
check_eq "  ... the alias still points at the winner" "$ID2" "$(jout .id)"
run_ckpt --url "$BASE" alias get cl production
check "alias get prints the checkpoint like show" grep -q "^id: *$ID2\$" "$OUT"
run_ckpt --url "$BASE" --json alias set cl candidate "$ID3"
expect_rc "alias set without a condition, --json, exits 0" 0
check_eq "  ... prints run, name, id, previous" "cl candidate $ID3 null" \
    "$(jout '"\(.run) \(.name) \(.id) \(.previous)"')"
run_ckpt --url "$BASE" alias set cl x "$ID1" --if-match "$ID1" --create
expect_rc "--if-match with --create exits 1" 1
run_ckpt --url "$BASE" alias set cl latest "$ID1"
expect_rc "alias set of the computed alias latest exits 2" 2
check "  ... naming alias_reserved" grep -q 'alias_reserved' "$ERR"
run_ckpt --url "$BASE" alias set cl 'bad name' "$ID1"
expect_rc "alias set of an invalid name exits 1 (refused before any request)" 1
check "  ... naming invalid_alias_name" grep -q 'invalid_alias_name' "$ERR"
run_ckpt --url "$BASE" alias set cl prod2 987654321
expect_rc "alias set to a missing checkpoint exits 2" 2

run_ckpt --url "$BASE" --json alias list cl
expect_rc "alias list --json exits 0" 0
check_eq "  ... lists best, candidate, latest, production, resume in order" \
    "best candidate latest production resume" "$(jout '[.[].name] | join(" ")')"
check_eq "  ... best is computed, at the lowest loss" "true $ID2" "$(jout '.[] | select(.name == "best") | "\(.computed) \(.id)"')"
check_eq "  ... latest is computed, at the newest" "true $ID3" "$(jout '.[] | select(.name == "latest") | "\(.computed) \(.id)"')"
check_eq "  ... production is a user alias with an update time" "false $ID2 yes" \
    "$(jout '.[] | select(.name == "production") | "\(.computed) \(.id) \(if .updated_at then "yes" else "no" end)"')"
run_ckpt --url "$BASE" alias list cl
check "alias list (text) has a header and a production line" \
    grep -Eq "^production +$ID2 +user " "$OUT"
run_ckpt --url "$BASE" alias list nosuchrun
expect_rc "alias list of an unknown run exits 2" 2

# ---- pull --alias / --resume
D=$(new_tmpdir)
run_ckpt --url "$BASE" pull cl --alias production -o "$D/prod.bin"
expect_rc "pull --alias production exits 0" 0
check "  ... the file is the checkpoint it points at" cmp -s "$F2" "$D/prod.bin"
run_ckpt --url "$BASE" pull cl --alias best -o "$D/best.bin"
check "pull --alias best (computed) fetches the lowest loss" cmp -s "$F2" "$D/best.bin"
run_ckpt --url "$BASE" pull cl --alias nosuch -o "$D/none.bin"
expect_rc "pull --alias of a missing alias exits 2" 2
check "  ... naming alias_not_found" grep -q 'alias_not_found' "$ERR"
check "  ... and writes no file" test ! -e "$D/none.bin"
run_ckpt --url "$BASE" pull cl --alias production --resume
expect_rc "pull --alias with --resume exits 1" 1
(cd "$D" && "$CKPT_BIN" --url "$BASE" -q pull cl --resume >"$OUT" 2>"$ERR")
RC=$?
expect_rc "pull --resume (default file name) exits 0" 0
check "  ... writes cl-$ID3.ckpt, the newest checkpoint" cmp -s "$F3" "$D/cl-$ID3.ckpt"

# Damage the newest checkpoint's blob on disk (truncate it); the server flags it corrupt when it
# next tries to serve it, and resume must then skip to the previous good one.
SHA3=$(sha256_hex "$F3")
"$PYTHON" -c 'import os, sys; os.truncate(sys.argv[1], 1000)' "$(blob_path "$SHA3")"
run_ckpt --url "$BASE" --retries 0 pull "$ID3" -o "$D/bad.bin"
check_match "pull of the damaged checkpoint fails (exit 2 or 3)" '^[23]$' "$RC"
check "  ... the server now flags it corrupt" wait_for 5 eval \
    "curl -s '$BASE/v1/checkpoints/$ID3' | jq -e '.corrupt == true'"
run_ckpt --url "$BASE" --json pull cl --resume -o "$D/resume.bin"
expect_rc "pull --resume after the damage exits 0" 0
check_eq "  ... resumes from the previous checkpoint" "$ID2" "$(jout .id)"
check "  ... and the file is its bytes" cmp -s "$F2" "$D/resume.bin"
run_ckpt --url "$BASE" pull nosuchrun --resume -o "$D/r.bin"
expect_rc "pull --resume of an unknown run exits 2" 2

run_ckpt --url "$BASE" alias delete cl candidate --if-match "$ID1"
expect_rc "alias delete with a stale --if-match exits 5" 5
run_ckpt --url "$BASE" alias delete cl candidate --if-match "$ID3"
expect_rc "alias delete --if-match CURRENT exits 0" 0
run_ckpt --url "$BASE" alias delete cl candidate
expect_rc "alias delete of a deleted alias exits 2" 2
run_ckpt --url "$BASE" alias get cl candidate
expect_rc "alias get of a deleted alias exits 2" 2
run_ckpt --url "$BASE" alias frob cl
expect_rc "an unknown alias subcommand exits 1" 1

# ---- retries: 5xx answers are retried; an answer lost after the server acted is recognised
start_proxy "$PORT" --fail 2 --fail-status 503 --fail-code unavailable || bail "cutproxy starts"
run_ckpt --url "$PROXY" alias set cl retried "$ID2" --create
expect_rc "alias set --create through two 503 answers exits 0 (retried)" 0
check_eq "  ... the proxy saw 3 alias requests" 3 "$(grep -c '^req [0-9]* PUT /v1/runs/cl/aliases/retried' "$PROXY_LOG")"
stop_proxy
start_proxy "$PORT" --fail 9 --fail-status 503 --fail-code unavailable || bail "cutproxy starts"
run_ckpt --url "$PROXY" --retries 1 pin "$ID1"
expect_rc "pin through 503 answers with --retries 1 exits 4" 4
stop_proxy

# lossy.py: forwards each request on its own connection and answers with Connection: close, but
# for the first DROP PUT/DELETE requests it reads the server's whole answer and then closes the
# client's connection without sending it: the server acted, the client never heard.
cat >"$WORK/lossy.py" <<'PY'
import socket, sys, threading
up_port, drop, port_file = int(sys.argv[1]), [int(sys.argv[2])], sys.argv[3]
lock = threading.Lock()

def read_msg(sock, buf=b""):
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            return None, b"", b""
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v.strip())
    while len(rest) < n:
        d = sock.recv(65536)
        if not d:
            break
        rest += d
    return head, rest[:n], rest[n:]

def serve(c):
    try:
        head, body, _ = read_msg(c)
        if head is None:
            return
        u = socket.create_connection(("127.0.0.1", up_port))
        u.sendall(head + b"\r\n\r\n" + body)
        rhead, rbody, more = read_msg(u)
        while rhead is not None and rhead.split(b" ", 2)[1].startswith(b"1"):
            rhead, rbody, more = read_msg(u, more)  # skip "100 Continue"
        u.close()
        method = head.split(b" ", 1)[0]
        with lock:
            lose = method in (b"PUT", b"DELETE") and drop[0] > 0
            if lose:
                drop[0] -= 1
        if lose or rhead is None:
            return
        lines = [l for l in rhead.split(b"\r\n") if not l.lower().startswith(b"connection:")]
        c.sendall(b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n" + rbody)
    finally:
        c.close()

s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(port_file + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
import os
os.rename(port_file + ".tmp", port_file)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
# start_lossy DROP: start lossy.py in front of the daemon; sets LOSSY (URL) and LOSSY_PID.
start_lossy()
{
    local pf=$WORK/lossy.$1.$RANDOM.port i
    "$PYTHON" "$WORK/lossy.py" "$PORT" "$1" "$pf" 2>"$WORK/lossy.err" &
    LOSSY_PID=$!
    for i in $(seq 1 50); do
        [ -s "$pf" ] && break
        sleep 0.1
    done
    LOSSY=http://127.0.0.1:$(cat "$pf" 2>/dev/null)
}
stop_lossy()
{
    safe_kill TERM "$LOSSY_PID"
    wait "$LOSSY_PID" 2>/dev/null
}
start_lossy 1
run_ckpt --url "$LOSSY" alias set cl lost "$ID2" --create
expect_rc "alias set --create whose answer was lost: the retry's 412 is recognised as our own change, exit 0" 0
http GET /v1/runs/cl/aliases/lost
expect_json "  ... and the alias points at the id" ".id == $ID2"
stop_lossy
start_lossy 1
run_ckpt --url "$LOSSY" alias set cl lost "$ID1" --if-match "$ID2"
expect_rc "alias set --if-match whose answer was lost: exit 0" 0
check_eq "  ... reporting the id it replaced" "alias lost of run cl -> checkpoint $ID1 (was $ID2)" "$(cat "$OUT")"
stop_lossy
start_lossy 1
run_ckpt --url "$LOSSY" alias set cl lost "$ID2" --if-match "$ID2"
expect_rc "a stale --if-match whose 412 was lost is still exit 5 (the alias is not ours)" 5
stop_lossy
start_lossy 1
run_ckpt --url "$LOSSY" alias delete cl lost
expect_rc "alias delete whose answer was lost: the retry's 404 counts as done, exit 0" 0
http GET /v1/runs/cl/aliases/lost
expect_status "  ... and the alias is gone" 404
stop_lossy

# ---- retention policy
for i in 1 2 3 4 5; do
    rand_file "$C/p$i.bin" 1000
    run_ckpt --url "$BASE" push pol "$C/p$i.bin" --epoch "$i" --loss "0.$((6 - i))"
    eval "P$i=\$(cli_id)"
done
run_ckpt --url "$BASE" --json policy get pol
expect_rc "policy get of a run without a policy exits 0" 0
check_eq "  ... policy null, source none" "null none" "$(jout '"\(.policy) \(.source)"')"
run_ckpt --url "$BASE" policy get pol
check "  ... (text) says everything is kept" grep -q 'no retention policy' "$OUT"
run_ckpt --url "$BASE" policy set pol --keep-last 100 --keep-best loss:min:3 --keep-best acc:max:1 \
    --keep-every epoch:10 --keep-within 48h
expect_rc "policy set with every kind of flag exits 0" 0
check "  ... and says it dropped nothing" grep -q '^policy of run pol set; dropped 0 checkpoints$' "$OUT"
run_ckpt --url "$BASE" --json policy get pol
check_eq "policy get --json gives back the rules" \
    '{"keep_last":100,"keep_best":[{"metric":"loss","mode":"min","k":3},{"metric":"acc","mode":"max","k":1}],"keep_every":{"field":"epoch","n":10},"keep_within":"48h"} run' \
    "$(jout '"\(.policy | tojson) \(.source)"')"
run_ckpt --url "$BASE" policy get pol
check "policy get (text) lists keep-best loss:min:3" grep -q '^keep-best: *loss:min:3$' "$OUT"
run_ckpt --url "$BASE" pin "$P1"
run_ckpt --url "$BASE" --json policy set pol --keep-last 1
expect_rc "policy set --keep-last 1 --json exits 0" 0
check_eq "  ... drops the unpinned, unaliased older checkpoints" "$P2 $P3 $P4" "$(jout '.dropped | sort | map(tostring) | join(" ")')"
run_ckpt --url "$BASE" --json policy plan pol
expect_rc "policy plan --json exits 0" 0
check_eq "  ... lists the two left, both kept" "$P1:keep $P5:keep" \
    "$(jout '[.checkpoints[] | "\(.id):\(.action)"] | join(" ")')"
check "  ... the pinned one for 'pinned'" test "$(jout ".checkpoints[] | select(.id == $P1) | .reasons | index(\"pinned\") != null")" = true
run_ckpt --url "$BASE" policy plan pol
check "policy plan (text) shows a keep line for the pinned one" grep -Eq "^ *$P1 +keep +.*pinned" "$OUT"
run_ckpt --url "$BASE" policy set pol
expect_rc "policy set without a rule exits 1" 1
run_ckpt --url "$BASE" policy set pol --keep-best loss:avg:3
expect_rc "policy set --keep-best with a bad mode exits 1" 1
run_ckpt --url "$BASE" policy set pol --keep-every month:2
expect_rc "policy set --keep-every month:2 exits 1" 1
run_ckpt --url "$BASE" policy set pol --keep-within 2weeks
expect_rc "policy set --keep-within 2weeks exits 1 (refused before any request)" 1
check "  ... naming invalid_policy" grep -q 'invalid_policy' "$ERR"
run_ckpt --url "$BASE" policy set pol --keep-last 0
expect_rc "policy set --keep-last 0 exits 1" 1
run_ckpt --url "$BASE" policy delete pol
expect_rc "policy delete exits 0" 0
run_ckpt --url "$BASE" policy delete pol
expect_rc "policy delete of a run without a policy exits 2" 2
check "  ... naming policy_not_found" grep -q 'policy_not_found' "$ERR"
run_ckpt --url "$BASE" policy frob pol
expect_rc "an unknown policy subcommand exits 1" 1

# ---- leases
run_ckpt --url "$BASE" --json lease "$ID1" --ttl 30
expect_rc "lease ID --ttl 30 --json exits 0" 0
LEASE=$(jout .lease)
check_match "  ... gives a 32-hex-digit lease" '^[0-9a-f]{32}$' "$LEASE"
check_eq "  ... on that checkpoint" "$ID1" "$(jout .id)"
run_ckpt --url "$BASE" lease release "$LEASE"
expect_rc "lease release exits 0" 0
run_ckpt --url "$BASE" lease release "$LEASE"
expect_rc "lease release of a released lease exits 2" 2
run_ckpt --url "$BASE" -q lease "$ID1"
expect_rc "lease -q exits 0" 0
check_match "  ... prints only the lease id" '^[0-9a-f]{32}$' "$(cat "$OUT")"
run_ckpt --url "$BASE" lease "$ID1" --ttl 0
expect_rc "lease --ttl 0 exits 1" 1
run_ckpt --url "$BASE" lease 987654321
expect_rc "lease of a missing checkpoint exits 2" 2

# ---- watch
WOUT=$WORK/watch.out
WERR=$WORK/watch.err
# wait_line FILE PATTERN SECONDS: poll every 20 ms; prints the seconds it took, fails on timeout.
wait_line()
{
    "$PYTHON" - "$@" <<'EOF'
import re, sys, time
path, pat, limit = sys.argv[1], re.compile(sys.argv[2]), float(sys.argv[3])
t0 = time.monotonic()
while time.monotonic() - t0 < limit:
    try:
        with open(path) as f:
            if any(pat.search(l) for l in f):
                print("%.3f" % (time.monotonic() - t0))
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.02)
print("timeout")
sys.exit(1)
EOF
}

# The binary itself in the background (not the ckpt shell function, which would put a subshell
# between this script and the process the signals are meant for).
# shellcheck disable=SC2086 # the wrapper is a command line
${CKPT_WRAPPER:-} "$CKPT_BIN" --url "$BASE" --json watch wr >"$WOUT" 2>"$WERR" &
WPID=$!
sleep 0.5
check "watch of a run that does not exist yet keeps running" is_alive "$WPID"
run_ckpt --url "$BASE" -q push wr "$F1" --epoch 7
run_ckpt --url "$BASE" push wr "$F2" --epoch 8
W1=$(cli_id)
took=$(wait_line "$WOUT" "\"id\":$W1," 5)
diag "watch printed checkpoint $W1 ${took}s after its push returned"
check "watch --json prints a pushed checkpoint within 1 s of its upload (${took}s)" \
    awk -v t="$took" 'BEGIN { exit !(t != "timeout" && t < 1.0) }'
check_eq "  ... one JSON line per checkpoint, in order (epochs 7 8)" "7 8" \
    "$(jq -r '.epoch' <"$WOUT" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
t0=$(date +%s.%N)
safe_kill INT "$WPID"
wait_exit "$WPID" 5
t1=$(date +%s.%N)
check_eq "watch exits 0 on SIGINT" "0 0" "$EXIT_RC $TIMED_OUT"
check "  ... within 1.5 s ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s)" \
    awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 1.5) }'
check_eq "  ... with nothing on stderr" "" "$(cat "$WERR")"

# Text lines, from the beginning, and a daemon restart in the middle.
# shellcheck disable=SC2086
${CKPT_WRAPPER:-} "$CKPT_BIN" --url "$BASE" --retries 20 watch wr --after 0 >"$WOUT" 2>"$WERR" &
WPID=$!
check "watch --after 0 prints the existing checkpoints as text lines" \
    wait_for 3 grep -q "^$W1 run=wr epoch=8 " "$WOUT"
check "  ... ID then field=value pairs: run epoch step loss size (bytes) created (UTC) sha256" \
    grep -Eq "^$W1 run=wr epoch=8 step=- loss=- size=50000 created=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z sha256=$(sha256_hex "$F2")\$" "$WOUT"
stop_ckptd "ckptd stops while a watch waits"
CKPTD_LISTEN=127.0.0.1:$PORT start_ckptd_on "$DATA" || bail "ckptd restarts on the same port"
run_ckpt --url "$BASE" push wr "$F3" --epoch 9
W3=$(cli_id)
check "  ... after the daemon restarted, the watch prints the next checkpoint (retried)" \
    wait_for 10 grep -q "^$W3 run=wr epoch=9 " "$WOUT"
check "  ... and is still running" is_alive "$WPID"
safe_kill TERM "$WPID"
wait_exit "$WPID" 5
check_eq "watch exits 0 on SIGTERM too" 0 "$EXIT_RC"

run_ckpt --url "$BASE" watch 'bad/run'
expect_rc "watch of an invalid run name exits 1" 1
run_ckpt --url "$BASE" watch wr --after -5
expect_rc "watch --after -5 exits 1" 1
run_ckpt --url "http://127.0.0.1:1" --retries 0 watch wr
expect_rc "watch of an unreachable server exits 4 after its retries" 4

check "ckptd still running after the lifecycle tests" is_alive "$CKPTD_PID"
stop_ckptd

# ---- roles: a read token may watch, resume, read aliases and take leases, not change anything
AD=$(new_tmpdir)
T_READ=$("$CKPTD" token add lcread --role read --data "$AD" 2>/dev/null)
T_WRITE=$("$CKPTD" token add lcwrite --role write --data "$AD" 2>/dev/null)
start_ckptd_on "$AD" || bail "ckptd starts with tokens"
run_ckpt --url "$BASE" --token "$T_WRITE" push au "$F1"
AID=$(cli_id)
run_ckpt --url "$BASE" --token "$T_WRITE" alias set au prod "$AID"
expect_rc "with a write token: alias set exits 0" 0
run_ckpt --url "$BASE" --token "$T_READ" alias set au prod "$AID"
expect_rc "with a read token: alias set exits 2 (not authorized)" 2
run_ckpt --url "$BASE" --token "$T_READ" pin "$AID"
expect_rc "with a read token: pin exits 2" 2
run_ckpt --url "$BASE" --token "$T_READ" policy set au --keep-last 1
expect_rc "with a read token: policy set exits 2" 2
run_ckpt --url "$BASE" --token "$T_READ" --json alias get au prod
expect_rc "with a read token: alias get exits 0" 0
run_ckpt --url "$BASE" --token "$T_READ" -q lease "$AID"
expect_rc "with a read token: lease exits 0 (readers take leases)" 0
run_ckpt --url "$BASE" --token "$T_READ" -q pull au --resume -o "$AD/r.bin"
expect_rc "with a read token: pull --resume exits 0" 0
run_ckpt --url "$BASE" watch au --after 0
expect_rc "without a token: watch exits 2 (not authorized), not retried forever" 2
${CKPT_WRAPPER:-} "$CKPT_BIN" --url "$BASE" --token "$T_READ" watch au --after 0 >"$WOUT" 2>"$WERR" &
WPID=$!
check "with a read token: watch --after 0 prints the run's checkpoint" \
    wait_for 3 grep -q "^$AID run=au " "$WOUT"
safe_kill INT "$WPID"
wait_exit "$WPID" 5
check_eq "  ... and exits 0 on SIGINT" 0 "$EXIT_RC"
stop_ckptd
