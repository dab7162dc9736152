#!/usr/bin/env bash
# Queries: get by id, list ordering (created/epoch/step/loss/metric.NAME, asc/desc, nulls last,
# ties by id), cursor pagination, epoch ranges, best, latest, /v1/runs aggregates, DELETE and
# blob reference counting, 404s, 405 with Allow.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
start_ckptd || bail "ckptd starts"

# Fixture run "q" (label: epoch step loss acc):
#   c1: 1 100 0.7 0.7 | c2: 0 50 0.3 0.9 | c3: - - - - | c4: 2 200 0.3 0.9 | c5: 3 30 0.5 0.6 | c6: 4 400 0.4 -
QS=(
    ""
    "epoch=1&step=100&loss=0.7&metric.acc=0.7"
    "epoch=0&step=50&loss=0.3&metric.acc=0.9"
    ""
    "epoch=2&step=200&loss=0.3&metric.acc=0.9"
    "epoch=3&step=30&loss=0.5&metric.acc=0.6"
    "epoch=4&step=400&loss=0.4"
)
ID=(0)
qbytes=0
for i in 1 2 3 4 5 6; do
    rand_file "$WORK/c$i" $((1000 + i))
    qbytes=$((qbytes + 1000 + i))
    upload q "${QS[$i]}" "$WORK/c$i"
    [ "$STATUS" = 201 ] || bail "fixture upload c$i answers 201" "got $STATUS: $(body_head)"
    ID[$i]=$(jbody .id)
    cp "$RESP_BODY" "$WORK/c$i.json"
done
ok "fixture: 6 checkpoints uploaded to run q"
check "ids increase in commit order" bash -c "[ ${ID[1]} -lt ${ID[2]} ] && [ ${ID[2]} -lt ${ID[3]} ] && [ ${ID[3]} -lt ${ID[4]} ] && [ ${ID[4]} -lt ${ID[5]} ] && [ ${ID[5]} -lt ${ID[6]} ]"

# labels "1 2 3" -> "id1 id2 id3"
ids_of()
{
    local l out=
    for l in $1; do out="$out ${ID[$l]}"; done
    echo "${out# }"
}
page_ids()
{
    jq -r '[.checkpoints[].id | tostring] | join(" ")' <"$RESP_BODY" 2>/dev/null
}

# ---- get by id
http GET "/v1/checkpoints/${ID[4]}"
expect_status "GET /v1/checkpoints/{id} answers 200" 200
check "GET /v1/checkpoints/{id} returns the JSON the upload returned" \
    bash -c "[ \"\$(jq -S . '$WORK/c4.json')\" = \"\$(jq -S . '$RESP_BODY')\" ]"
http HEAD "/v1/checkpoints/${ID[4]}"
expect_status "HEAD /v1/checkpoints/{id} answers 200" 200
http GET "/v1/checkpoints/999999999"
expect_error "GET unknown checkpoint answers 404 checkpoint_not_found" 404 checkpoint_not_found
http GET "/v1/checkpoints/999999999/blob"
expect_error "GET unknown checkpoint blob answers 404 checkpoint_not_found" 404 checkpoint_not_found

# ---- ordering
# expect_order QUERY LABELS
expect_order()
{
    http GET "/v1/runs/q/checkpoints${1:+?$1}"
    if [ "$STATUS" != 200 ]; then
        fail "list ?$1 orders $2" "HTTP $STATUS: $(body_head)"
        return
    fi
    check_eq "list ?$1 orders as c: $2 (ids)" "$(ids_of "$2")" "$(page_ids)"
}
expect_order "" "1 2 3 4 5 6"
expect_json "list without more pages has next null" '.next == null'
expect_order "order=desc" "6 5 4 3 2 1"
expect_order "order_by=created" "1 2 3 4 5 6"
expect_order "order_by=created&order=asc" "1 2 3 4 5 6"
expect_order "order_by=created&order=desc" "6 5 4 3 2 1"
expect_order "order_by=epoch" "2 1 4 5 6 3"
expect_order "order_by=epoch&order=desc" "6 5 4 1 2 3"
expect_order "order_by=step" "5 2 1 4 6 3"
expect_order "order_by=step&order=desc" "6 4 1 2 5 3"
expect_order "order_by=loss" "2 4 6 5 1 3"
expect_order "order_by=loss&order=desc" "1 5 6 4 2 3"
expect_order "order_by=metric.acc" "5 1 2 4 3 6"
expect_order "order_by=metric.acc&order=desc" "4 2 1 5 6 3"
expect_order "order_by=metric.nosuch" "1 2 3 4 5 6"
expect_order "order_by=metric.nosuch&order=desc" "6 5 4 3 2 1"
http GET "/v1/runs/q/checkpoints"
expect_json "list entries are full checkpoint JSON" \
    '.checkpoints[0] | ["created_at","epoch","id","loss","metrics","run","sha256","size","step"] - keys == []'
check "list has Content-Type application/json" bash -c "grep -qi '^content-type: *application/json' '$RESP_HDRS'"

# ---- pagination
# expect_pages QUERY LIMIT LABELS: follow next until null; pages concatenate to LABELS.
expect_pages()
{
    local q=$1 lim=$2 want all= cur= pages=0 bad=
    want=$(ids_of "$3")
    while :; do
        pages=$((pages + 1))
        if [ $pages -gt 12 ]; then bad="more than 12 pages"; break; fi
        http GET "/v1/runs/q/checkpoints?${q:+$q&}limit=$lim${cur:+&after=$cur}"
        if [ "$STATUS" != 200 ]; then bad="HTTP $STATUS on page $pages: $(body_head)"; break; fi
        if [ "$(jq '.checkpoints | length' <"$RESP_BODY")" -gt "$lim" ]; then bad="page $pages longer than limit"; break; fi
        all="$all $(page_ids)"
        cur=$(jq -r '.next // empty' <"$RESP_BODY")
        [ -n "$cur" ] || break
        cur=$(jq -rn --arg c "$cur" '$c | @uri')
    done
    all=$(echo $all)
    if [ -z "$bad" ] && [ "$all" = "$want" ]; then
        ok "pages of limit=$lim for ?$q concatenate to the full order"
    else
        fail "pages of limit=$lim for ?$q concatenate to the full order" "$bad" "expected: $want" "actual:   $all"
    fi
}
for lim in 1 2 4; do
    expect_pages "" $lim "1 2 3 4 5 6"
    expect_pages "order=desc" $lim "6 5 4 3 2 1"
    expect_pages "order_by=loss" $lim "2 4 6 5 1 3"
    expect_pages "order_by=loss&order=desc" $lim "1 5 6 4 2 3"
    expect_pages "order_by=metric.acc&order=desc" $lim "4 2 1 5 6 3"
done
expect_pages "order_by=epoch" 1 "2 1 4 5 6 3"
expect_pages "order_by=step&order=desc" 2 "6 4 1 2 5 3"
expect_pages "order_by=metric.acc" 3 "5 1 2 4 3 6"
expect_pages "min_epoch=1&order_by=loss" 1 "4 6 5 1"
# A keyed listing runs as two queries, rows with the key and then rows without it: the page that
# ends on the last keyed row must still point on to the keyless ones, and a keyless cursor pages
# through keyless rows only.
expect_pages "order_by=loss" 5 "2 4 6 5 1 3"
expect_pages "order_by=metric.acc&order=desc" 5 "4 2 1 5 6 3"
expect_pages "order_by=epoch&order=desc" 5 "6 5 4 1 2 3"
expect_pages "order_by=metric.nosuch" 2 "1 2 3 4 5 6"
expect_pages "order_by=metric.nosuch&order=desc" 4 "6 5 4 3 2 1"
http GET "/v1/runs/q/checkpoints?limit=2"
expect_json "first page of limit=2 has a string next cursor" '(.next | type) == "string" and (.checkpoints | length) == 2'

# ---- epoch range
expect_order "min_epoch=1&max_epoch=2" "1 4"
expect_order "min_epoch=3" "5 6"
expect_order "max_epoch=0" "2"
expect_order "min_epoch=2&max_epoch=2" "4"
expect_order "min_epoch=0&order_by=epoch&order=desc" "6 5 4 1 2"
expect_order "min_epoch=3&max_epoch=1" ""
expect_order "min_epoch=5" ""
expect_json "an empty epoch range answers an empty list with next null" '.checkpoints == [] and .next == null'

# ---- best
# expect_best QUERY LABEL
expect_best()
{
    http GET "/v1/runs/q/best${1:+?$1}"
    if [ "$STATUS" = 200 ]; then
        check_eq "best ?$1 is c$2" "${ID[$2]}" "$(jbody .id)"
    else
        fail "best ?$1 is c$2" "HTTP $STATUS: $(body_head)"
    fi
}
expect_best "" 4
expect_best "metric=loss&mode=min" 4
expect_best "mode=max" 1
expect_best "metric=acc&mode=max" 4
expect_best "metric=acc" 5
expect_best "metric=acc&mode=min" 5
http GET "/v1/runs/q/best?metric=nosuch"
expect_error "best with a metric no checkpoint has answers 404 checkpoint_not_found" 404 checkpoint_not_found
http GET "/v1/runs/nosuchrun/best"
expect_error "best of an unknown run answers 404 run_not_found" 404 run_not_found
http GET "/v1/runs/q/best/blob?metric=acc&mode=max"
expect_status "best/blob answers 200" 200
check "best/blob?metric=acc&mode=max returns c4's bytes" cmp -s "$WORK/c4" "$RESP_BODY"
check_eq "best/blob has X-Checkpoint-Id of c4" "${ID[4]}" "$(header X-Checkpoint-Id)"
http GET "/v1/runs/q/best/blob"
check "best/blob (loss, min) returns c4's bytes" cmp -s "$WORK/c4" "$RESP_BODY"
http HEAD "/v1/runs/q/best/blob"
expect_status "HEAD best/blob answers 200" 200
check_eq "HEAD best/blob Content-Length is c4's size" "$(stat -c %s "$WORK/c4")" "$(header Content-Length)"
http GET "/v1/runs/nosuchrun/best/blob"
expect_error "best/blob of an unknown run answers 404 run_not_found" 404 run_not_found

# ---- latest
http GET "/v1/runs/q/latest"
expect_status "latest answers 200" 200
check_eq "latest is the highest id (c6)" "${ID[6]}" "$(jbody .id)"
http GET "/v1/runs/q/latest/blob"
check "latest/blob returns c6's bytes" cmp -s "$WORK/c6" "$RESP_BODY"
http HEAD "/v1/runs/q/latest/blob"
expect_status "HEAD latest/blob answers 200" 200
http GET "/v1/runs/nosuchrun/latest"
expect_error "latest of an unknown run answers 404 run_not_found" 404 run_not_found
http GET "/v1/runs/nosuchrun/latest/blob"
expect_error "latest/blob of an unknown run answers 404 run_not_found" 404 run_not_found
http GET "/v1/runs/nosuchrun/checkpoints"
expect_error "list of an unknown run answers 404 run_not_found" 404 run_not_found
# (An empty page of a known run is 200: "min_epoch=5" above. The run is looked up only when a
# page comes out empty, so cover that for each part of a keyed listing too.)
http GET "/v1/runs/nosuchrun/checkpoints?order_by=metric.acc&limit=1"
expect_error "a keyed list of an unknown run answers 404 run_not_found" 404 run_not_found
http GET "/v1/runs/nosuchrun/checkpoints?min_epoch=5&order=desc"
expect_error "a filtered list of an unknown run answers 404 run_not_found" 404 run_not_found

# ---- /v1/runs
rand_file "$WORK/a1" 10
rand_file "$WORK/a2" 20
upload a-run "" "$WORK/a1"
upload a-run "" "$WORK/a2"
a_latest=$(jbody .created_at)
rand_file "$WORK/m1" 30
upload m.run "epoch=7&loss=2" "$WORK/m1"
http GET /v1/runs
expect_status "GET /v1/runs answers 200" 200
expect_json "runs are sorted by name" '[.runs[].run] == ["a-run","m.run","q"]'
expect_json "each run entry has run, checkpoints, bytes, best_loss, latest_epoch, updated_at" \
    'all(.runs[]; ["best_loss","bytes","checkpoints","latest_epoch","run","updated_at"] - keys == [])'
expect_json "run q: 6 checkpoints, best_loss 0.3, latest_epoch 4" \
    '.runs[] | select(.run == "q") | .checkpoints == 6 and .best_loss == 0.3 and .latest_epoch == 4'
check_eq "run q: bytes is the sum of its checkpoint sizes" "$qbytes" "$(jbody '.runs[] | select(.run == "q") | .bytes')"
expect_json "run without loss/epoch: best_loss and latest_epoch null, 2 checkpoints, 30 bytes" \
    '.runs[] | select(.run == "a-run") | .best_loss == null and .latest_epoch == null and .checkpoints == 2 and .bytes == 30'
check_eq "run a-run: updated_at is its latest checkpoint's created_at" "$a_latest" "$(jbody '.runs[] | select(.run == "a-run") | .updated_at')"
check_match "updated_at is RFC 3339 with milliseconds" '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z' \
    "$(jbody '.runs[] | select(.run == "m.run") | .updated_at')"
http HEAD /v1/runs
expect_status "HEAD /v1/runs answers 200" 200

# run names are case-sensitive
upload Case "" "$WORK/a1"
upload case "" "$WORK/a2"
upload case "" "$WORK/a1"
http GET /v1/runs
check_eq "runs Case and case are distinct (1 and 2 checkpoints)" "1 2" \
    "$(jbody '[(.runs[] | select(.run == "Case") | .checkpoints), (.runs[] | select(.run == "case") | .checkpoints)] | map(tostring) | join(" ")')"

# ---- DELETE and blob reference counting
rand_file "$WORK/x" 5000
rand_file "$WORK/y" 6000
hx=$(sha256_hex "$WORK/x")
hy=$(sha256_hex "$WORK/y")
upload d "epoch=1" "$WORK/x"; d1=$(jbody .id)
upload d "epoch=2" "$WORK/x"; d2=$(jbody .id)
upload d "epoch=3" "$WORK/y"; d3=$(jbody .id)
upload keep "" "$WORK/y"; k1=$(jbody .id)
check "shared blob x exists before any delete" test -f "$(blob_path "$hx")"

http DELETE "/v1/checkpoints/$d1"
expect_status "DELETE /v1/checkpoints/{id} answers 204" 204
check "DELETE 204 has no body" test ! -s "$RESP_BODY"
http GET "/v1/checkpoints/$d1"
expect_error "GET a deleted checkpoint answers 404 checkpoint_not_found" 404 checkpoint_not_found
http GET "/v1/checkpoints/$d1/blob"
expect_error "GET a deleted checkpoint's blob answers 404 checkpoint_not_found" 404 checkpoint_not_found
http DELETE "/v1/checkpoints/$d1"
expect_error "DELETE an already deleted checkpoint answers 404 checkpoint_not_found" 404 checkpoint_not_found
check "blob still on disk while another checkpoint references it" test -f "$(blob_path "$hx")"
http GET "/v1/checkpoints/$d2/blob"
check "the other checkpoint still downloads the shared blob" cmp -s "$WORK/x" "$RESP_BODY"
http DELETE "/v1/checkpoints/$d2"
expect_status "DELETE the last reference answers 204" 204
check "blob file removed once unreferenced" test ! -e "$(blob_path "$hx")"

http GET /v1/runs/d/latest
check_eq "latest of run d is d3 before deleting it" "$d3" "$(jbody .id)"
http DELETE "/v1/checkpoints/$d3"
expect_status "DELETE a checkpoint whose blob another run uses answers 204" 204
check "blob shared with another run stays on disk" test -f "$(blob_path "$hy")"
http GET "/v1/checkpoints/$k1/blob"
check "the other run's checkpoint still downloads the shared blob" cmp -s "$WORK/y" "$RESP_BODY"
http GET /v1/runs/d/checkpoints
expect_error "a run whose checkpoints are all deleted answers 404 run_not_found" 404 run_not_found
http GET /v1/runs
expect_json "/v1/runs no longer lists the emptied run" '[.runs[].run] | index("d") == null'
http DELETE "/v1/checkpoints/$k1"
check "blob removed after its last reference in any run is deleted" test ! -e "$(blob_path "$hy")"

http DELETE "/v1/checkpoints/${ID[6]}"
http GET /v1/runs/q/latest
check_eq "latest falls back to the previous checkpoint after deleting the newest" "${ID[5]}" "$(jbody .id)"
http GET /v1/runs
expect_json "run q aggregates follow the delete (5 checkpoints, latest_epoch 3)" \
    '.runs[] | select(.run == "q") | .checkpoints == 5 and .latest_epoch == 3'

# ---- ids are never reused
rand_file "$WORK/r1" 700
upload reuse "" "$WORK/r1"
r1=$(jbody .id)
http DELETE "/v1/checkpoints/$r1"
upload reuse "" "$WORK/r1"
r2=$(jbody .id)
check "an upload after deleting the newest checkpoint gets a larger id (ids never reused)" [ "$r2" -gt "$r1" ]
http GET "/v1/checkpoints/$r1"
expect_error "the deleted id still answers 404 after a new upload" 404 checkpoint_not_found

# ---- HEAD is evaluated like GET (same status and Content-Length, no body)
for p in "/v1/checkpoints/${ID[2]}" /v1/runs/q/checkpoints /v1/runs /v1/runs/q/latest /v1/runs/q/best /healthz; do
    http GET "$p"
    glen=$(stat -c %s "$RESP_BODY")
    gst=$STATUS
    http HEAD "$p"
    check_eq "HEAD $p: same status and Content-Length as GET" "$gst $glen" "$STATUS $(header Content-Length)"
done
http HEAD /v1/runs/nosuchrun/latest
expect_status "HEAD of an unknown run answers 404 like GET" 404

# ---- default page size is 100
# Checkpoint i has i % 4 metrics (a = i, b = i + 0.5, c = -i): a page's metrics are read in
# chunks of rows, and every row must get its own, including rows with none.
for i in $(seq 1 101); do
    printf 'many %s\n' "$i" >"$WORK/many"
    m=
    [ $((i % 4)) -ge 1 ] && m="$m&metric.a=$i"
    [ $((i % 4)) -ge 2 ] && m="$m&metric.b=$i.5"
    [ $((i % 4)) -ge 3 ] && m="$m&metric.c=-$i"
    curl -s -o /dev/null -T "$WORK/many" "$BASE/v1/runs/many/checkpoints?step=$i$m"
done
many_metrics='def want: (.step % 4) as $k | {} + (if $k >= 1 then {a: .step} else {} end)
    + (if $k >= 2 then {b: (.step + 0.5)} else {} end) + (if $k >= 3 then {c: (0 - .step)} else {} end);
    [.checkpoints[] | select(.metrics != want)] == []'
for q in "limit=1000" "limit=1000&order=desc" "limit=37&order_by=step&order=desc"; do
    http GET "/v1/runs/many/checkpoints?$q"
    expect_json "?$q: every listed checkpoint carries its own metrics" "$many_metrics"
done
http GET "/v1/runs/many/best?metric=c&mode=min"
expect_json "best?metric=c&mode=min is step 99 with its three metrics, in name order" \
    '.step == 99 and (.metrics | keys_unsorted) == ["a","b","c"] and .metrics == {a: 99, b: 99.5, c: -99}'
http GET "/v1/runs/many/best?metric=a&mode=max"
expect_json "best?metric=a&mode=max is step 101 with its one metric" '.step == 101 and .metrics == {a: 101}'
http GET "/v1/runs/many/checkpoints?limit=1000"
check_eq "a listing's metrics are in name order, as GET by id gives them" \
    "$(curl -s "$BASE/v1/checkpoints/$(jbody '.checkpoints[2].id')" | jq -c '.metrics | keys_unsorted')" \
    "$(jbody '.checkpoints[2].metrics | keys_unsorted' | jq -c .)"
http GET /v1/runs/many/checkpoints
expect_json "without limit a page holds 100 checkpoints and a next cursor" \
    '(.checkpoints | length) == 100 and (.next | type) == "string"'
cur=$(jq -rn --arg c "$(jbody .next)" '$c | @uri')
http GET "/v1/runs/many/checkpoints?after=$cur"
expect_json "the second default page holds the 101st checkpoint and next null" \
    '(.checkpoints | length) == 1 and .checkpoints[0].step == 101 and .next == null'
http GET "/v1/runs/many/checkpoints?limit=1000"
expect_json "limit=1000 returns all 101 with next null" '(.checkpoints | length) == 101 and .next == null'

# ---- unknown routes
for p in / /v1 /v1/nope /v1/runs/q /v1/runs/q/nope /v1/checkpoints /v1/checkpoints/${ID[1]}/blob/x /healthz/x; do
    http GET "$p"
    expect_error "GET $p answers 404 not_found" 404 not_found
done

# ---- wrong methods: 405 + Allow
# expect_405 METHOD PATH METHODS-THAT-MUST-BE-ALLOWED METHOD-THAT-MUST-NOT
expect_405()
{
    local allow m missing=
    http "$1" "$2"
    allow=$(header Allow)
    for m in $3; do
        printf '%s' "$allow" | grep -Eq "(^|[ ,])$m(,|$| )" || missing="$missing $m"
    done
    if printf '%s' "$allow" | grep -Eq "(^|[ ,])$4(,|$| )"; then missing="$missing (lists $4)"; fi
    expect_error "$1 $2 answers 405 method_not_allowed" 405 method_not_allowed
    if [ -n "$allow" ] && [ -z "$missing" ]; then
        ok "$1 $2: Allow lists $3"
    else
        fail "$1 $2: Allow lists $3" "Allow: '$allow' missing:$missing"
    fi
}
expect_405 DELETE /v1/runs "GET HEAD" DELETE
expect_405 POST "/v1/checkpoints/${ID[1]}" "GET HEAD DELETE" POST
expect_405 PUT "/v1/checkpoints/${ID[1]}/blob" "GET HEAD" PUT
expect_405 DELETE /v1/runs/q/checkpoints "GET HEAD PUT POST" DELETE
expect_405 POST /healthz "GET HEAD" POST
expect_405 PUT /v1/runs/q/latest "GET HEAD" PUT
expect_405 PATCH /v1/runs/q/best/blob "GET HEAD" PATCH

# Ties on the best loss: the newest checkpoint with it wins, for min and for max.
for i in 1 2 3; do
    rand_file "$WORK/tie$i" 100
    upload ties "epoch=$i&loss=0.25" "$WORK/tie$i"
    TIE[$i]=$(jbody .id)
done
upload ties "epoch=4&loss=0.75" "$WORK/tie1"
http GET /v1/runs/ties/best
check_eq "three checkpoints share the lowest loss: best is the newest of them" "${TIE[3]}" "$(jbody .id)"
upload ties "epoch=5&loss=0.75" "$WORK/tie2"
TOP=$(jbody .id)
http GET "/v1/runs/ties/best?mode=max"
check_eq "two share the highest loss: best?mode=max is the newer" "$TOP" "$(jbody .id)"

# The same for a named metric; a lower value in another run does not count.
upload ties-other "metric.acc=0.1" "$WORK/tie1"
for i in 1 2 3; do
    upload mties "epoch=$i&metric.acc=0.5" "$WORK/tie$i"
    MTIE[$i]=$(jbody .id)
done
upload mties "epoch=4&metric.acc=0.9" "$WORK/tie1"
upload mties "epoch=5" "$WORK/tie2"
http GET "/v1/runs/mties/best?metric=acc"
check_eq "three share the lowest acc: best?metric=acc is the newest of them" "${MTIE[3]}" "$(jbody .id)"
upload mties "epoch=6&metric.acc=0.9" "$WORK/tie2"
TOP=$(jbody .id)
upload mties "epoch=7&metric.acc=0.7" "$WORK/tie3"
http GET "/v1/runs/mties/best?metric=acc&mode=max"
check_eq "two share the highest acc: best?metric=acc&mode=max is the newer" "$TOP" "$(jbody .id)"

stop_ckptd
