# shellcheck shell=bash
# What a running daemon holds, read from /proc, for the hostile, slow-client and soak tests
# (tests/integration/66-68). Source it after harness.sh. Every function takes the PID of a
# daemon this shell started (CKPTD_PID) and prints nothing when the process is gone.

# fd_count PID: open file descriptors.
fd_count()
{
    ls "/proc/$1/fd" 2>/dev/null | wc -l
}

# fd_count_conn PID: open descriptors other than the index's own files. SQLite opens
# index.db-wal and -shm per connection the first time that connection reads, and the daemon
# keeps a pool of reader connections, so those grow with the highest concurrency seen so far
# and are not a leak; sockets, pipes, blobs and temp files are what must come back.
fd_count_conn()
{
    local n=0 f t
    for f in "/proc/$1"/fd/*; do
        t=$(readlink "$f" 2>/dev/null) || continue
        case $t in */index.db | */index.db-wal | */index.db-shm | */index.db-journal) ;; *) n=$((n + 1)) ;; esac
    done
    echo "$n"
}

# fd_summary PID: the five most common fd targets, sockets folded together, on one line.
fd_summary()
{
    local f
    for f in "/proc/$1"/fd/*; do readlink "$f" 2>/dev/null; done | sed 's/^socket:.*/socket/; s/^pipe:.*/pipe/' |
        sort | uniq -c | sort -rn | head -5 | awk '{printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1}'
}

# threads_of PID: the Threads: line of /proc/PID/status.
threads_of()
{
    awk '/^Threads:/ {print $2}' "/proc/$1/status" 2>/dev/null
}

# rss_kb PID / hwm_kb PID: resident set size now and its high-water mark, in KiB.
rss_kb()
{
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null
}

hwm_kb()
{
    awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null
}

# warm_up BASE [CURL ARGS...]: 16 concurrent clients x 4 requests, so that every worker thread
# and reader connection has answered once before a baseline is taken.
warm_up()
{
    local base=$1 i pids=()
    shift
    for i in $(seq 1 16); do
        curl -s "$@" -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
            "$base/healthz" "$base/v1/runs" "$base/healthz" "$base/v1/runs" &
        pids+=($!)
    done
    # Only these: a bare `wait` would wait for the daemon too.
    wait "${pids[@]}"
    sleep 0.5
}

# back_to_baseline DESC PID FDS0 THREADS0 [WAIT_S]: ok when, within WAIT_S seconds (default
# 10), the non-index descriptors are back to FDS0 or fewer; then the thread count must equal
# THREADS0. Two checks; the total fd count goes into the message.
back_to_baseline()
{
    local desc=$1 pid=$2 fds0=$3 thr0=$4 limit=${5:-10} i=0 now
    while [ "$i" -lt $((limit * 10)) ]; do
        now=$(fd_count_conn "$pid")
        [ -n "$now" ] && [ "$now" -le "$fds0" ] && break
        sleep 0.1
        i=$((i + 1))
    done
    now=$(fd_count_conn "$pid")
    if [ -n "$now" ] && [ "$now" -le "$fds0" ]; then
        ok "$desc: fds back to the baseline ($now <= $fds0 besides the index; $(fd_count "$pid") in all)"
    else
        fail "$desc: fds back to the baseline" "baseline $fds0 besides the index, now ${now:-?}" \
            "open: $(fd_summary "$pid")"
    fi
    check_eq "$desc: threads back to the baseline ($thr0)" "$thr0" "$(threads_of "$pid")"
}
