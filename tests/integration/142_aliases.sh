#!/usr/bin/env bash
# Aliases (issue 5): computed latest/best/resume, user aliases with compare-and-swap (If-Match) and
# create-only (If-None-Match: *), the race of two writers with the same If-Match (exactly one 200
# and one 412, 50 times), the ETag, blob downloads through an alias, listings, and refusals.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
start_ckptd || bail "ckptd starts"

up()
{
    rand_file "$WORK/u" 2048
    upload "$1" "$2" "$WORK/u"
    [ "$STATUS" = 201 ] || fail "upload to $1 ($2) answers 201" "HTTP $STATUS $(body_head)"
    cp "$WORK/u" "$WORK/file.$(jbody .id)"
    jbody .id
}
a=$(up al "loss=0.5")
b=$(up al "loss=0.2")
c=$(up al "loss=0.7")

# ---- computed
http GET /v1/runs/al/aliases/latest
expect_json "latest is the newest" ".id == $c"
check_eq "with ETag \"<id>\"" "\"$c\"" "$(header ETag)"
http GET /v1/runs/al/aliases/best
expect_json "best is the lowest loss" ".id == $b"
http GET /v1/runs/al/aliases/resume
expect_json "resume is the newest" ".id == $c"
http GET /v1/runs/al/aliases/best/blob
expect_status "best/blob answers 200" 200
check "best/blob serves best's bytes" cmp -s "$RESP_BODY" "$WORK/file.$b"
http HEAD /v1/runs/al/aliases/latest/blob
check_eq "HEAD latest/blob: Content-Length of the blob" 2048 "$(header Content-Length)"
http PUT /v1/runs/al/aliases/latest -d "{\"id\":$a}"
expect_error "PUT on a computed alias: 409 alias_reserved" 409 alias_reserved
http DELETE /v1/runs/al/aliases/best
expect_error "DELETE on a computed alias: 409 alias_reserved" 409 alias_reserved

# ---- user aliases
http PUT /v1/runs/al/aliases/production -d "{\"id\":$a}" -H 'If-None-Match: *'
expect_status "create-only PUT of a new alias answers 200" 200
expect_json "answer: name, run, id, previous null" ".name == \"production\" and .run == \"al\" and .id == $a and .previous == null"
check_eq "with ETag" "\"$a\"" "$(header ETag)"
http PUT /v1/runs/al/aliases/production -d "{\"id\":$b}" -H 'If-None-Match: *'
expect_error "create-only PUT of an existing alias: 412" 412 precondition_failed
http PUT /v1/runs/al/aliases/production -d "{\"id\":$b}" -H "If-Match: \"$c\""
expect_error "If-Match with a stale id: 412" 412 precondition_failed
check_eq "the 412 carries the current ETag" "\"$a\"" "$(header ETag)"
http PUT /v1/runs/al/aliases/production -d "{\"id\":$b}" -H "If-Match: \"$a\""
expect_json "If-Match with the current id moves it; previous is the old id" ".id == $b and .previous == $a"
http PUT /v1/runs/al/aliases/production -d "{\"id\":$c}" -H "If-Match: $b"
expect_json "If-Match without quotes works too" ".id == $c and .previous == $b"
http PUT /v1/runs/al/aliases/candidate -d "{\"id\":$a}" -H "If-Match: \"$a\""
expect_error "If-Match on an alias that does not exist: 412" 412 precondition_failed
http PUT /v1/runs/al/aliases/candidate -d "{\"id\":$a}"
expect_status "unconditional PUT creates" 200
http GET /v1/runs/al/aliases/production
expect_json "GET alias: the checkpoint JSON" ".id == $c and .run == \"al\""
check_eq "GET alias: ETag" "\"$c\"" "$(header ETag)"
http GET /v1/runs/al/aliases/production/blob
check "GET alias blob serves its bytes" cmp -s "$RESP_BODY" "$WORK/file.$c"
http GET /v1/runs/al/aliases
expect_json "list: computed and user aliases sorted by name" \
    "[.aliases[].name] == [\"best\",\"candidate\",\"latest\",\"production\",\"resume\"]"
expect_json "list: user aliases carry updated_at and computed:false" \
    ".aliases[] | select(.name == \"production\") | .computed == false and .id == $c and (.updated_at | test(\"Z\$\"))"
expect_json "list: computed ones computed:true" '.aliases[] | select(.name == "best") | .computed == true'

# ---- refusals
x=$(up other "loss=1")
http PUT /v1/runs/al/aliases/production -d "{\"id\":$x}"
expect_error "pointing at another run's checkpoint: 404 checkpoint_not_found" 404 checkpoint_not_found
http PUT /v1/runs/al/aliases/production -d '{"id":999999}'
expect_error "pointing at no checkpoint: 404" 404 checkpoint_not_found
for body in '' 'x' '{"id":0}' '{"id":"5"}' '{"id":5,"x":1}' '[5]' '{"id":1.5}'; do
    http PUT /v1/runs/al/aliases/production -d "$body"
    expect_error "bad body '$body': 400 invalid_body" 400 invalid_body
done
head -c 5000 /dev/zero | tr '\0' ' ' >"$WORK/big"
http PUT /v1/runs/al/aliases/production --data-binary @"$WORK/big"
expect_error "a body over 4 KiB: 400 invalid_body" 400 invalid_body
http PUT /v1/runs/al/aliases/bad%20name -d "{\"id\":$a}"
expect_error "invalid alias name: 400 invalid_alias_name" 400 invalid_alias_name
http GET /v1/runs/al/aliases/.hidden
expect_error "invalid alias name on GET too" 400 invalid_alias_name
http GET /v1/runs/al/aliases/nosuch
expect_error "unknown alias: 404 alias_not_found" 404 alias_not_found
http GET /v1/runs/nosuchrun/aliases
expect_error "aliases of an unknown run: 404 run_not_found" 404 run_not_found
http GET /v1/runs/nosuchrun/aliases/latest
expect_error "latest of an unknown run: 404 alias_not_found" 404 alias_not_found
http PUT /v1/runs/al/aliases/production -d "{\"id\":$a}" -H 'If-Match: "abc"'
expect_error "malformed If-Match: 400 bad_request" 400 bad_request

# ---- DELETE
http DELETE /v1/runs/al/aliases/candidate -H "If-Match: \"$b\""
expect_error "DELETE with a stale If-Match: 412" 412 precondition_failed
http DELETE /v1/runs/al/aliases/candidate -H "If-Match: \"$a\""
expect_status "DELETE with the current If-Match: 204" 204
http DELETE /v1/runs/al/aliases/candidate
expect_error "DELETE again: 404 alias_not_found" 404 alias_not_found

# ---- deleting the checkpoint removes its aliases
http PUT /v1/runs/al/aliases/gone -d "{\"id\":$a}"
http DELETE "/v1/checkpoints/$a"
expect_status "deleting an aliased checkpoint answers 204" 204
http GET /v1/runs/al/aliases/gone
expect_error "its alias went with it" 404 alias_not_found

# ---- the CAS race: two writers with the same If-Match, 50 times
d=$(up al "loss=0.9")
wins=0 losses=0 bad=0
for i in $(seq 1 50); do
    curl -s -o /dev/null -X PUT -d "{\"id\":$b}" "$BASE/v1/runs/al/aliases/race"
    curl -s -o /dev/null -w '%{http_code}\n' -X PUT -d "{\"id\":$c}" -H "If-Match: \"$b\"" \
        "$BASE/v1/runs/al/aliases/race" >"$WORK/r1" &
    p1=$!
    curl -s -o /dev/null -w '%{http_code}\n' -X PUT -d "{\"id\":$x}" -H "If-Match: \"$b\"" \
        "$BASE/v1/runs/other/aliases/race" >/dev/null &
    p3=$!
    curl -s -o /dev/null -w '%{http_code}\n' -X PUT -d "{\"id\":$d}" -H "If-Match: \"$b\"" \
        "$BASE/v1/runs/al/aliases/race" >"$WORK/r2" &
    p2=$!
    wait "$p1" "$p2" "$p3"
    pair=$(sort "$WORK/r1" "$WORK/r2" | paste -sd ' ')
    case $pair in
    "200 412") wins=$((wins + 1)) ;;
    *) bad=$((bad + 1)); diag "round $i: $pair" ;;
    esac
done
check_eq "50 races with the same If-Match: each exactly one 200 and one 412" "50 0" "$wins $bad"
http GET /v1/runs/al/aliases/race
check_match "the alias points at one of the two writers' ids" "$c|$d" "$(jbody .id)"

# ---- a corrupt target is refused
stop_ckptd
truncate -s 10 "$(blob_path "$(sha256_hex "$WORK/file.$c")")"
truncate -s 10 "$(blob_path "$(sha256_hex "$WORK/file.$d")")"
start_ckptd_on "$DATA" || bail "ckptd restarts"
check "the truncated checkpoints get flagged corrupt" \
    wait_for 5 bash -c "[ \"\$(curl -s $BASE/v1/checkpoints/$d | jq .corrupt)\" = true ]"
http PUT /v1/runs/al/aliases/newone -d "{\"id\":$d}"
expect_error "an alias cannot be set to a corrupt checkpoint: 409" 409 checkpoint_corrupt
http GET /v1/runs/al/aliases/latest
expect_json "latest skips the two corrupt newest checkpoints" ".id == $b"
http GET /v1/runs/al/aliases/production/blob
expect_error "a user alias to a now-corrupt checkpoint: blob 409" 409 checkpoint_corrupt
stop_ckptd
