#!/usr/bin/env bash
# The query cache (--query-cache): /best, /latest and listings answered again without a query
# must never show an index older than the last write. With one HTTP thread (one cache), each
# answer is first shown to come from the cache (ckptd_query_cache_hits_total moves), then every
# kind of write that changes it (upload, pin, unpin, delete, a blob found damaged, a retention
# policy) must show in the very next answer. Different parameters never share an answer. With
# four threads and sixteen keep-alive connections (every thread's cache warm), an answer read
# right after each upload's 201 always includes that upload. --query-cache 0 turns it off.
. "$(dirname "$0")/../lib/harness.sh"
. "$(dirname "$0")/../lib/integrity.sh"
need_daemon_binary
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# counter NAME: the value of a ckptd_query_cache_* counter in /metrics.
counter()
{
    curl -s --max-time 10 "$BASE/metrics" | awk -v n="ckptd_query_cache_$1_total" '$1 == n { print $2 }'
}

# shows PATH DESC JQ: GET PATH once; the answer satisfies JQ.
shows()
{
    http GET "$1"
    expect_json "$2" "$3"
}

# twice DESC PATH JQ: GET PATH twice; both answers satisfy JQ and the second is a cache hit.
twice()
{
    local h0
    h0=$(counter hits)
    shows "$2" "$1" "$3"
    shows "$2" "  ... asked again, the same" "$3"
    check_eq "  ... and that answer came from the cache" $((h0 + 1)) "$(counter hits)"
}

start_ckptd --threads 1 --scrub-rate 0 || bail "ckptd starts"
rand_file "$WORK/a" 300000
rand_file "$WORK/b" 300000
rand_file "$WORK/c" 300000

upload q "epoch=1&loss=0.5&metric.acc=0.7" "$WORK/a"
[ "$STATUS" = 201 ] || bail "upload answers 201" "got $STATUS: $(body_head)"
A=$(jbody .id)
SHA_A=$(jbody .sha256)
twice "best is the only checkpoint" /v1/runs/q/best ".id == $A"
twice "latest is it" /v1/runs/q/latest ".id == $A"
twice "a listing has it" "/v1/runs/q/checkpoints?limit=10" "[.checkpoints[].id] == [$A]"

upload q "epoch=2&loss=0.25&metric.acc=0.6" "$WORK/b"
B=$(jbody .id)
shows /v1/runs/q/best "after an upload with a lower loss, best is the new checkpoint" ".id == $B"
shows /v1/runs/q/latest "  ... latest is the new one" ".id == $B"
shows "/v1/runs/q/checkpoints?limit=10" "  ... the listing has both" \
    "[.checkpoints[].id] == [$A, $B]"

# Every parameter is part of the question.
twice "best by acc, max: A" "/v1/runs/q/best?metric=acc&mode=max" ".id == $A"
twice "best by acc, min: B" "/v1/runs/q/best?metric=acc&mode=min" ".id == $B"
twice "a listing newest first" "/v1/runs/q/checkpoints?limit=10&order=desc" \
    "[.checkpoints[].id] == [$B, $A]"
twice "a listing of 1" "/v1/runs/q/checkpoints?limit=1" \
    "[.checkpoints[].id] == [$A] and (.next | type) == \"string\""
NEXT=$(jbody .next)
twice "the page after it" "/v1/runs/q/checkpoints?limit=1&after=$NEXT" \
    "[.checkpoints[].id] == [$B] and .next == null"
twice "a listing by loss" "/v1/runs/q/checkpoints?limit=10&order_by=loss" \
    "[.checkpoints[].id] == [$B, $A]"
twice "a listing of epochs from 2" "/v1/runs/q/checkpoints?limit=10&min_epoch=2" \
    "[.checkpoints[].id] == [$B]"
http GET /v1/runs/other/best
expect_error "another run's best is its own (none)" 404 run_not_found

http POST "/v1/checkpoints/$B/pin"
shows /v1/runs/q/best "after a pin, best shows pinned:true" ".id == $B and .pinned == true"
shows "/v1/runs/q/checkpoints?limit=10&order=desc" "  ... so does the listing" \
    ".checkpoints[0].pinned == true"
http POST "/v1/checkpoints/$B/unpin"
shows /v1/runs/q/best "after an unpin, best shows pinned:false" ".id == $B and .pinned == false"

http DELETE "/v1/checkpoints/$B"
expect_status "B is deleted" 204
shows /v1/runs/q/best "after a delete, best is A again" ".id == $A"
shows /v1/runs/q/latest "  ... latest too" ".id == $A"
shows "/v1/runs/q/checkpoints?limit=10&order=desc" "  ... the listing has A alone" \
    "[.checkpoints[].id] == [$A]"
shows "/v1/runs/q/checkpoints?limit=10&order_by=loss" "  ... by loss too" \
    "[.checkpoints[].id] == [$A]"

# A blob found damaged while it is sent: A is flagged corrupt, and best skips it.
upload q "epoch=3&loss=0.75" "$WORK/c"
C=$(jbody .id)
twice "best is A (0.5 < 0.75)" /v1/runs/q/best ".id == $A"
flip_bit "$(blob_path "$SHA_A")" 1000
curl -s -o /dev/null --max-time 30 "$BASE/v1/checkpoints/$A/blob"
best_is_c()
{
    curl -s --max-time 5 "$BASE/v1/runs/q/best" | jq -e ".id == $C" >/dev/null
}
check "once A is flagged corrupt, best is C" wait_for 10 best_is_c
shows "/v1/runs/q/checkpoints?limit=10" "  ... and the listing shows A corrupt" \
    ".checkpoints[0].id == $A and .checkpoints[0].corrupt == true"

# A retention policy deletes what it no longer keeps.
for i in 4 5 6; do
    upload keep "epoch=$i&loss=0.$i" "$WORK/c"
done
twice "run keep has three checkpoints" "/v1/runs/keep/checkpoints?limit=10" ".checkpoints | length == 3"
http PUT /v1/runs/keep/policy -d '{"keep_last":1}'
expect_json "a policy keeping the last one drops two" '.dropped | length == 2'
shows "/v1/runs/keep/checkpoints?limit=10" "  ... and the listing shows one left" \
    '.checkpoints | length == 1'
stop_ckptd "ckptd exits 0"

# ---------------------------------------------------------------- many threads, many connections
start_ckptd --threads 4 || bail "ckptd starts with 4 threads"
"$PY" - "$BASE" "$WORK/a" >"$WORK/race.out" 2>&1 <<'PYEOF'
import http.client, json, sys, threading, urllib.parse
base, blob = sys.argv[1], open(sys.argv[2], "rb").read()
u = urllib.parse.urlsplit(base)
def conn():
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)
def get(c, path):
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read()
stop = threading.Event()
errors = []
def churn(i):
    c = conn()
    paths = ["/v1/runs/race/best", "/v1/runs/race/latest", "/v1/runs/race/checkpoints?limit=5&order=desc"]
    n = 0
    while not stop.is_set():
        st, _ = get(c, paths[n % 3])
        if st not in (200, 404):
            errors.append("churn got %d" % st)
        n += 1
readers = [conn() for _ in range(16)]
bg = [threading.Thread(target=churn, args=(i,)) for i in range(4)]
for t in bg:
    t.start()
w = conn()
stale = checked = 0
for i in range(1, 41):
    loss = 1.0 / i
    w.request("PUT", "/v1/runs/race/checkpoints?epoch=%d&loss=%r" % (i, loss), body=blob)
    r = w.getresponse()
    body = json.loads(r.read())
    if r.status != 201:
        errors.append("upload %d: %d" % (i, r.status))
        continue
    for c in readers:
        for path, key in (("/v1/runs/race/best", "id"), ("/v1/runs/race/latest", "id")):
            st, b = get(c, path)
            checked += 1
            if st != 200 or json.loads(b)["id"] != body["id"]:
                stale += 1
        st, b = get(c, "/v1/runs/race/checkpoints?limit=5&order=desc")
        checked += 1
        if st != 200 or json.loads(b)["checkpoints"][0]["id"] != body["id"]:
            stale += 1
stop.set()
for t in bg:
    t.join()
print("checked=%d stale=%d errors=%d" % (checked, stale, len(errors)))
for e in errors[:5]:
    print(e)
PYEOF
check_eq "16 connections on 4 threads, after each of 40 uploads: every answer includes it" \
    "checked=1920 stale=0 errors=0" "$(head -1 "$WORK/race.out")"
h=$(counter hits)
check "  ... while the caches answered most of the other requests (hits: $h)" [ "${h:-0}" -gt 1000 ]
stop_ckptd "ckptd exits 0"

# ---------------------------------------------------------------- off
start_ckptd --threads 1 --query-cache 0 || bail "ckptd starts with --query-cache 0"
upload q "epoch=1&loss=0.5" "$WORK/a"
for i in 1 2 3; do
    http GET /v1/runs/q/best
done
expect_json "with --query-cache 0, best answers" ".epoch == 1"
check_eq "  ... with no cache hits" 0 "$(counter hits)"
check_eq "  ... and three misses" 3 "$(counter misses)"
stop_ckptd "ckptd exits 0"
harness_exit
