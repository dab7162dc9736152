#!/usr/bin/env bash
# GET /metrics: the Prometheus text format 0.0.4 checked line by line by a strict grammar
# (tests/lib/promcheck.py, which is itself shown to reject broken input), every documented metric
# present, counters that move after uploads, downloads, 404s and a digest mismatch, route labels
# that are patterns (never raw paths), the index gauges (logical vs physical bytes after a
# duplicate upload), uploads in flight during a slow upload, and the token rule: /metrics needs a
# read token once tokens exist.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
PROMCHECK=$HARNESS_ROOT/tests/lib/promcheck.py

# ---------------------------------------------------------------- the checker rejects what it must
bad_case()
{
    local desc=$1
    printf '%b' "$2" >"$WORK/bad.txt"
    if "$PY" "$PROMCHECK" check "$WORK/bad.txt" >"$WORK/bad.out" 2>&1; then
        fail "the grammar checker rejects $desc" "it accepted: $2"
    else
        ok "the grammar checker rejects $desc ($(head -n 1 "$WORK/bad.out"))"
    fi
}
GOOD='# HELP ckptd_x_total X.\n# TYPE ckptd_x_total counter\nckptd_x_total{a="b\\\\\\"c\\\\n"} 3\n'
printf '%b' "$GOOD" >"$WORK/good.txt"
check "the grammar checker accepts a valid counter with escaped label values" \
    "$PY" "$PROMCHECK" check "$WORK/good.txt"
bad_case "a sample before its # TYPE" 'ckptd_x_total 1\n# HELP ckptd_x_total X.\n# TYPE ckptd_x_total counter\n'
bad_case "a metric name starting with a digit" '# HELP 1x X.\n# TYPE 1x gauge\n1x 1\n'
bad_case "a bad escape in a label value" '# HELP ckptd_g G.\n# TYPE ckptd_g gauge\nckptd_g{a="\\q"} 1\n'
bad_case "an unquoted label value" '# HELP ckptd_g G.\n# TYPE ckptd_g gauge\nckptd_g{a=b} 1\n'
bad_case "a value that is not a float" '# HELP ckptd_g G.\n# TYPE ckptd_g gauge\nckptd_g 1,5\n'
bad_case "a missing final newline" '# HELP ckptd_g G.\n# TYPE ckptd_g gauge\nckptd_g 1'
bad_case "a duplicate series" '# HELP ckptd_g G.\n# TYPE ckptd_g gauge\nckptd_g{a="1"} 1\nckptd_g{a="1"} 2\n'
H='# HELP ckptd_h H.\n# TYPE ckptd_h histogram\n'
bad_case "histogram buckets that decrease" \
    "${H}"'ckptd_h_bucket{le="1"} 5\nckptd_h_bucket{le="2"} 4\nckptd_h_bucket{le="+Inf"} 5\nckptd_h_sum 1\nckptd_h_count 5\n'
bad_case "a histogram whose +Inf bucket differs from _count" \
    "${H}"'ckptd_h_bucket{le="1"} 1\nckptd_h_bucket{le="+Inf"} 2\nckptd_h_sum 1\nckptd_h_count 3\n'
bad_case "a histogram without a +Inf bucket" \
    "${H}"'ckptd_h_bucket{le="1"} 1\nckptd_h_sum 1\nckptd_h_count 1\n'

# ---------------------------------------------------------------- the exposition
start_ckptd || bail "ckptd starts"
T0=$(date +%s)

# scrape NAME: GET /metrics into $WORK/NAME.prom and check it against the grammar.
scrape()
{
    http GET /metrics
    cp "$RESP_BODY" "$WORK/$1.prom"
    if [ "$STATUS" = 200 ] && "$PY" "$PROMCHECK" check "$WORK/$1.prom" >"$WORK/$1.check" 2>&1; then
        ok "scrape '$1': HTTP 200 and the text passes the strict grammar ($(cat "$WORK/$1.check"))"
    else
        fail "scrape '$1': HTTP 200 and the text passes the strict grammar" "HTTP $STATUS" \
            "$(head -n 5 "$WORK/$1.check")"
    fi
}
# val SCRAPE NAME [L=V...]: the summed value of matching samples in scrape SCRAPE.
val()
{
    local s=$1
    shift
    "$PY" "$PROMCHECK" value "$WORK/$s.prom" "$@"
}

scrape first
check_match "Content-Type is text/plain; version=0.0.4" 'text/plain; version=0\.0\.4(; charset=utf-8)?' "$(header Content-Type)"
for m in ckptd_build_info ckptd_start_time_seconds ckptd_http_requests_total \
    ckptd_http_request_duration_seconds ckptd_http_request_bytes_total \
    ckptd_http_response_bytes_total ckptd_uploads_in_flight ckptd_digest_mismatches_total \
    ckptd_fsync_failures_total ckptd_read_only ckptd_checkpoints ckptd_logical_bytes \
    ckptd_physical_bytes ckptd_disk_free_bytes ckptd_index_bytes; do
    check "metric $m has a # TYPE line" grep -q "^# TYPE $m " "$WORK/first.prom"
done
check_eq "the scrub is idle and its last-run gauges are left out until a scrub completes" \
    "ckptd_scrub_running 0" "$(grep -E '^ckptd_scrub_(running|last_)' "$WORK/first.prom")"
version=$("$CKPTD" --version | awk '{print $2}')
check_eq "ckptd_build_info carries the version of ckptd --version" \
    "ckptd_build_info{version=\"$version\"} 1" "$(grep '^ckptd_build_info' "$WORK/first.prom")"
start=$(val first ckptd_start_time_seconds)
start=${start%.*}
check "ckptd_start_time_seconds is the start time ($start vs test clock $T0)" \
    bash -c "[ $((start - T0)) -le 2 ] && [ $((T0 - start)) -le 30 ]"
check_eq "ckptd_read_only is 0" 0 "$(val first ckptd_read_only)"
check_eq "ckptd_fsync_failures_total is 0" 0 "$(val first ckptd_fsync_failures_total)"
check_eq "ckptd_checkpoints is 0 on an empty store" 0 "$(val first ckptd_checkpoints)"
check "ckptd_disk_free_bytes is positive" [ "$(val first ckptd_disk_free_bytes)" -gt 0 ]
check "ckptd_index_bytes is positive" [ "$(val first ckptd_index_bytes)" -gt 0 ]
check_eq "the histogram has the 15 documented buckets plus +Inf per route" \
    '0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 +Inf' \
    "$(grep '^ckptd_http_request_duration_seconds_bucket{route="/healthz"' "$WORK/first.prom" |
        sed -E 's/.*le="([^"]*)".*/\1/' | paste -sd ' ')"

# ---------------------------------------------------------------- counters move
rand_file "$WORK/a" 123457
SHA=$(sha256_hex "$WORK/a")
upload m1 "epoch=1" "$WORK/a" -H "X-Checkpoint-SHA256: $SHA"
expect_status "upload answers 201" 201
ID=$(jbody .id)
http GET "/v1/checkpoints/$ID/blob"
expect_status "download answers 200" 200
http HEAD "/v1/checkpoints/$ID/blob"
expect_status "HEAD of the blob answers 200" 200
http GET /v1/checkpoints/987654
expect_status "an unknown checkpoint answers 404" 404
http GET /no/such/endpoint/987654
expect_status "an unknown path answers 404" 404
upload m1 "epoch=2" "$WORK/a" -H "X-Checkpoint-SHA256: $(printf '%064d' 0)"
expect_error "an upload with the wrong SHA-256 answers 400 digest_mismatch" 400 digest_mismatch
# The same bytes under another run: stored once.
upload m2 "epoch=1" "$WORK/a"
expect_status "a second upload of the same bytes answers 201" 201
sleep 2.1 # the index totals are cached for up to 2 s
scrape second

# delta NAME L=V...: the change of a sample between the first and second scrape.
delta()
{
    echo $(($(val second "$@") - $(val first "$@")))
}
R=route=/v1/runs/:run/checkpoints
B=route=/v1/checkpoints/:id/blob
check_eq "PUT 201 on $R counted once per upload" 2 "$(delta ckptd_http_requests_total $R method=PUT status=201)"
check_eq "PUT 400 on $R (the digest mismatch) counted" 1 "$(delta ckptd_http_requests_total $R method=PUT status=400)"
check_eq "GET 200 on $B counted" 1 "$(delta ckptd_http_requests_total $B method=GET status=200)"
check_eq "HEAD 200 on $B counted under method HEAD" 1 "$(delta ckptd_http_requests_total $B method=HEAD status=200)"
check_eq "GET 404 on /v1/checkpoints/:id counted under the pattern" 1 \
    "$(delta ckptd_http_requests_total route=/v1/checkpoints/:id method=GET status=404)"
check_eq "GET 404 on an unknown path counted under route=\"other\"" 1 \
    "$(delta ckptd_http_requests_total route=other method=GET status=404)"
check_eq "ckptd_digest_mismatches_total counts the mismatch" 1 "$(delta ckptd_digest_mismatches_total)"
check_eq "the upload route's request bytes grew by the three bodies" $((3 * 123457)) \
    "$(delta ckptd_http_request_bytes_total $R)"
check_eq "the blob route's response bytes grew by one body (HEAD sends none)" 123457 \
    "$(delta ckptd_http_response_bytes_total $B)"
check_eq "the upload route's histogram count grew by 3" 3 \
    "$(delta ckptd_http_request_duration_seconds_count $R)"
check "the upload route's duration sum grew" \
    "$PY" -c "import sys; sys.exit(not float(sys.argv[2]) > float(sys.argv[1]))" \
    "$(val first ckptd_http_request_duration_seconds_sum $R)" "$(val second ckptd_http_request_duration_seconds_sum $R)"
check_eq "the /metrics scrape itself is counted" 1 \
    "$(val second ckptd_http_requests_total route=/metrics method=GET status=200)"
check_eq "ckptd_checkpoints is 2" 2 "$(val second ckptd_checkpoints)"
check_eq "ckptd_logical_bytes counts both checkpoints" $((2 * 123457)) "$(val second ckptd_logical_bytes)"
check_eq "ckptd_physical_bytes counts the shared blob once" 123457 "$(val second ckptd_physical_bytes)"
check "no label carries a raw path or id (bounded cardinality)" \
    bash -c "! grep -Eq '987654|/no/such|/m1/|/m2/' '$WORK/second.prom'"
# The patterns of the route table (daemon/router.c), each as a label.
grep -Eo '^ *\{M_[A-Z_ |]+, "/[^"]*"' "$HARNESS_ROOT/daemon/router.c" | grep -o '"/[^"]*"' |
    sed 's/^/route=/' | sort -u >"$WORK/route-labels"
echo 'route="other"' >>"$WORK/route-labels"
check "the route table has at least 12 patterns" [ "$(wc -l <"$WORK/route-labels")" -ge 12 ]
check_eq "route labels are the route patterns and \"other\"" "" \
    "$(grep -o 'route="[^"]*"' "$WORK/second.prom" | sort -u | grep -vxF -f "$WORK/route-labels")"
http GET "/metrics?x=1"
expect_error "/metrics with a query parameter answers 400 unknown_parameter" 400 unknown_parameter

# ---------------------------------------------------------------- no count lost under concurrency
# 400 requests from 8 parallel clients on 4 event threads: the lock-free counters lose none.
curl -s "$BASE/metrics" >"$WORK/c0.prom"
seq 400 | xargs -P 8 -I{} curl -s -o /dev/null "$BASE/v1/runs/m1/latest?n={}" 2>/dev/null
cval() { "$PY" "$PROMCHECK" value "$WORK/$1.prom" "${@:2}"; }
# A request is counted when it completes, just after its answer went out: poll briefly.
counted_400()
{
    curl -s "$BASE/metrics" >"$WORK/c1.prom"
    [ $(($(cval c1 ckptd_http_requests_total route=/v1/runs/:run/latest method=GET status=400) -
        $(cval c0 ckptd_http_requests_total route=/v1/runs/:run/latest method=GET status=400))) -ge 400 ]
}
wait_for 3 counted_400
check_eq "400 concurrent requests (400 unknown_parameter answers) count exactly 400" 400 \
    $(($(cval c1 ckptd_http_requests_total route=/v1/runs/:run/latest method=GET status=400) -
        $(cval c0 ckptd_http_requests_total route=/v1/runs/:run/latest method=GET status=400)))
check_eq "and the route's histogram count grew by exactly 400" 400 \
    $(($(cval c1 ckptd_http_request_duration_seconds_count route=/v1/runs/:run/latest) -
        $(cval c0 ckptd_http_request_duration_seconds_count route=/v1/runs/:run/latest)))

# ---------------------------------------------------------------- uploads in flight
rand_file "$WORK/slow" 600000
curl -s -o /dev/null --limit-rate 100K --max-time 30 -T "$WORK/slow" "$BASE/v1/runs/slow/checkpoints" &
SLOW=$!
inflight_is()
{
    curl -s "$BASE/metrics" >"$WORK/if.prom" && [ "$("$PY" "$PROMCHECK" value "$WORK/if.prom" ckptd_uploads_in_flight)" = "$1" ]
}
check "ckptd_uploads_in_flight is 1 during a slow upload" wait_for 5 inflight_is 1
wait "$SLOW"
check "ckptd_uploads_in_flight is back to 0 after it" wait_for 5 inflight_is 0

# ---------------------------------------------------------------- tokens
READ=$("$CKPTD" token add scraper --role read --data "$DATA" 2>/dev/null)
http GET /metrics
expect_error "once a token exists, /metrics without one answers 401" 401 unauthorized
http GET /metrics -H "Authorization: Bearer $READ"
expect_status "/metrics with a read token answers 200" 200
cp "$RESP_BODY" "$WORK/third.prom"
if [ "$(val third ckptd_http_requests_total route=/metrics method=GET status=401)" != 1 ]; then
    sleep 0.5 # counted at completion, just after the answer: scrape once more
    http GET /metrics -H "Authorization: Bearer $READ"
    cp "$RESP_BODY" "$WORK/third.prom"
fi
check "the authenticated scrape passes the grammar" "$PY" "$PROMCHECK" check "$WORK/third.prom"
check_eq "the refused scrape is counted as GET 401 on /metrics" 1 \
    "$(val third ckptd_http_requests_total route=/metrics method=GET status=401)"
http GET /healthz
expect_status "/healthz stays open without a token" 200
stop_ckptd
