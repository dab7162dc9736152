#!/usr/bin/env bash
# Resume, pins and reader leases (issue 5). GET /v1/runs/RUN/resume[/blob] is the newest committed
# checkpoint that is not corrupt: with the newest blob truncated while ckptd is stopped, the
# recovery scan flags it and resume skips to the previous good one. Pins and unpins are
# idempotent; a lease keeps a checkpoint from retention until it is released or expires (ttl 1 s
# here); leases need only a read token, pins a write token, and scoped tokens stay in their runs.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
D=$(new_tmpdir)
start_ckptd_on "$D" || bail "ckptd starts"

up()
{
    rand_file "$WORK/u" 3000
    upload "$1" "$2" "$WORK/u"
    [ "$STATUS" = 201 ] || fail "upload to $1 ($2) answers 201" "HTTP $STATUS $(body_head)"
    cp "$WORK/u" "$WORK/file.$(jbody .id)"
    jbody .id
}
ids() { curl -s "$BASE/v1/runs/$1/checkpoints?limit=1000" | jq -r '[.checkpoints[].id] | join(",")'; }

# ---- resume
http GET /v1/runs/rs/resume
expect_error "resume of a run with no checkpoints: 404 run_not_found" 404 run_not_found
r1=$(up rs "epoch=1")
r2=$(up rs "epoch=2")
r3=$(up rs "epoch=3")
http GET /v1/runs/rs/resume
expect_json "resume is the newest checkpoint" ".id == $r3 and .corrupt == false"
http GET /v1/runs/rs/resume/blob
check "resume/blob serves its bytes" cmp -s "$RESP_BODY" "$WORK/file.$r3"
http GET "/v1/runs/rs/resume?x=1"
expect_error "resume takes no parameters" 400 unknown_parameter
stop_ckptd
truncate -s 100 "$(blob_path "$(sha256_hex "$WORK/file.$r3")")"
start_ckptd_on "$D" || bail "ckptd restarts"
check "the recovery scan flags the truncated newest checkpoint corrupt" \
    wait_for 5 bash -c "[ \"\$(curl -s $BASE/v1/checkpoints/$r3 | jq .corrupt)\" = true ]"
http GET /v1/runs/rs/resume
expect_json "resume skips it: the previous good checkpoint" ".id == $r2"
http GET /v1/runs/rs/resume/blob
check "resume/blob serves the previous checkpoint's bytes whole" cmp -s "$RESP_BODY" "$WORK/file.$r2"
http GET /v1/runs/rs/aliases/resume
expect_json "the computed alias resume agrees" ".id == $r2"
stop_ckptd
rm -f "$(blob_path "$(sha256_hex "$WORK/file.$r2")")" "$(blob_path "$(sha256_hex "$WORK/file.$r1")")"
start_ckptd_on "$D" || bail "ckptd restarts"
check "with every blob damaged, all are flagged" \
    wait_for 5 bash -c "[ \"\$(curl -s $BASE/v1/checkpoints/$r1 | jq .corrupt)\" = true ]"
http GET /v1/runs/rs/resume
expect_error "nothing to resume from: 404 checkpoint_not_found" 404 checkpoint_not_found
http GET /v1/runs/rs/resume/blob
expect_error "and no bytes either" 404 checkpoint_not_found

# ---- pins
p1=$(up pn "epoch=1")
http POST "/v1/checkpoints/$p1/pin"
expect_json "pin: pinned true" ".pinned == true"
http POST "/v1/checkpoints/$p1/pin"
expect_json "pin again (idempotent): still 200, pinned true" ".pinned == true"
check_eq "pin again answers 200" 200 "$STATUS"
http GET "/v1/checkpoints/$p1"
expect_json "GET shows pinned" ".pinned == true"
http GET "/v1/runs/pn/checkpoints"
expect_json "listings show pinned" ".checkpoints[0].pinned == true"
http POST "/v1/checkpoints/$p1/unpin"
expect_json "unpin: pinned false" ".pinned == false"
http POST "/v1/checkpoints/$p1/unpin"
expect_json "unpin again (idempotent)" ".pinned == false"
http POST /v1/checkpoints/999999/pin
expect_error "pin of no checkpoint: 404" 404 checkpoint_not_found
http POST /v1/checkpoints/abc/pin
expect_error "pin with a bad id: 400 invalid_id" 400 invalid_id
http GET "/v1/checkpoints/$p1/pin"
expect_error "GET on pin: 405" 405 method_not_allowed

# ---- leases
l1=$(up ls "epoch=1")
l2=$(up ls "epoch=2")
http POST "/v1/checkpoints/$l1/lease"
expect_status "lease with the default ttl: 201" 201
expect_json "lease answer: 32-hex lease, id, expires_at" ".id == $l1 and (.lease | test(\"^[0-9a-f]{32}\$\")) and (.expires_at | test(\"Z\$\"))"
LONG=$(jbody .lease)
exp=$(jbody .expires_at)
now_s=$(date +%s)
exp_s=$(date -d "$exp" +%s)
check "the default ttl is 600 s (expires in $((exp_s - now_s)) s)" \
    bash -c "[ $((exp_s - now_s)) -ge 598 ] && [ $((exp_s - now_s)) -le 601 ]"
http POST "/v1/checkpoints/$l2/lease?ttl=1"
SHORT=$(jbody .lease)
http PUT /v1/runs/ls/policy -d '{"keep_last":1}'
expect_json "keep_last 1: both leased checkpoints stay" '.dropped == []'
sleep 1.2
l3=$(up ls "epoch=3")
check_eq "after the 1 s lease expired, its checkpoint goes at the next commit; the long lease holds" "$l1,$l3" "$(ids ls)"
http DELETE "/v1/leases/$SHORT"
expect_status "releasing an expired (swept) lease: 404" 404
http DELETE "/v1/leases/$LONG"
expect_status "releasing the lease: 204" 204
http DELETE "/v1/leases/$LONG"
expect_error "releasing it twice: 404 lease_not_found" 404 lease_not_found
http DELETE /v1/leases/nothex
expect_error "a malformed lease id: 404 lease_not_found" 404 lease_not_found
l4=$(up ls "epoch=4")
check_eq "released: the next commit drops it" "$l4" "$(ids ls)"
for t in 0 86401 abc; do
    http POST "/v1/checkpoints/$l4/lease?ttl=$t"
    expect_error "ttl=$t: 400 invalid_parameter" 400 invalid_parameter
done
http POST /v1/checkpoints/999999/lease
expect_error "lease on no checkpoint: 404" 404 checkpoint_not_found
stop_ckptd

# ---- roles: readers take leases, writers pin, scoped tokens stay in their runs
mint() { "$CKPTD" token add "$1" --role "$2" ${3:+--runs "$3"} --data "$D" 2>/dev/null; }
READ=$(mint reader read)
WRITE=$(mint writer write)
ADMIN=$(mint admin admin)
SCOPED=$(mint scoped write other-)
start_ckptd_on "$D" || bail "ckptd restarts with tokens"
http POST "/v1/checkpoints/$l4/lease?ttl=60" -H "Authorization: Bearer $READ"
expect_status "a read token may take a lease (201)" 201
L=$(jbody .lease)
http DELETE "/v1/leases/$L" -H "Authorization: Bearer $READ"
expect_status "and release it (204)" 204
http POST "/v1/checkpoints/$l4/pin" -H "Authorization: Bearer $READ"
expect_error "a read token may not pin: 403" 403 forbidden
http POST "/v1/checkpoints/$l4/pin" -H "Authorization: Bearer $WRITE"
expect_status "a write token may pin" 200
http PUT /v1/runs/ls/policy -d '{"keep_last":5}' -H "Authorization: Bearer $READ"
expect_error "a read token may not set a policy" 403 forbidden
http PUT /v1/runs/ls/policy -d '{"keep_last":5}' -H "Authorization: Bearer $WRITE"
expect_status "a write token may" 200
http DELETE /v1/runs/ls/policy -H "Authorization: Bearer $WRITE"
expect_error "deleting a policy needs admin" 403 forbidden
http DELETE /v1/runs/ls/policy -H "Authorization: Bearer $ADMIN"
expect_status "admin may" 204
http POST "/v1/checkpoints/$l4/pin" -H "Authorization: Bearer $SCOPED"
expect_error "a token scoped to other- may not pin a checkpoint of run ls" 403 forbidden
http POST "/v1/checkpoints/$l4/lease" -H "Authorization: Bearer $SCOPED"
expect_error "nor lease it" 403 forbidden
http PUT /v1/runs/ls/aliases/x -d "{\"id\":$l4}" -H "Authorization: Bearer $SCOPED"
expect_error "nor alias it" 403 forbidden
http GET /v1/runs/ls/policy/plan -H "Authorization: Bearer $SCOPED"
expect_error "nor read its plan" 403 forbidden
http GET /v1/runs/ls/resume
expect_error "no token: 401" 401 unauthorized
stop_ckptd
