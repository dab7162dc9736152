#!/usr/bin/env bash
# Uploads: PUT and POST, Content-Length and chunked bodies, metadata round-trip, 201 + Location,
# the checkpoint JSON, created_at, dedup on disk, empty bodies.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
start_ckptd || bail "ckptd starts"

TS_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'

# A body with bytes a form parser would trip on: NUL, '&', '=', '%', newlines, high bytes.
printf 'a=1&b=%%00\0\r\n--x\r\n' >"$WORK/f1"
rand_file "$WORK/rnd" 200000
cat "$WORK/rnd" >>"$WORK/f1"
sha1=$(sha256_hex "$WORK/f1")
size1=$(stat -c %s "$WORK/f1")

# ---- PUT with curl -T file, full metadata
before=$(now_ms)
upload resnet "epoch=5&step=1000&loss=0.31&metric.val_acc=0.91&metric.top-5_acc=0.5&metric.val.acc=0.25" "$WORK/f1"
after=$(now_ms)
expect_status "PUT curl -T file answers 201" 201
id1=$(jbody .id)
check_eq "201 has Location: /v1/checkpoints/{id}" "/v1/checkpoints/$id1" "$(header Location)"
check "201 has Content-Type application/json" bash -c "grep -qi '^content-type: *application/json' '$RESP_HDRS'"
expect_json "checkpoint JSON has all the contract's fields" \
    '["created_at","epoch","id","loss","metrics","run","sha256","size","step"] - keys == []'
expect_json "id is a positive integer" '.id | type == "number" and . >= 1 and . == floor'
expect_json "run, epoch, step, loss round-trip" '.run == "resnet" and .epoch == 5 and .step == 1000 and .loss == 0.31'
expect_json "metrics round-trip (names with . _ -)" '.metrics == {"val_acc":0.91,"top-5_acc":0.5,"val.acc":0.25}'
check_eq "size is the body length" "$size1" "$(jbody .size)"
check_eq "sha256 is the body's lowercase hex SHA-256" "$sha1" "$(jbody .sha256)"
created=$(jbody .created_at)
check_match "created_at is RFC 3339 UTC with milliseconds" "$TS_RE" "$created"
check "created_at lies between the request's start and end" \
    bash -c '[[ ! "$2" < "$1" && ! "$3" < "$2" ]]' _ "$before" "$created" "$after"
check "loss printed as shortest round-trip (0.31)" grep -Eq '"loss" *: *0\.31[,} ]' "$RESP_BODY"
cp "$RESP_BODY" "$WORK/c1.json"

http GET "/v1/checkpoints/$id1"
expect_status "GET the Location answers 200" 200
check "GET the Location returns the same JSON as the 201" \
    bash -c "[ \"\$(jq -S . '$WORK/c1.json')\" = \"\$(jq -S . '$RESP_BODY')\" ]"

http GET "/v1/checkpoints/$id1/blob"
expect_status "GET blob answers 200" 200
check "downloaded blob equals the uploaded file (PUT -T)" cmp -s "$WORK/f1" "$RESP_BODY"

bp=$(blob_path "$sha1")
check "blob stored at DATA/blobs/<2 hex>/<sha256>" test -f "$bp"
check "stored blob file equals the upload" cmp -s "$WORK/f1" "$bp"
check "DATA/tmp is empty after a finished upload" tmp_is_empty

# ---- no metadata: nulls and {}
rand_file "$WORK/f2" 1000
upload plain "" "$WORK/f2"
expect_status "PUT without query answers 201" 201
expect_json "epoch/step/loss are null and metrics {} when not given" \
    '.epoch == null and .step == null and .loss == null and .metrics == {}'

# ---- number forms
rand_file "$WORK/f3" 1001
upload nums "epoch=0&step=9223372036854775807&loss=1e+5&metric.m=0%2E5&metric.neg=-1.5&metric.tiny=1e-7" "$WORK/f3"
expect_status "PUT with boundary numbers answers 201" 201
expect_json "epoch=0 is kept (not null)" '.epoch == 0'
check "step=2^63-1 round-trips exactly" grep -Eq '"step" *: *9223372036854775807[,} ]' "$RESP_BODY"
expect_json "loss=1e+5 ('+' taken literally) is 100000" '.loss == 100000'
expect_json "percent-encoded value metric.m=0%2E5 is 0.5" '.metrics.m == 0.5'
expect_json "negative and exponent metric values round-trip" '.metrics.neg == -1.5 and .metrics.tiny == 1e-7'
rand_file "$WORK/f3b" 1002
upload nums "loss=0.1" "$WORK/f3b"
check "loss=0.1 printed as 0.1 (shortest round-trip)" grep -Eq '"loss" *: *0\.1[,} ]' "$RESP_BODY"
rand_file "$WORK/f3c" 1003
upload nums "loss=1.7976931348623157e308&metric.sub=5e-324&metric.big=1e22" "$WORK/f3c"
expect_status "extreme finite values (max double, smallest subnormal) are accepted" 201
expect_json "extreme values round-trip exactly" \
    '.loss == 1.7976931348623157e308 and .metrics.sub == 5e-324 and .metrics.big == 1e22'

# 64 metrics is the maximum allowed
q=
for i in $(seq 1 64); do q="$q&metric.m$i=$i"; done
rand_file "$WORK/f64" 100
upload nums "${q#&}" "$WORK/f64"
expect_status "PUT with 64 metrics answers 201" 201
expect_json "all 64 metrics are stored" '(.metrics | length) == 64 and .metrics.m64 == 64'

# a 128-character run name is the longest allowed
long=r$(printf 'x%.0s' $(seq 1 127))
rand_file "$WORK/f128" 100
upload "$long" "" "$WORK/f128"
expect_status "PUT to a 128-character run name answers 201" 201
check_eq "128-character run name round-trips" "$long" "$(jbody .run)"

# ---- POST with --data-binary (form content type must not be parsed)
rand_file "$WORK/f4" 5000
printf '&x=y&%%zz' >>"$WORK/f4"
http POST "/v1/runs/posted/checkpoints?epoch=1" --data-binary "@$WORK/f4"
expect_status "POST --data-binary (application/x-www-form-urlencoded) answers 201" 201
id4=$(jbody .id)
check_eq "POST sha256 matches the body" "$(sha256_hex "$WORK/f4")" "$(jbody .sha256)"
http GET "/v1/checkpoints/$id4/blob"
check "POST body is stored verbatim" cmp -s "$WORK/f4" "$RESP_BODY"

# multipart content type is not parsed either
rand_file "$WORK/f5" 3000
http POST "/v1/runs/posted/checkpoints" --data-binary "@$WORK/f5" \
    -H 'Content-Type: multipart/form-data; boundary=xyz'
expect_status "POST with a multipart Content-Type answers 201" 201
id5=$(jbody .id)
http GET "/v1/checkpoints/$id5/blob"
check "multipart-typed body is stored verbatim" cmp -s "$WORK/f5" "$RESP_BODY"

# ---- chunked upload from stdin
rand_file "$WORK/f6" 3000000
http PUT "/v1/runs/chunked/checkpoints?step=7" -T - <"$WORK/f6"
expect_status "chunked upload (curl -T -) answers 201" 201
id6=$(jbody .id)
check_eq "chunked upload size is right" 3000000 "$(jbody .size)"
check_eq "chunked upload sha256 is right" "$(sha256_hex "$WORK/f6")" "$(jbody .sha256)"
http GET "/v1/checkpoints/$id6/blob"
check "chunked upload is stored verbatim" cmp -s "$WORK/f6" "$RESP_BODY"

# chunked POST with a slow producer (several chunks over time)
( for i in 1 2 3 4; do head -c 70000 "$WORK/rnd"; sleep 0.2; done ) >"$WORK/f7"
http POST "/v1/runs/chunked/checkpoints" -T - \
    < <(for i in 1 2 3 4; do head -c 70000 "$WORK/rnd"; sleep 0.2; done)
expect_status "chunked POST from a slow pipe answers 201" 201
check_eq "chunked POST from a slow pipe has the right sha256" "$(sha256_hex "$WORK/f7")" "$(jbody .sha256)"

# one-byte body
printf 'x' >"$WORK/one"
upload tiny "" "$WORK/one"
expect_status "1-byte upload answers 201" 201
check_eq "1-byte upload has size 1" 1 "$(jbody .size)"

# ---- dedup: identical bytes uploaded twice are stored once
nb=$(blob_count)
upload resnet "epoch=6" "$WORK/f1"
expect_status "re-uploading identical bytes answers 201" 201
idd=$(jbody .id)
check "identical upload gets a new id" [ "$idd" != "$id1" ]
check_eq "identical upload has the same sha256" "$sha1" "$(jbody .sha256)"
upload other-run "" "$WORK/f1"
expect_status "identical bytes in another run answers 201" 201
check_eq "identical bytes are stored once in DATA/blobs (blob count unchanged)" "$nb" "$(blob_count)"
check_eq "exactly one file holds that sha256" 1 "$(find "$DATA/blobs" -type f -name "$sha1" | wc -l)"
http GET "/v1/checkpoints/$idd/blob"
check "deduplicated checkpoint downloads the same bytes" cmp -s "$WORK/f1" "$RESP_BODY"
http GET "/v1/checkpoints/$id1"
expect_json "first checkpoint's metadata is unchanged by the duplicate" '.epoch == 5 and .run == "resnet"'

# ---- empty bodies
nb=$(blob_count)
: >"$WORK/empty"
upload emptyrun "epoch=1" "$WORK/empty"
expect_error "empty body with Content-Length: 0 answers 400 empty_body" 400 empty_body
http PUT "/v1/runs/emptyrun/checkpoints" -H 'Content-Length: 0'
expect_error "PUT without a body answers 400 empty_body" 400 empty_body
http POST "/v1/runs/emptyrun/checkpoints"
expect_error "POST without a body answers 400 empty_body" 400 empty_body
http PUT "/v1/runs/emptyrun/checkpoints" -T - </dev/null
expect_error "empty chunked body answers 400 empty_body" 400 empty_body
http GET /v1/runs/emptyrun/checkpoints
expect_error "empty uploads create no run (404 run_not_found)" 404 run_not_found
check_eq "empty uploads store no blob" "$nb" "$(blob_count)"
check "DATA/tmp is empty after the rejected uploads" wait_for 3 tmp_is_empty

stop_ckptd
