#!/usr/bin/env bash
# The integrity scrub finds exactly the damaged blobs. With ckptd stopped: flip a bit in one blob,
# truncate another, delete a third, swap the contents of two more; twelve stay healthy. After a
# restart and POST /v1/admin/scrub: exactly those five checkpoints are flagged corrupt, GET of each
# answers 409 checkpoint_corrupt (never their bytes with 200), the healthy ones download intact,
# best and latest skip the damaged ones, and the status counts are right. Then a blob deleted
# while ckptd runs is found missing by the next scrub; the last result survives a restart.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/integrity.sh"
need_daemon_binary

DIR=$(new_tmpdir)
start_ckptd_on "$DIR" --scrub-rate 1 || bail "ckptd starts"

N=17
declare -a ID SHA SRC
for i in $(seq 1 $N); do
    SRC[i]=$WORK/src$i
    rand_file "${SRC[i]}" 200000
    # loss: checkpoint 4 is the best, 9 the second best; 17 is the latest.
    loss=$((50 + i))
    [ "$i" = 4 ] && loss=1
    [ "$i" = 9 ] && loss=2
    upload s "epoch=$i&loss=0.$loss" "${SRC[i]}"
    [ "$STATUS" = 201 ] || bail "upload $i answers 201 (got $STATUS $(body_head))"
    ID[i]=$(jbody .id)
    SHA[i]=$(jbody .sha256)
done
ok "uploaded $N distinct 200 kB checkpoints"
http GET /v1/admin/scrub
expect_status "GET /v1/admin/scrub answers 200" 200
expect_json "  ... idle, never run: last_run null, started_at null" \
    '.state == "idle" and .last_run == null and .started_at == null and .blobs_checked == 0'
expect_json "  ... the schedule is the default 7 days" '.interval_s == 604800 and (.next_at | type) == "string"'
stop_ckptd "ckptd stops to have its blobs damaged"

# ---------------------------------------------------------------- damage, with ckptd stopped
FLIP=4   # the best checkpoint: best must fall back to 9
TRUNC=6
GONE=8
SWAP_A=12
SWAP_B=17 # the latest: latest must fall back to 16
flip_bit "$(blob_path "${SHA[FLIP]}")" 123456
truncate -s 150000 "$(blob_path "${SHA[TRUNC]}")"
rm -f "$(blob_path "${SHA[GONE]}")"
cp "$(blob_path "${SHA[SWAP_A]}")" "$WORK/swap"
cp "$(blob_path "${SHA[SWAP_B]}")" "$(blob_path "${SHA[SWAP_A]}")"
cp "$WORK/swap" "$(blob_path "${SHA[SWAP_B]}")"
check "the flipped blob no longer has its SHA-256" [ "$(sha256_hex "$(blob_path "${SHA[FLIP]}")")" != "${SHA[FLIP]}" ]
check "the swapped blobs have each other's bytes" [ "$(sha256_hex "$(blob_path "${SHA[SWAP_A]}")")" = "${SHA[SWAP_B]}" ]
DAMAGED="${ID[FLIP]} ${ID[TRUNC]} ${ID[GONE]} ${ID[SWAP_A]} ${ID[SWAP_B]}"
DAMAGED=$(printf '%s\n' $DAMAGED | sort -n | tr '\n' ' ' | sed 's/ $//')

start_ckptd_on "$DIR" --scrub-rate 1 || bail "ckptd restarts"
# The startup scan flags blobs missing or the wrong size (by size alone): wait for it, so the
# scrub's counts are deterministic.
check "the startup scan flags the truncated and the deleted blob" \
    wait_for 10 flagged "${ID[TRUNC]}" "${ID[GONE]}"
check_eq "  ... and nothing else yet" "${ID[TRUNC]} ${ID[GONE]}" "$(corrupt_ids s)"

# ---------------------------------------------------------------- the scrub
t0=$(date +%s.%N)
http POST /v1/admin/scrub
expect_status "POST /v1/admin/scrub answers 202" 202
expect_json "  ... with the status, running" '.scrub.state == "running"'
# 15 blobs of 200 kB at 1 MB/s take about 3 s: a second request meets the running one.
http POST /v1/admin/scrub
expect_error "a second POST while it runs answers 409 scrub_running" 409 scrub_running
http POST /v1/admin/scrub?now=1
expect_error "POST /v1/admin/scrub with a query parameter answers 400 unknown_parameter" 400 unknown_parameter
http DELETE /v1/admin/scrub
expect_error "DELETE /v1/admin/scrub answers 405" 405 method_not_allowed
check "the scrub finishes" wait_for 60 scrub_idle
t1=$(date +%s.%N)
scrub_status
expect_json "status: 15 blobs in all, 15 checked, 3 000 000 bytes read" \
    '.blobs_total == 15 and .blobs_checked == 15 and .bytes_checked == 3000000'
expect_json "status: 3 corrupt (the flipped one and the two swapped), 0 missing" \
    '.corrupt_found == 3 and .missing_found == 0'
expect_json "status: started_at and finished_at set, last_run equal to this run" \
    '(.started_at | type) == "string" and (.finished_at | type) == "string" and
     .last_run.corrupt_found == 3 and .last_run.blobs_checked == 15 and .last_run.finished_at == .finished_at'
# The same numbers on /metrics (ckptd_scrub_*), for monitoring.
http GET /metrics
metric() { grep -E "^$1 " "$RESP_BODY" | awk '{print $2}'; }
check_eq "/metrics: ckptd_scrub_running 0, blobs 15 of 15, 3000000 bytes" "0 15 15 3000000" \
    "$(metric ckptd_scrub_running) $(metric ckptd_scrub_blobs_checked) $(metric ckptd_scrub_blobs_total) $(metric ckptd_scrub_bytes_checked)"
check_eq "/metrics: the last scrub found 3 corrupt and 0 missing" "3 0" \
    "$(metric ckptd_scrub_last_corrupt_found) $(metric ckptd_scrub_last_missing_found)"
check "/metrics: the last scrub's finish time is a Unix time" \
    "$(command -v python3)" -c "import sys,time; sys.exit(not abs(float(sys.argv[1]) - time.time()) < 600)" \
    "$(metric ckptd_scrub_last_finished_timestamp_seconds)"
elapsed=$(echo "$t1 - $t0" | bc)
check "at --scrub-rate 1 (MB/s), 3 MB took at least 2.7 s ($elapsed s)" [ "$(echo "$elapsed >= 2.7" | bc)" = 1 ]

check_eq "exactly the five damaged checkpoints are flagged corrupt (no false positives)" \
    "$DAMAGED" "$(corrupt_ids s)"
for i in $FLIP $TRUNC $GONE $SWAP_A $SWAP_B; do
    http GET "/v1/checkpoints/${ID[i]}/blob"
    expect_error "GET of damaged checkpoint ${ID[i]}'s blob answers 409 checkpoint_corrupt" 409 checkpoint_corrupt
done
good_ok=0
for i in $(seq 1 $N); do
    case " $FLIP $TRUNC $GONE $SWAP_A $SWAP_B " in *" $i "*) continue ;; esac
    http GET "/v1/checkpoints/${ID[i]}/blob"
    [ "$STATUS" = 200 ] && cmp -s "$RESP_BODY" "${SRC[i]}" && good_ok=$((good_ok + 1))
done
check_eq "all 12 healthy checkpoints download intact" 12 "$good_ok"
quarantined=$(find "$DIR/quarantine" -type f | wc -l)
check_eq "the three mismatching blobs were moved to quarantine/" 3 "$quarantined"
check "  ... the flipped one among them" test -n "$(find "$DIR/quarantine" -name "${SHA[FLIP]}.*")"
check "  ... and is no longer in blobs/" test ! -e "$(blob_path "${SHA[FLIP]}")"

http GET /v1/runs/s/best
expect_json "best skips the corrupt best (4) and answers the second best (9)" ".id == ${ID[9]}"
http GET /v1/runs/s/best/blob
check "  ... best/blob serves checkpoint 9's bytes" cmp -s "$RESP_BODY" "${SRC[9]}"
http GET /v1/runs/s/latest
expect_json "latest skips the corrupt latest (17) and answers 16" ".id == ${ID[16]}"
http GET /v1/runs/s/latest/blob
check "  ... latest/blob serves checkpoint 16's bytes" cmp -s "$RESP_BODY" "${SRC[16]}"
http GET /v1/stats
expect_json "GET /v1/stats counts 5 corrupt of 17 checkpoints" '.corrupt == 5 and .checkpoints == 17'

# ---------------------------------------------------------------- missing while running
rm -f "$(blob_path "${SHA[16]}")"
http POST /v1/admin/scrub
expect_status "a second scrub starts (202)" 202
check "  ... and finishes" wait_for 60 scrub_idle
scrub_status
expect_json "it checks the 12 blobs left (11 read, 2 200 000 bytes) and finds 1 missing, 0 corrupt" \
    '.blobs_total == 12 and .blobs_checked == 12 and .bytes_checked == 2200000 and .missing_found == 1 and .corrupt_found == 0'
check_eq "checkpoint 16 is flagged corrupt too" true "$(is_corrupt "${ID[16]}")"
http GET /v1/runs/s/latest
expect_json "latest now falls back to 15" ".id == ${ID[15]}"

# ---------------------------------------------------------------- the result survives a restart
scrub_status
fin=$(jbody .finished_at)
stop_ckptd
start_ckptd_on "$DIR" --scrub-rate 1 --scrub-interval 1h || bail "ckptd restarts"
scrub_status
expect_json "after a restart, last_run is the scrub before it (1 missing)" \
    ".state == \"idle\" and .last_run.missing_found == 1 and .last_run.finished_at == \"$fin\""
expect_json "  ... and the next scrub is due one --scrub-interval after it" \
    "((.next_at | sub(\"\\\\.[0-9]+Z\$\"; \"Z\") | fromdate) - (.last_run.finished_at | sub(\"\\\\.[0-9]+Z\$\"; \"Z\") | fromdate)) as \$d | \$d >= 3599 and \$d <= 3601"
check_eq "the corrupt flags survive too" "$(printf '%s\n' $DAMAGED "${ID[16]}" | sort -n | tr '\n' ' ' | sed 's/ $//')" \
    "$(corrupt_ids s | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')"
stop_ckptd
harness_exit
