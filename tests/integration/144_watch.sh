#!/usr/bin/env bash
# Long poll on a run's listing (issue 5): GET /v1/runs/RUN/checkpoints?after_id=N&wait=S answers at
# once when newer checkpoints exist, otherwise within 100 ms of the commit that brings one
# (measured: the watcher's answer against the uploader's 201), or with an empty list when the wait
# ends. 50 concurrent watchers all wake; a commit to another run wakes none; a client that hangs up
# frees its connection at once; SIGTERM answers parked watchers and exits promptly.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
start_ckptd || bail "ckptd starts"

now() { echo "$EPOCHREALTIME"; }
# ms A B: milliseconds from time A to time B (may be negative).
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }

# ---- parameters
http GET "/v1/runs/w/checkpoints?after_id=0"
expect_json "after_id on a run with no checkpoints yet: 200, empty list" '.checkpoints == [] and .next == null'
http GET "/v1/runs/w/checkpoints?after_id=0&wait=301"
expect_error "wait over 300: 400 invalid_parameter" 400 invalid_parameter
http GET "/v1/runs/w/checkpoints?after_id=-1"
expect_error "negative after_id: 400" 400 invalid_parameter
http GET "/v1/runs/w/checkpoints?wait=5"
expect_error "wait without after_id: 400" 400 invalid_parameter
http GET "/v1/runs/w/checkpoints?after_id=0&order=desc"
expect_error "after_id with order=desc: 400" 400 invalid_parameter
http GET "/v1/runs/w/checkpoints?after_id=0&order_by=loss"
expect_error "after_id with order_by=loss: 400" 400 invalid_parameter
http GET "/v1/runs/w/checkpoints?after_id=0&after=x"
expect_error "after_id with after: 400" 400 invalid_parameter
http GET "/v1/runs/w/checkpoints?after_id=0&bogus=1"
expect_error "unknown parameter: 400 unknown_parameter" 400 unknown_parameter

# ---- empty after the wait
t0=$(now)
http GET "/v1/runs/w/checkpoints?after_id=0&wait=1"
t1=$(now)
expect_json "nothing committed: 200 and an empty list after the wait" '.checkpoints == [] and .next == null'
el=$(ms "$t0" "$t1")
check "the empty answer comes after about 1 s (${el} ms)" bash -c "[ '$el' -ge 950 ] && [ '$el' -le 1600 ]"

# ---- wakes within 100 ms of a commit
rand_file "$WORK/f" 4096
worst=0
for i in 1 2 3 4 5; do
    last=$(curl -s "$BASE/v1/runs/w/checkpoints?after_id=0&limit=1000" | jq '[.checkpoints[].id] | max // 0')
    (curl -s -o "$WORK/watch.$i" "$BASE/v1/runs/w/checkpoints?after_id=$last&wait=20"; now >"$WORK/watch.$i.t") &
    wp=$!
    sleep 0.3
    upload w "epoch=$i" "$WORK/f"
    t201=$(now)
    id=$(jbody .id)
    wait "$wp"
    d=$(ms "$t201" "$(cat "$WORK/watch.$i.t")")
    diag "round $i: watcher answered ${d} ms after the 201"
    [ "${d#-}" -gt "$worst" ] && worst=${d#-}
    check_eq "round $i: the watcher gets the new checkpoint" "$id" "$(jq -c '[.checkpoints[].id] | join(",")' -r <"$WORK/watch.$i")"
done
check "the watcher answers within 100 ms of the 201 (worst of 5: ${worst} ms)" [ "$worst" -le 100 ]

# ---- at once when newer exist
t0=$(now)
http GET "/v1/runs/w/checkpoints?after_id=0&wait=30"
el=$(ms "$t0" "$(now)")
expect_json "newer checkpoints exist: all of them, ascending" '[.checkpoints[].epoch] == [1,2,3,4,5]'
check "answered at once (${el} ms)" [ "$el" -le 500 ]
http GET "/v1/runs/w/checkpoints?after_id=2&limit=2&wait=30"
expect_json "after_id and limit: the next two after id 2" '[.checkpoints[].id] == [3,4] and .next == null'

# ---- 50 concurrent watchers all wake; another run's commit wakes none
last=$(curl -s "$BASE/v1/runs/w/checkpoints?after_id=0&limit=1000" | jq '[.checkpoints[].id] | max')
pids=()
for i in $(seq 1 50); do
    (curl -s -o "$WORK/many.$i" --max-time 40 "$BASE/v1/runs/w/checkpoints?after_id=$last&wait=30"; now >"$WORK/many.$i.t") &
    pids+=($!)
done
(curl -s -o "$WORK/otherrun" "$BASE/v1/runs/w2/checkpoints?after_id=0&wait=2"; now >"$WORK/otherrun.t") &
op=$!
sleep 1.5
upload x "epoch=1" "$WORK/f"
check_eq "a commit to another run answers 201" 201 "$STATUS"
sleep 0.3
woke=0
for i in $(seq 1 50); do [ -e "$WORK/many.$i.t" ] && woke=$((woke + 1)); done
check_eq "a commit to another run wakes none of the 50 watchers" 0 "$woke"
upload w "epoch=6" "$WORK/f"
t201=$(now)
id=$(jbody .id)
wait "${pids[@]}"
got=0 worst=0
for i in $(seq 1 50); do
    [ "$(jq -r '[.checkpoints[].id] | join(",")' <"$WORK/many.$i")" = "$id" ] && got=$((got + 1))
    d=$(ms "$t201" "$(cat "$WORK/many.$i.t")")
    [ "${d#-}" -gt "$worst" ] && worst=${d#-}
done
check_eq "all 50 watchers get the new checkpoint" 50 "$got"
diag "50 watchers: the last answered ${worst} ms after the 201"
check "all 50 answer within 500 ms of the 201 (last: ${worst} ms)" [ "$worst" -le 500 ]
wait "$op"
check_eq "the watcher of run w2 saw nothing" '[]' "$(jq -c .checkpoints <"$WORK/otherrun")"

# ---- a client that hangs up frees its connection at once
base_fds=$(fd_count "$CKPTD_PID")
pids=()
for i in $(seq 1 20); do
    curl -s -o /dev/null --max-time 1 "$BASE/v1/runs/w/checkpoints?after_id=999999&wait=60" &
    pids+=($!)
done
sleep 0.5
parked=$(fd_count "$CKPTD_PID")
check "20 parked watchers hold 20 more descriptors ($base_fds -> $parked)" [ "$parked" -ge $((base_fds + 20)) ]
wait_for 10 bash -c "[ \$(find /proc/$CKPTD_PID/fd -mindepth 1 | wc -l) -le $base_fds ]"
check "once the clients hang up (after 1 s) the daemon closes them within seconds, not at the 60 s wait" \
    [ "$(fd_count "$CKPTD_PID")" -le "$base_fds" ]
wait "${pids[@]}"

# ---- SIGTERM with watchers parked
pids=()
for i in 1 2 3; do
    curl -s -o "$WORK/term.$i" -w '%{http_code}' --max-time 30 "$BASE/v1/runs/w/checkpoints?after_id=999999&wait=60" >"$WORK/term.$i.st" &
    pids+=($!)
done
sleep 0.5
t0=$(now)
signal_ckptd TERM
await_ckptd_exit "ckptd exits 0 on SIGTERM with 3 watchers parked"
el=$(ms "$t0" "$(now)")
check "and within 3 s, not the 10 s grace (${el} ms)" [ "$el" -le 3000 ]
wait "${pids[@]}"
check_eq "the parked watchers got 200 with an empty list" "200 200 200" "$(cat "$WORK"/term.*.st | sed 's/\(...\)/\1 /g' | xargs)"
