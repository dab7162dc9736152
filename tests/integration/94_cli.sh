#!/usr/bin/env bash
# The ckpt command line against a real ckptd: every command and option of `ckpt --help`
# (push, pull, ls, runs, show, rm; --url/CKPT_URL, --token/CKPT_TOKEN, --cacert, --json, -q,
# --retries, --help, --version), its output formats (JSON parsed by jq), the default output
# file name, bad values, and the exit statuses 0 (ok), 1 (usage), 2 (refused), 4 (network).
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/client.sh"
need_daemon_binary
need_cli
start_ckptd || bail "ckptd starts"

C=$WORK/cli
mkdir -p "$C"
F1=$C/one.bin
F2=$C/two.bin
F3=$C/three.bin
rand_file "$F1" 3000
rand_file "$F2" 70000
rand_file "$F3" 3000000

# jout FILTER: jq -r FILTER on the last command's stdout.
jout()
{
    jq -r "$1" <"$OUT" 2>/dev/null
}

# ---- help and version
run_ckpt --help
expect_rc "--help exits 0" 0
check "--help prints the usage on stdout" grep -q '^usage: ckpt ' "$OUT"
missing=
for word in push pull ls runs show rm --url --token --cacert --json --quiet --retries --version; do
    grep -q -- "$word" "$OUT" || missing="$missing $word"
done
check_eq "--help mentions every command and global option" "" "$missing"
check "--help prints the exit statuses" grep -q 'exit status' "$OUT"
run_ckpt -h
expect_rc "-h exits 0" 0
run_ckpt push -h
expect_rc "-h after a command exits 0 (global options anywhere)" 0
check "  ... and prints the usage" grep -q '^usage: ckpt ' "$OUT"
run_ckpt --version
expect_rc "--version exits 0" 0
check_match "--version prints 'ckpt X.Y.Z'" 'ckpt [0-9]+\.[0-9]+\.[0-9]+' "$(cat "$OUT")"
run_ckpt -V
expect_rc "-V exits 0" 0

# ---- usage errors: exit 1, a message on stderr, nothing on stdout
run_ckpt
expect_rc "no command exits 1" 1
check "  ... with a message on stderr" grep -q '^ckpt: ' "$ERR"
run_ckpt --url "$BASE" frobnicate
expect_rc "an unknown command exits 1" 1
check "  ... naming it" grep -q "frobnicate" "$ERR"
run_ckpt --bogus --url "$BASE" runs
expect_rc "an unknown global option exits 1" 1
run_ckpt --url "$BASE" push r "$F1" --bogus
expect_rc "an unknown push option exits 1" 1
run_ckpt --url "$BASE" pull 1 --bogus
expect_rc "an unknown pull option exits 1" 1
run_ckpt --url "$BASE" ls r --bogus
expect_rc "an unknown ls option exits 1" 1
run_ckpt --url "$BASE" runs extra
expect_rc "runs with an argument exits 1" 1
run_ckpt --url "ftp://127.0.0.1:1" runs
expect_rc "--url with a scheme other than http(s) exits 1" 1
check "  ... saying the URL is invalid" grep -qi 'url' "$ERR"
run_ckpt --url
expect_rc "--url without a value exits 1" 1

# ---- push
run_ckpt --url "$BASE" push cli "$F1" --epoch 2 --step 20 --loss 0.5 --metric acc=0.9 --metric f1=0.25
expect_rc "push FILE with --epoch --step --loss and two --metric exits 0" 0
check_match "  ... and prints 'pushed checkpoint N of run cli (...)'" 'pushed checkpoint [0-9]+ of run cli \(.*sha256 [0-9a-f]{12}\)' "$(cat "$OUT")"
ID1=$(cli_id)
run_ckpt --url "$BASE" --json show "$ID1"
expect_rc "show --json of the pushed checkpoint exits 0" 0
check_eq "  ... id" "$ID1" "$(jout .id)"
check_eq "  ... run" cli "$(jout .run)"
check_eq "  ... epoch 2" 2 "$(jout .epoch)"
check_eq "  ... step 20" 20 "$(jout .step)"
check_eq "  ... loss 0.5" 0.5 "$(jout .loss)"
check_eq "  ... metrics acc=0.9, f1=0.25" '0.9 0.25' "$(jout '"\(.metrics.acc) \(.metrics.f1)"')"
check_eq "  ... size" 3000 "$(jout .size)"
check_eq "  ... sha256 is sha256sum of the file" "$(sha256_hex "$F1")" "$(jout .sha256)"
check_match "  ... created_at" '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z' "$(jout .created_at)"

run_ckpt --url "$BASE" --json push cli "$F2" --epoch 3 --loss 0.25 --metric acc=0.95
expect_rc "push --json exits 0" 0
check "  ... and prints the checkpoint as JSON" jq -e '.id > 0 and .run == "cli" and .epoch == 3 and .step == null and .metrics.acc == 0.95 and .size == 70000' "$OUT"
ID2=$(jout .id)

run_ckpt --url "$BASE" -q push cli "$F3" --epoch 1 --loss 0.75 --metric acc=0.5
expect_rc "push -q exits 0" 0
check_eq "  ... and prints nothing" "" "$(cat "$OUT" "$ERR")"
ID3=$(curl -s "$BASE/v1/runs/cli/latest" | jq -r .id)

run_ckpt --url "$BASE" push cli - --step 7 <"$F2"
expect_rc "push RUN - reads standard input" 0
ID4=$(cli_id)
check_eq "  ... and stores its bytes" "$(sha256_hex "$F2")" "$(curl -s "$BASE/v1/checkpoints/$ID4" | jq -r .sha256)"

rows=$(run_count cli)
for bad in "--epoch -1" "--epoch abc" "--epoch 1.5" "--epoch=" "--step x" "--step -3" "--loss nan" \
    "--loss inf" "--loss abc" "--loss 1e400" "--metric noequals" "--metric =1" "--metric acc=abc" \
    "--metric acc=inf" "--metric acc=" "--metric bad/name=1"; do
    # shellcheck disable=SC2086
    run_ckpt --url "$BASE" push cli "$F1" $bad
    expect_rc "push $bad exits 1" 1
done
run_ckpt --url "$BASE" push cli
expect_rc "push without FILE exits 1" 1
run_ckpt --url "$BASE" push cli "$F1" extra
expect_rc "push with an extra argument exits 1" 1
run_ckpt --url "$BASE" push cli "$C/does-not-exist"
expect_rc "push of a missing file exits 1" 1
check "  ... naming the file" grep -q 'does-not-exist' "$ERR"
run_ckpt --url "$BASE" push "bad/run" "$F1"
expect_rc "push to an invalid run name exits 1" 1
margs=()
for i in $(seq 1 65); do margs+=(--metric "m$i=$i"); done
run_ckpt --url "$BASE" push cli "$F1" "${margs[@]}"
expect_rc "push with 65 metrics exits 1" 1
check_eq "no refused push stored anything" "$rows" "$(run_count cli)"
: >"$C/empty.bin"
run_ckpt --url "$BASE" push cli "$C/empty.bin"
expect_rc "push of an empty file exits 2 (the server refuses empty_body)" 2
check "  ... and reports the server's code" grep -q 'empty_body' "$ERR"

# ---- show (human)
run_ckpt --url "$BASE" show "$ID1"
expect_rc "show ID exits 0" 0
check_match "  ... id line" "id: +$ID1" "$(grep '^id:' "$OUT")"
check_match "  ... run line" 'run: +cli' "$(grep '^run:' "$OUT")"
check_match "  ... epoch line" 'epoch: +2' "$(grep '^epoch:' "$OUT")"
check_match "  ... step line" 'step: +20' "$(grep '^step:' "$OUT")"
check_match "  ... loss line" 'loss: +0\.5' "$(grep '^loss:' "$OUT")"
check_match "  ... metric lines" 'acc: +0\.9' "$(grep '^acc:' "$OUT")"
check_match "  ... size line with the exact bytes" 'size: +.*\(3000 bytes\)' "$(grep '^size:' "$OUT")"
check_match "  ... full sha256" "sha256: +$(sha256_hex "$F1")" "$(grep '^sha256:' "$OUT")"
check "  ... created line" grep -q '^created: ' "$OUT"
run_ckpt --url "$BASE" show "$ID4"
check_eq "show of a checkpoint without epoch or loss prints no epoch or loss line" "" "$(grep -E '^(epoch|loss):' "$OUT")"
run_ckpt --url "$BASE" show 999999
expect_rc "show of an unknown id exits 2" 2
check_match "  ... 'ckpt: show failed: checkpoint_not_found: ...'" 'ckpt: show failed: checkpoint_not_found: .+' "$(head -n 1 "$ERR")"
for bad in abc 0 -1 1.5; do
    run_ckpt --url "$BASE" show -- "$bad"
    expect_rc "show '$bad' exits 1" 1
done
run_ckpt --url "$BASE" show
expect_rc "show without ID exits 1" 1
run_ckpt --url "$BASE" show "$ID1" --json
expect_rc "--json after the command works" 0
check_eq "  ... and prints JSON" "$ID1" "$(jout .id)"

# ---- pull
D=$(new_tmpdir)
run_ckpt --url "$BASE" pull "$ID3" -o "$D/x.bin"
expect_rc "pull ID -o FILE exits 0" 0
check "  ... the file is identical" cmp -s "$F3" "$D/x.bin"
check_match "  ... stderr says 'pulled checkpoint ID of run cli to FILE (..., sha256 verified)'" \
    "pulled checkpoint $ID3 of run cli to $D/x.bin \(.*sha256 verified\)" "$(cat "$ERR")"
check_eq "  ... stdout is empty" "" "$(cat "$OUT")"
run_ckpt --url "$BASE" pull "$ID2" --output "$D/x.bin"
expect_rc "pull --output FILE over an existing file exits 0" 0
check "  ... and replaces it" cmp -s "$F2" "$D/x.bin"
cd "$D" || bail "cd $D"
run_ckpt --url "$BASE" pull "$ID1"
expect_rc "pull ID without -o exits 0" 0
check "  ... and writes RUN-ID.ckpt (cli-$ID1.ckpt) in the current directory" cmp -s "$F1" "cli-$ID1.ckpt"
run_ckpt --url "$BASE" pull cli --latest
expect_rc "pull RUN --latest without -o exits 0" 0
check "  ... and writes cli-$ID4.ckpt" cmp -s "$F2" "cli-$ID4.ckpt"
cd - >/dev/null || bail "cd back"
check_eq "no temporary file is left in the directory" "cli-$ID1.ckpt cli-$ID4.ckpt x.bin" "$(ls -A "$D" | tr '\n' ' ' | sed 's/ $//')"
run_ckpt --url "$BASE" pull "$ID3" -o -
expect_rc "pull -o - exits 0" 0
check "  ... standard output is the checkpoint" cmp -s "$F3" "$OUT"
check_eq "  ... no 'pulled' message (stdout is the data)" "" "$(grep pulled "$ERR")"
run_ckpt --url "$BASE" --json pull "$ID1" -o "$D/j.bin"
expect_rc "pull --json exits 0" 0
check_eq "  ... and prints the checkpoint as JSON" "$(sha256_hex "$F1")" "$(jout .sha256)"

# best and latest (losses: ID1 0.5, ID2 0.25, ID3 0.75; acc: 0.9, 0.95, 0.5)
run_ckpt --url "$BASE" pull cli --best -o "$D/b.bin"
expect_rc "pull RUN --best exits 0" 0
check "  ... gets the lowest loss (checkpoint $ID2)" cmp -s "$F2" "$D/b.bin"
run_ckpt --url "$BASE" pull cli --best --max -o "$D/b.bin"
check "pull RUN --best --max gets the highest loss (checkpoint $ID3)" cmp -s "$F3" "$D/b.bin"
run_ckpt --url "$BASE" pull cli --best --min -o "$D/b.bin"
check "pull RUN --best --min gets the lowest loss" cmp -s "$F2" "$D/b.bin"
run_ckpt --url "$BASE" pull cli --best --metric acc --max -o "$D/b.bin"
expect_rc "pull RUN --best --metric acc --max exits 0" 0
check "  ... gets the highest acc (checkpoint $ID2)" cmp -s "$F2" "$D/b.bin"
run_ckpt --url "$BASE" pull cli --best --metric acc -o "$D/b.bin"
check "pull RUN --best --metric acc gets the lowest acc (checkpoint $ID3)" cmp -s "$F3" "$D/b.bin"
run_ckpt --url "$BASE" pull cli --latest -o "$D/l.bin"
check "pull RUN --latest gets the last push (checkpoint $ID4)" cmp -s "$F2" "$D/l.bin"
run_ckpt --url "$BASE" pull cli --best --metric nosuch -o "$D/n.bin"
expect_rc "pull --best by a metric nobody has exits 2" 2
check "  ... and creates no file" test ! -e "$D/n.bin"

run_ckpt --url "$BASE" pull 999999 -o "$D/n.bin"
expect_rc "pull of an unknown id exits 2" 2
check_match "  ... 'ckpt: pull failed: checkpoint_not_found: ...'" 'ckpt: pull failed: checkpoint_not_found: .+' "$(head -n 1 "$ERR")"
check "  ... and creates no file" test ! -e "$D/n.bin"
run_ckpt --url "$BASE" pull nosuchrun --latest -o "$D/n.bin"
expect_rc "pull --latest of an unknown run exits 2" 2
check "  ... with run_not_found" grep -q 'run_not_found' "$ERR"
for bad in "cli" "abc" "0" "-- -5" "cli --best --latest" "$ID1 --metric acc" "$ID1 --max" "cli --latest --max" \
    "$ID1 -o"; do
    # shellcheck disable=SC2086
    run_ckpt --url "$BASE" pull $bad
    expect_rc "pull $bad exits 1" 1
done
run_ckpt --url "$BASE" pull
expect_rc "pull without arguments exits 1" 1
run_ckpt --url "$BASE" pull "$ID1" -o "$C/no/such/dir/x.bin"
expect_rc "pull into a missing directory exits 1 (a local file problem)" 1

# A reader that goes away: a write error, exit 1, not a signal.
ckpt --url "$BASE" pull "$ID3" -o - 2>"$ERR" | head -c 100 >/dev/null
RC=${PIPESTATUS[0]}
expect_rc "pull -o - into a pipe closed early exits 1 (not killed by SIGPIPE)" 1

# ---- ls
run_ckpt --url "$BASE" ls cli
expect_rc "ls RUN exits 0" 0
check_match "  ... a header line" ' *ID +EPOCH +STEP +LOSS +SIZE +CREATED +SHA256 +METRICS' "$(head -n 1 "$OUT")"
check_eq "  ... and one line per checkpoint" 5 "$(wc -l <"$OUT")"
check_match "  ... rows show id, epoch, step, loss, metrics" " *$ID1 +2 +20 +0\.5 .* acc=0\.9 f1=0\.25" "$(grep -E "^ *$ID1 " "$OUT")"
run_ckpt --url "$BASE" --json ls cli
expect_rc "ls --json exits 0" 0
check_eq "  ... a JSON array of the 4 checkpoints, oldest first" "$ID1 $ID2 $ID3 $ID4" "$(jout '[.[].id] | join(" ")')"
check "  ... with every field" jq -e '.[0] | has("id") and has("run") and has("epoch") and has("step") and has("loss") and has("metrics") and has("size") and has("sha256") and has("created_at")' "$OUT"
run_ckpt --url "$BASE" --json ls cli --desc
check_eq "ls --desc: newest first" "$ID4 $ID3 $ID2 $ID1" "$(jout '[.[].id] | join(" ")')"
run_ckpt --url "$BASE" --json ls cli --order-by epoch
check_eq "ls --order-by epoch (no epoch last)" "$ID3 $ID1 $ID2 $ID4" "$(jout '[.[].id] | join(" ")')"
run_ckpt --url "$BASE" --json ls cli --order-by loss --desc
check_eq "ls --order-by loss --desc" "$ID3 $ID1 $ID2 $ID4" "$(jout '[.[].id] | join(" ")')"
run_ckpt --url "$BASE" --json ls cli --order-by step
check_eq "ls --order-by step" "$ID4 $ID1 $ID2 $ID3" "$(jout '[.[].id] | join(" ")')"
run_ckpt --url "$BASE" --json ls cli --order-by metric.acc --desc
check_eq "ls --order-by metric.acc --desc" "$ID2 $ID1 $ID3 $ID4" "$(jout '[.[].id] | join(" ")')"
run_ckpt --url "$BASE" --json ls cli --order-by created --limit 2
check_eq "ls --order-by created --limit 2" "$ID1 $ID2" "$(jout '[.[].id] | join(" ")')"
run_ckpt --url "$BASE" --json ls cli --desc --limit 1
check_eq "ls --desc --limit 1" "$ID4" "$(jout '[.[].id] | join(" ")')"
run_ckpt --url "$BASE" ls cli --order-by bogus
expect_rc "ls --order-by bogus exits 2 (the server refuses it)" 2
check "  ... invalid_parameter" grep -q 'invalid_parameter' "$ERR"
for bad in "--limit 0" "--limit -1" "--limit x" "--order-by"; do
    # shellcheck disable=SC2086
    run_ckpt --url "$BASE" ls cli $bad
    expect_rc "ls $bad exits 1" 1
done
run_ckpt --url "$BASE" ls
expect_rc "ls without RUN exits 1" 1
run_ckpt --url "$BASE" ls nosuchrun
expect_rc "ls of an unknown run exits 2" 2
check "  ... run_not_found" grep -q 'run_not_found' "$ERR"

# ---- runs
run_ckpt --url "$BASE" push other "$F1" --epoch 9
run_ckpt --url "$BASE" runs
expect_rc "runs exits 0" 0
check_match "  ... a header line" 'RUN +CHECKPOINTS +SIZE +BEST LOSS +LATEST EPOCH +UPDATED' "$(head -n 1 "$OUT")"
check_match "  ... a line for run cli with 4 checkpoints and best loss 0.25" 'cli +4 +.* 0\.25 +- +.*' "$(grep '^cli ' "$OUT")"
check_match "  ... a line for run other with latest epoch 9" 'other +1 +.* - +9 +.*' "$(grep '^other ' "$OUT")"
run_ckpt --url "$BASE" --json runs
expect_rc "runs --json exits 0" 0
check_eq "  ... the runs by name" "cli other" "$(jout '[.[].run] | join(" ")')"
check "  ... with counts, bytes, best_loss, latest_epoch, updated_at" \
    jq -e '.[0].checkpoints == 4 and .[0].bytes == (3000 + 70000 + 3000000 + 70000) and .[0].best_loss == 0.25 and .[0].latest_epoch == null and (.[0].updated_at | type) == "string" and .[1].latest_epoch == 9' "$OUT"

# ---- rm
run_ckpt --url "$BASE" rm "$ID4"
expect_rc "rm ID exits 0" 0
check_eq "  ... prints 'deleted checkpoint ID'" "deleted checkpoint $ID4" "$(cat "$OUT")"
run_ckpt --url "$BASE" show "$ID4"
expect_rc "  ... show of it then exits 2" 2
run_ckpt --url "$BASE" rm "$ID4"
expect_rc "rm of it again exits 2" 2
check "  ... checkpoint_not_found" grep -q 'checkpoint_not_found' "$ERR"
run_ckpt --url "$BASE" -q rm "$ID3"
expect_rc "rm -q exits 0" 0
check_eq "  ... and prints nothing" "" "$(cat "$OUT" "$ERR")"
run_ckpt --url "$BASE" --json rm "$ID2"
expect_rc "rm --json exits 0" 0
check_eq "  ... and prints {\"deleted\":ID}" "$ID2" "$(jout .deleted)"
for bad in abc 0 "1 2"; do
    # shellcheck disable=SC2086
    run_ckpt --url "$BASE" rm $bad
    expect_rc "rm $bad exits 1" 1
done
run_ckpt --url "$BASE" rm
expect_rc "rm without ID exits 1" 1
check_eq "run cli has one checkpoint left" 1 "$(run_count cli)"

# ---- --url, CKPT_URL and the default
CKPT_URL=$BASE run_ckpt runs
expect_rc "CKPT_URL selects the server" 0
CKPT_URL=http://127.0.0.1:1 run_ckpt --url "$BASE" runs
expect_rc "--url overrides CKPT_URL" 0
run_ckpt runs --url "$BASE"
expect_rc "--url after the command works" 0
run_ckpt --url="$BASE" runs
expect_rc "--url=URL works" 0
run_ckpt --retries 0 runs
if [ "$RC" = 4 ]; then
    check "without --url or CKPT_URL the default is 127.0.0.1:8420" grep -q '8420' "$ERR"
else
    check_eq "without --url or CKPT_URL the default is 127.0.0.1:8420 (something answers there)" 0 "$RC"
fi

# ---- --token, CKPT_TOKEN: sent as a bearer token (the server ignores it today)
start_proxy "$PORT" || bail "cutproxy starts"
run_ckpt --url "$PROXY" --token s3cret push tok "$F1"
expect_rc "push with --token works" 0
check "  ... and sends Authorization: Bearer s3cret" grep -q '^req [0-9]* PUT .*| Authorization: Bearer s3cret' "$PROXY_LOG"
CKPT_TOKEN=envtok run_ckpt --url "$PROXY" runs
expect_rc "runs with CKPT_TOKEN works" 0
check "  ... and sends Authorization: Bearer envtok" grep -q '^req [0-9]* GET /v1/runs | .*Authorization: Bearer envtok' "$PROXY_LOG"
CKPT_TOKEN=envtok run_ckpt --url "$PROXY" --token cli-wins show "$ID1"
check "--token overrides CKPT_TOKEN" grep -q "^req [0-9]* GET /v1/checkpoints/$ID1 .*Authorization: Bearer cli-wins" "$PROXY_LOG"
run_ckpt --url "$PROXY" ls tok
check_eq "without a token no Authorization header is sent" "" "$(grep '^req [0-9]* GET /v1/runs/tok/' "$PROXY_LOG" | grep Authorization)"
stop_proxy

# ---- --cacert (https only: harmless for http)
run_ckpt --url "$BASE" --cacert "$C/no-such-ca.pem" runs
expect_rc "--cacert with an http:// server is ignored (exit 0)" 0
CKPT_CACERT=$C/no-such-ca.pem run_ckpt --url "$BASE" runs
expect_rc "CKPT_CACERT with an http:// server is ignored (exit 0)" 0

# ---- progress bar: only on a terminal, never with -q
run_ckpt --url "$BASE" pull "$ID1" -o "$D/p.bin"
check "with stderr not a terminal there is no progress bar (no \\r on stderr)" sh -c "! tr -d -c '\\r' <'$ERR' | grep -q ."
run_ckpt --url "$BASE" push bar "$F3"
check "push with stderr not a terminal: no \\r on stderr" sh -c "! tr -d -c '\\r' <'$ERR' | grep -q ."
if command -v script >/dev/null; then
    script -qec "${CKPT_WRAPPER:-} $CKPT_BIN --url $BASE push bar $F3" /dev/null >"$WORK/tty.out" 2>&1 </dev/null
    check_eq "push on a terminal (script(1)) exits 0" 0 "$?"
    check "  ... and draws a progress bar (\\r[ on the terminal)" grep -q $'\r\\[' "$WORK/tty.out"
    check "  ... that reaches 100%" grep -q '100%' "$WORK/tty.out"
    script -qec "${CKPT_WRAPPER:-} $CKPT_BIN --url $BASE pull $ID1 -o $D/tty.bin" /dev/null >"$WORK/tty.out" 2>&1 </dev/null
    check_eq "pull on a terminal exits 0" 0 "$?"
    check "  ... and draws a progress bar" grep -q $'\r\\[' "$WORK/tty.out"
    # ID1 is 3000 bytes: every bar must count towards 2.9 KiB, not towards the size of the
    # metadata answer fetched before the download.
    bars=$(tr '\r' '\n' <"$WORK/tty.out" | grep '%' | sed 's/  *$//')
    check_eq "  ... whose every state counts towards the checkpoint's 2.9 KiB" "" \
        "$(printf '%s\n' "$bars" | grep -v ' / 2\.9 KiB ' | sort -u | head -n 3)"
    script -qec "${CKPT_WRAPPER:-} $CKPT_BIN --url $BASE -q push bar $F3" /dev/null >"$WORK/tty.out" 2>&1 </dev/null
    check_eq "push -q on a terminal exits 0" 0 "$?"
    check "  ... and draws no progress bar" sh -c "! grep -q '\\[#' '$WORK/tty.out'"
else
    skip "progress bar on a terminal" "no script(1)"
fi

check "ckptd still running after the CLI tests" is_alive "$CKPTD_PID"
stop_ckptd
