#!/usr/bin/env bash
# Run libFuzzer harnesses one after another (used by `make fuzz`; see tests/mk/fuzz.mk).
# Each runs SECONDS on a scratch corpus seeded from tests/fuzz/corpus/NAME; afterwards the inputs
# that add coverage are merged back, smallest first: at most MAX_NEW of them, and only while the
# corpus holds fewer than CORPUS_MAX files.
# Stops at the first crash: the input is copied into the corpus (so the replay in `make test`
# keeps failing until the bug is fixed) and shown in hex.
# Usage: tests/fuzz/fuzz.sh BIN_DIR SECONDS MAX_LEN MAX_NEW CORPUS_MAX NAME...

set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN_DIR=$1 SECONDS_EACH=$2 MAX_LEN=$3 MAX_NEW=$4 CORPUS_MAX=$5
shift 5
LOGS=$BIN_DIR/logs
ARTIFACTS=$BIN_DIR/artifacts
mkdir -p "$LOGS" "$ARTIFACTS"

summary=()
for name in "$@"; do
    bin=$BIN_DIR/$name
    corpus=$ROOT/tests/fuzz/corpus/$name
    work=$BIN_DIR/work/$name
    merged=$BIN_DIR/merge/$name
    log=$LOGS/$name.log
    if [ ! -x "$bin" ] || [ ! -d "$corpus" ]; then
        echo "fuzz: $name: no binary $bin or no corpus $corpus" >&2
        exit 1
    fi
    rm -rf "$work" "$merged"
    mkdir -p "$work" "$merged"
    echo "fuzz: $name for ${SECONDS_EACH}s (log: ${log#"$ROOT"/})"
    # New inputs land in $work, the first directory; the corpus is read only.
    "$bin" -max_total_time="$SECONDS_EACH" -max_len="$MAX_LEN" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$name-" "$work" "$corpus" >"$log" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ]; then
        input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "fuzz: $name FAILED (exit $rc); the report:"
        grep -E 'ERROR: |SUMMARY: |property failed|runtime error|==[0-9]+==' "$log" | head -n 20 |
            sed 's/^/    /'
        if [ -n "$input" ] && [ -f "$input" ]; then
            keep=$corpus/crash-$(sha1sum "$input" | cut -c1-40)
            cp "$input" "$keep"
            echo "fuzz: the input is $input ($(stat -c %s "$input") bytes)," \
                "now also ${keep#"$ROOT"/}"
            echo "fuzz: as hex: $(xxd -p "$input" | tr -d '\n' | head -c 2000)"
        else
            echo "fuzz: no input was saved; see $log"
        fi
        exit 1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")

    # Merge: start from the corpus, add what the run found that covers more.
    cp "$corpus"/* "$merged"/ 2>/dev/null
    "$bin" -merge=1 -max_len="$MAX_LEN" -timeout=10 "$merged" "$work" >>"$log" 2>&1
    have=$(find "$corpus" -maxdepth 1 -type f | wc -l)
    added=0
    while IFS= read -r f; do
        [ "$have" -ge "$CORPUS_MAX" ] || [ "$added" -ge "$MAX_NEW" ] && break
        base=$(basename "$f")
        [ -e "$corpus/$base" ] && continue
        cp "$f" "$corpus/$base"
        have=$((have + 1))
        added=$((added + 1))
    done < <(find "$merged" -maxdepth 1 -type f -printf '%s %p\n' | sort -n | cut -d' ' -f2-)
    line=$(printf '%-20s %10s execs %8s/s  cov %5s  ft %6s  corpus +%d (%d files)' \
        "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$added" "$have")
    echo "fuzz: $line"
    summary+=("$line")
done
echo "fuzz: all harnesses ran without a crash:"
printf '  %s\n' "${summary[@]}"
