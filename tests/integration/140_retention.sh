#!/usr/bin/env bash
# Retention policies (issue 5): the known failures of client-side top-k bookkeeping, reproduced
# against the real daemon. A restart between uploads keeps top-k right (the state is in the
# index); with keep_best only the newest checkpoint still survives; pinned, aliased and leased
# checkpoints survive; content shared by two checkpoints (dedup) stays while one still uses it
# and is unlinked once none does; policy PUT applies at once and reports what it dropped;
# GET/DELETE policy; --default-policy; invalid policies are refused with the member named.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary

D=$(new_tmpdir)
start_ckptd_on "$D" || bail "ckptd starts"

# up RUN QUERY: upload a fresh random 1 KiB file, print its id.
up()
{
    rand_file "$WORK/u" 1024
    upload "$1" "$2" "$WORK/u"
    [ "$STATUS" = 201 ] || fail "upload to $1 ($2) answers 201" "HTTP $STATUS $(body_head)"
    jbody .id
}
# ids RUN: the run's checkpoint ids, comma-separated, ascending.
ids() { curl -s "$BASE/v1/runs/$1/checkpoints?limit=1000" | jq -r '[.checkpoints[].id] | join(",")'; }

# ---- top-k survives a restart
http PUT /v1/runs/topk/policy -d '{"keep_best":[{"metric":"loss","mode":"min","k":2}]}'
expect_status "PUT policy on a run with no checkpoints yet answers 200" 200
expect_json "the answer echoes the canonical policy and an empty dropped list" \
    '.run == "topk" and .policy.keep_best[0].k == 2 and .policy.keep_best[0].mode == "min" and .dropped == []'
a=$(up topk "epoch=1&loss=0.5")
b=$(up topk "epoch=2&loss=0.2")
c=$(up topk "epoch=3&loss=0.9")
check_eq "after 3 uploads: best two (0.5, 0.2) and the newest (0.9) are kept" "$a,$b,$c" "$(ids topk)"
d=$(up topk "epoch=4&loss=0.8")
check_eq "the 4th upload drops the no-longer-newest 0.9" "$a,$b,$d" "$(ids topk)"
stop_ckptd "ckptd stops between uploads"
start_ckptd_on "$D" || bail "ckptd restarts on the same data dir"
e=$(up topk "epoch=5&loss=0.1")
check_eq "after a restart the top-2 is still right: 0.2, 0.1 (+ newest)" "$b,$e" "$(ids topk)"
f=$(up topk "epoch=6&loss=0.3")
check_eq "a worse newest is kept as latest, the best two stay" "$b,$e,$f" "$(ids topk)"
g=$(up topk "epoch=7&loss=0.4")
check_eq "and once superseded it goes" "$b,$e,$g" "$(ids topk)"

# ---- keep_best only: the newest survives even when it is the worst
http PUT /v1/runs/kb/policy -d '{"keep_best":[{"metric":"acc","mode":"max","k":1}]}'
expect_status "PUT keep_best by a custom metric, max" 200
x1=$(up kb "metric.acc=0.9")
x2=$(up kb "metric.acc=0.1")
check_eq "keep_best only: the newest (worst) checkpoint is kept besides the best" "$x1,$x2" "$(ids kb)"
http GET /v1/runs/kb/latest
check_eq "latest is the newest" "$x2" "$(jbody .id)"
x3=$(up kb "epoch=3")
check_eq "a checkpoint without the metric is kept only as latest" "$x1,$x3" "$(ids kb)"

# ---- pinned, aliased, leased survive; keep_last
p1=$(up keep "epoch=1")
p2=$(up keep "epoch=2")
p3=$(up keep "epoch=3")
p4=$(up keep "epoch=4")
http POST "/v1/checkpoints/$p1/pin"
expect_json "pin answers the checkpoint with pinned:true" ".id == $p1 and .pinned == true"
http PUT /v1/runs/keep/aliases/production -d "{\"id\":$p2}"
expect_status "alias production -> p2" 200
http POST "/v1/checkpoints/$p3/lease?ttl=600"
expect_status "lease on p3 answers 201" 201
LEASE=$(jbody .lease)
http PUT /v1/runs/keep/policy -d '{"keep_last":1}'
expect_json "keep_last 1 applied at once drops nothing protected" '.dropped == []'
check_eq "pinned, aliased, leased and the latest all survive" "$p1,$p2,$p3,$p4" "$(ids keep)"
http GET /v1/runs/keep/policy/plan
expect_json "plan: pinned" ".checkpoints[] | select(.id == $p1) | .action == \"keep\" and .reasons == [\"pinned\"]"
expect_json "plan: alias" ".checkpoints[] | select(.id == $p2) | .reasons == [\"alias production\"]"
expect_json "plan: lease" ".checkpoints[] | select(.id == $p3) | .reasons == [\"lease\"]"
expect_json "plan: latest and last 1 of 1" ".checkpoints[] | select(.id == $p4) | .reasons == [\"latest\",\"last 1 of 1\"]"
expect_json "plan says where the policy comes from" '.source == "run" and .policy.keep_last == 1'
http POST "/v1/checkpoints/$p1/unpin"
expect_json "unpin answers pinned:false" ".id == $p1 and .pinned == false"
http DELETE "/v1/leases/$LEASE"
expect_status "releasing the lease answers 204" 204
http DELETE /v1/runs/keep/aliases/production
expect_status "deleting the alias answers 204" 204
http GET /v1/runs/keep/policy/plan
expect_json "plan now drops the three unprotected ones" \
    "[.checkpoints[] | select(.action == \"drop\") | .id] == [$p1,$p2,$p3] and ([.checkpoints[] | select(.action == \"drop\") | .reasons | length] | add) == 0"
check_eq "a plan changes nothing" "$p1,$p2,$p3,$p4" "$(ids keep)"
p5=$(up keep "epoch=5")
check_eq "the next upload applies the policy: only the newest is left" "$p5" "$(ids keep)"

# ---- dedup: shared content survives while another checkpoint uses it
rand_file "$WORK/shared" 4096
SH=$(sha256_hex "$WORK/shared")
upload dd "epoch=1" "$WORK/shared"
s1=$(jbody .id)
upload dd2 "epoch=1" "$WORK/shared"
s2=$(jbody .id)
http PUT /v1/runs/dd/policy -d '{"keep_last":1}'
o=$(up dd "epoch=2")
check_eq "run dd drops its copy of the shared content" "$o" "$(ids dd)"
check "the blob stays: run dd2 still uses it" [ -f "$(blob_path "$SH")" ]
http GET "/v1/checkpoints/$s2/blob"
check "and it is still served whole for dd2" cmp -s "$RESP_BODY" "$WORK/shared"
http PUT /v1/runs/dd2/policy -d '{"keep_last":1}'
o2=$(up dd2 "epoch=2")
http GET /v1/runs/dd2/policy
expect_json "GET policy shows the run's own" '.source == "run" and .policy == {"keep_last":1}'
check_eq "run dd2 drops its copy too" "$o2" "$(ids dd2)"
check "now nothing uses the blob: it is unlinked" [ ! -e "$(blob_path "$SH")" ]
http GET "/v1/checkpoints/$s1"
expect_error "a dropped checkpoint is gone" 404 checkpoint_not_found

# ---- PUT reports what it dropped; keep_every, keep_within
for i in 1 2 3 4 5 6; do up ev "epoch=$i" >/dev/null; done
http PUT /v1/runs/ev/policy -d '{"keep_every":{"field":"epoch","n":3}}'
expect_json "keep_every 3: epochs 1, 2, 4, 5 dropped at once, listed in dropped" '.dropped | length == 4'
check_eq "epochs 3 and 6 stay" "3,6" "$(curl -s "$BASE/v1/runs/ev/checkpoints" | jq -r '[.checkpoints[].epoch] | join(",")')"
http PUT /v1/runs/ev/policy -d '{"keep_within":"1h"}'
expect_json "keep_within 1h drops nothing recent" '.dropped == [] and .policy == {"keep_within":"1h"}'
http GET /v1/runs/ev/policy/plan
expect_json "plan reason: within 1h" '.checkpoints[0].reasons == ["within 1h"]'
http DELETE /v1/runs/ev/policy
expect_status "DELETE policy answers 204" 204
http DELETE /v1/runs/ev/policy
expect_error "DELETE again: 404 policy_not_found" 404 policy_not_found
http GET /v1/runs/ev/policy
expect_json "GET policy without one: null, source none" '.policy == null and .source == "none"'
http GET /v1/runs/ev/policy/plan
expect_json "plan without a policy keeps all: 'no policy'" '[.checkpoints[].reasons[-1]] | all(. == "no policy")'
http GET /v1/runs/nosuchrun/policy/plan
expect_error "plan of an unknown run: 404 run_not_found" 404 run_not_found

# ---- refusals
http PUT /v1/runs/ev/policy -d '{"keep_lats":2}'
expect_error "unknown member: 400 invalid_policy" 400 invalid_policy
check_match "the message names the member" ".*keep_lats.*" "$(jbody .error.message)"
http PUT /v1/runs/ev/policy -d '{}'
expect_error "empty policy: 400 invalid_policy" 400 invalid_policy
http PUT /v1/runs/ev/policy -d '{"keep_last":0}'
expect_error "keep_last 0: 400 invalid_policy" 400 invalid_policy
http PUT /v1/runs/ev/policy -d 'not json'
expect_error "not JSON: 400 invalid_policy" 400 invalid_policy
head -c 70000 /dev/zero | tr '\0' ' ' >"$WORK/big.json"
http PUT /v1/runs/ev/policy --data-binary @"$WORK/big.json"
expect_error "a body over 64 KiB: 400 invalid_body" 400 invalid_body
http PUT /v1/runs/bad%20name/policy -d '{"keep_last":1}'
expect_error "invalid run name" 400 invalid_run_name
http GET "/v1/runs/ev/policy?x=1"
expect_error "unknown parameter" 400 unknown_parameter
stop_ckptd

# ---- --default-policy
printf '{"keep_last":1}' >"$WORK/default.json"
start_ckptd --default-policy "$WORK/default.json" || bail "ckptd starts with --default-policy"
q1=$(up dflt "epoch=1")
q2=$(up dflt "epoch=2")
check_eq "the default policy applies to runs without their own" "$q2" "$(ids dflt)"
http GET /v1/runs/dflt/policy
expect_json "GET policy: source default" '.source == "default" and .policy == {"keep_last":1}'
http PUT /v1/runs/own/policy -d '{"keep_last":3}'
r1=$(up own "epoch=1")
r2=$(up own "epoch=2")
check_eq "a run's own policy wins over the default" "$r1,$r2" "$(ids own)"
stop_ckptd

# ---- default-policy in a --config file, re-read on SIGHUP
printf '{"keep_last":2}' >"$WORK/hup.json"
printf 'default-policy = %s\n' "$WORK/hup.json" >"$WORK/ckptd.conf"
start_ckptd --config "$WORK/ckptd.conf" || bail "ckptd starts with default-policy in --config"
h1=$(up hup "epoch=1")
h2=$(up hup "epoch=2")
h3=$(up hup "epoch=3")
check_eq "default-policy from the config file keeps the last 2" "$h2,$h3" "$(ids hup)"
printf '{"keep_last":1}' >"$WORK/hup.json"
signal_ckptd HUP
check "SIGHUP re-reads the default policy (logged)" wait_for 5 grep -q 'configuration re-read' "$CKPTD_ERR"
http GET /v1/runs/hup/policy
expect_json "GET policy shows the new default" '.source == "default" and .policy == {"keep_last":1}'
h4=$(up hup "epoch=4")
check_eq "the next upload applies it: only the newest is left" "$h4" "$(ids hup)"
printf '{"keep_last":"x"}' >"$WORK/hup.json"
signal_ckptd HUP
check "an invalid default-policy file on SIGHUP is logged and the running configuration kept" \
    wait_for 5 grep -q 'invalid default-policy.*keeping the running configuration' "$CKPTD_ERR"
http GET /v1/runs/hup/policy
expect_json "the previous default policy stays" '.source == "default" and .policy == {"keep_last":1}'
check "ckptd is still running" is_alive "$CKPTD_PID"
stop_ckptd
printf '{"keep_last":-1}' >"$WORK/bad.json"
"$CKPTD" --listen 127.0.0.1:0 --data "$(new_tmpdir)" --default-policy "$WORK/bad.json" \
    >"$WORK/o" 2>"$WORK/e" </dev/null
check_eq "an invalid --default-policy file: exit 2" 2 "$?"
check_match "with a message naming the member" ".*keep_last.*" "$(cat "$WORK/e")"
"$CKPTD" --listen 127.0.0.1:0 --data "$(new_tmpdir)" --default-policy "$WORK/nonexistent" \
    >"$WORK/o" 2>"$WORK/e" </dev/null
check_eq "a missing --default-policy file: exit 2" 2 "$?"
