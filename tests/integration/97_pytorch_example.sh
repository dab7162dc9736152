#!/usr/bin/env bash
# The README's PyTorch example (client/python/examples/train.py): a run interrupted after epoch
# 2 and resumed from ckptd ends with exactly the parameters of an uninterrupted run.
. "$(dirname "$0")/../lib/harness.sh"
need_daemon_binary
BUILD_DIR=${BUILD_DIR:-$HARNESS_ROOT/build}
PY=/usr/bin/python3
if ! "$PY" -c 'import torch' 2>/dev/null; then
    skip "PyTorch training-loop example" "SKIPPED: torch is not installed for $PY"
    exit 0
fi
lib=$BUILD_DIR/libckpt.so.0
if nm -D "$lib" 2>/dev/null | grep -q __asan; then
    lib=$HARNESS_ROOT/build/libckpt.so.0 # an ASan library cannot be loaded into python
fi
[ -e "$lib" ] || { skip "PyTorch training-loop example" "SKIPPED: no non-sanitizer libckpt at $lib"; exit 0; }
start_ckptd || bail "ckptd starts"
export CKPT_URL=$BASE CKPT_LIB=$lib PYTHONPATH=$HARNESS_ROOT/client/python
EX=$HARNESS_ROOT/client/python/examples/train.py

"$PY" "$EX" --run whole --epochs 6 >"$WORK/whole.out" 2>&1
check_eq "the uninterrupted run exits 0" 0 "$?"
whole=$(sed -n 's/^final parameters sha256 //p' "$WORK/whole.out")
check_match "it prints its final parameters' digest" '[0-9a-f]{64}' "$whole"

"$PY" "$EX" --run split --epochs 6 --stop-after 2 >"$WORK/first.out" 2>&1
check_eq "the interrupted run exits 0 after epoch 2" 0 "$?"
check_eq "it pushed three checkpoints" 3 "$(run_count split)"
"$PY" "$EX" --run split --epochs 6 >"$WORK/second.out" 2>&1
check_eq "the resumed run exits 0" 0 "$?"
check "the resumed run says it resumed at epoch 3" grep -q 'resumed from checkpoint [0-9]* at epoch 3' "$WORK/second.out"
check "the resumed run trains epochs 3-5 only" bash -c "! grep -q '^epoch [012] ' '$WORK/second.out'"
split=$(sed -n 's/^final parameters sha256 //p' "$WORK/second.out")
check_eq "interrupted + resumed ends with exactly the uninterrupted run's parameters" "$whole" "$split"
check_eq "the split run holds six checkpoints" 6 "$(run_count split)"

# The README shows the same program.
readme_code=$(sed -n '/^```python$/,/^```$/p' "$HARNESS_ROOT/README.md" | sed '1d;$d')
check_eq "the README's PyTorch example is client/python/examples/train.py" "$(cat "$EX")" "$readme_code"
stop_ckptd
