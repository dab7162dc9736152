#!/usr/bin/env bash
# Concurrency: 16 parallel uploads of distinct random files while queries run; then 8 parallel
# uploads of identical bytes (dedup race). Everything committed, downloadable and identical.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
start_ckptd || bail "ckptd starts"

P=16
for i in $(seq 1 $P); do
    rand_file "$WORK/u$i" $((2000000 + i * 37111))
done

# Query load in the background until the uploads finish.
: >"$WORK/q.status"
(
    while [ ! -e "$WORK/stop" ]; do
        for p in /healthz /v1/runs /v1/runs/conc/checkpoints /v1/runs/conc/latest "/v1/runs/conc/best?metric=loss"; do
            curl -s -o /dev/null --max-time 10 -w '%{http_code}\n' "$BASE$p" >>"$WORK/q.status"
        done
    done
) &
qpid=$!

# Record the most temp files seen at once, as evidence that the uploads overlapped.
(
    most=0
    while [ ! -e "$WORK/stop" ]; do
        n=$(find "$DATA/tmp" -mindepth 1 2>/dev/null | wc -l)
        [ "$n" -gt "$most" ] && most=$n && echo "$most" >"$WORK/overlap"
        sleep 0.05
    done
) &
opid=$!

start=$SECONDS
pids=()
for i in $(seq 1 $P); do
    curl -s -S --max-time 120 --limit-rate 4M -o "$WORK/u$i.json" -w '%{http_code}' \
        -T "$WORK/u$i" "$BASE/v1/runs/conc/checkpoints?epoch=$i&step=$((i * 10))&loss=0.$i" \
        >"$WORK/u$i.status" 2>"$WORK/u$i.err" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
touch "$WORK/stop"
wait "$qpid" "$opid"
diag "16 uploads took $((SECONDS - start)) s; at most $(cat "$WORK/overlap" 2>/dev/null || echo 0) in DATA/tmp at once"

bad=
for i in $(seq 1 $P); do
    [ "$(cat "$WORK/u$i.status")" = 201 ] || bad="$bad u$i:$(cat "$WORK/u$i.status")"
done
check_eq "all $P parallel uploads answer 201" "" "$bad"

bad=
ids=
for i in $(seq 1 $P); do
    id=$(jq -r .id <"$WORK/u$i.json" 2>/dev/null)
    ids="$ids $id"
    [ "$(jq -r .sha256 <"$WORK/u$i.json" 2>/dev/null)" = "$(sha256_hex "$WORK/u$i")" ] || bad="$bad u$i"
done
check_eq "every parallel upload reports its own sha256" "" "$bad"
check_eq "all $P ids are distinct" "$P" "$(printf '%s\n' $ids | sort -u | wc -l)"

bad=
for i in $(seq 1 $P); do
    id=$(jq -r .id <"$WORK/u$i.json" 2>/dev/null)
    curl -s --max-time 60 -o "$WORK/d$i" "$BASE/v1/checkpoints/$id/blob"
    cmp -s "$WORK/u$i" "$WORK/d$i" || bad="$bad u$i"
done
check_eq "every checkpoint downloads identical to its upload" "" "$bad"

# Parallel downloads of all of them.
pids=()
for i in $(seq 1 $P); do
    id=$(jq -r .id <"$WORK/u$i.json" 2>/dev/null)
    curl -s --max-time 60 -o "$WORK/p$i" "$BASE/v1/checkpoints/$id/blob" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
bad=
for i in $(seq 1 $P); do cmp -s "$WORK/u$i" "$WORK/p$i" || bad="$bad u$i"; done
check_eq "$P parallel downloads are all identical to the uploads" "" "$bad"

http GET "/v1/runs/conc/checkpoints?limit=100"
check_eq "list shows all $P checkpoints" "$P" "$(jbody '.checkpoints | length')"
check_eq "list ids are exactly the returned ids" "$(printf '%s\n' $ids | sort -n | tr '\n' ' ')" \
    "$(jbody '.checkpoints[].id' | sort -n | tr '\n' ' ')"
http GET /v1/runs
expect_json "/v1/runs counts $P checkpoints for the run" ".runs[] | select(.run == \"conc\") | .checkpoints == $P"

nq=$(wc -l <"$WORK/q.status")
nbad=$(grep -vc '^200$' "$WORK/q.status")
diag "$nq queries ran during the uploads"
check "queries during the uploads ran (at least 5)" [ "$nq" -ge 5 ]
check_eq "queries during the uploads all answer 200 (or 404 before the first commit)" 0 \
    "$(grep -v '^200$' "$WORK/q.status" | grep -vc '^404$')"
[ "$nbad" -gt 0 ] && diag "non-200 query statuses: $(sort "$WORK/q.status" | uniq -c | tr '\n' ' ')"
check "DATA/tmp is empty after the parallel uploads" tmp_is_empty
check_eq "DATA/blobs holds one file per distinct upload" "$P" "$(blob_count)"

# ---- the same bytes uploaded 8 times at once
rand_file "$WORK/same" 3000000
hs=$(sha256_hex "$WORK/same")
pids=()
for i in $(seq 1 8); do
    curl -s --max-time 120 --limit-rate 8M -o "$WORK/s$i.json" -w '%{http_code}' \
        -T "$WORK/same" "$BASE/v1/runs/same/checkpoints?step=$i" >"$WORK/s$i.status" 2>/dev/null &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
check_eq "8 parallel uploads of identical bytes all answer 201" "201 201 201 201 201 201 201 201" \
    "$(cat "$WORK"/s[1-8].status | tr '\n' ' ' | sed 's/201/& /g' | xargs)"
check_eq "identical parallel uploads are stored as one blob file" 1 "$(find "$DATA/blobs" -type f -name "$hs" | wc -l)"
check "the shared blob file holds the right bytes" cmp -s "$WORK/same" "$(blob_path "$hs")"
check_eq "list shows 8 checkpoints for the identical uploads" 8 "$(run_count same)"
check "DATA/tmp is empty after the identical parallel uploads" tmp_is_empty
# ---- DELETE while the blob is being downloaded: the download still completes intact
rand_file "$WORK/dl" 20000000
hd=$(sha256_hex "$WORK/dl")
upload deldl "" "$WORK/dl"
did=$(jbody .id)
curl -s --max-time 60 --limit-rate 8M -o "$WORK/dl.out" -w '%{http_code}' \
    "$BASE/v1/checkpoints/$did/blob" >"$WORK/dl.status" 2>/dev/null &
dlpid=$!
sleep 0.7
http DELETE "/v1/checkpoints/$did"
expect_status "DELETE during a download of the same blob answers 204" 204
wait "$dlpid"
check "the download running during the DELETE completes with identical bytes" \
    bash -c "[ \"\$(cat '$WORK/dl.status')\" = 200 ] && cmp -s '$WORK/dl' '$WORK/dl.out'"
check "the blob file is gone after the DELETE" test ! -e "$(blob_path "$hd")"

# ---- deleting the only reference while the same bytes are uploaded again
rand_file "$WORK/race" 300000
hr=$(sha256_hex "$WORK/race")
bad=
for i in $(seq 1 20); do
    upload race "step=$i" "$WORK/race"
    old=$(jbody .id)
    curl -s -o /dev/null --max-time 30 -X DELETE "$BASE/v1/checkpoints/$old" &
    dp=$!
    curl -s -o "$WORK/race.json" -w '%{http_code}' --max-time 30 -T "$WORK/race" \
        "$BASE/v1/runs/race/checkpoints?step=$i" >"$WORK/race.status" 2>/dev/null
    wait "$dp"
    if [ "$(cat "$WORK/race.status")" != 201 ]; then
        bad="$bad $i:upload=$(cat "$WORK/race.status")"
        continue
    fi
    new=$(jq -r .id <"$WORK/race.json")
    http GET "/v1/checkpoints/$new/blob"
    if [ "$STATUS" != 200 ] || ! cmp -s "$WORK/race" "$RESP_BODY" || [ ! -f "$(blob_path "$hr")" ]; then
        bad="$bad $i:download=$STATUS"
    fi
    http DELETE "/v1/checkpoints/$new"
done
check_eq "20 rounds of DELETE racing a re-upload of the same bytes: the new checkpoint always keeps its blob" "" "$bad"
check "after the last reference is deleted the raced blob is gone" test ! -e "$(blob_path "$hr")"

check "ckptd still running after the concurrency tests" is_alive "$CKPTD_PID"

stop_ckptd
