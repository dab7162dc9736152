# Helpers for the integrity and capacity tests (tests/integration/15x_*.sh): damage blobs on
# disk, run the scrub and wait for it, read a checkpoint's corrupt flag. Source after harness.sh.

# flip_bit FILE OFFSET: flip the lowest bit of the byte at OFFSET, in place (same size).
flip_bit()
{
    python3 - "$1" "$2" <<'PYEOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 1]))
PYEOF
}

# scrub_state: "running" or "idle" (empty when the status cannot be read).
scrub_state()
{
    curl -s --max-time 10 "$BASE/v1/admin/scrub" ${SCRUB_AUTH:+-H "$SCRUB_AUTH"} | jq -r '.state // empty'
}

scrub_idle()
{
    [ "$(scrub_state)" = idle ]
}

# scrub_status: GET /v1/admin/scrub into $RESP_BODY.
scrub_status()
{
    http GET /v1/admin/scrub ${SCRUB_AUTH:+-H "$SCRUB_AUTH"}
}

# is_corrupt ID: prints true/false (the checkpoint's corrupt flag), empty when not readable.
is_corrupt()
{
    curl -s --max-time 10 "$BASE/v1/checkpoints/$1" | jq -r '.corrupt'
}

# corrupt_ids RUN: the ids flagged corrupt in RUN, space-separated, ascending.
corrupt_ids()
{
    curl -s --max-time 10 "$BASE/v1/runs/$1/checkpoints?limit=1000" |
        jq -r '[.checkpoints[] | select(.corrupt) | .id] | sort | map(tostring) | join(" ")'
}

# flagged ID...: succeeds when every listed checkpoint is flagged corrupt (for wait_for).
flagged()
{
    local id
    for id in "$@"; do
        [ "$(is_corrupt "$id")" = true ] || return 1
    done
    return 0
}
