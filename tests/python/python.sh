# Shell helpers for the scripts that run the Python tests (tests/integration/98_python.sh,
# 99_python_large.sh): which interpreter and which libckpt to load, whether torch is there, and
# run_py, which passes a test script's ok/not ok lines through and counts them. Source it after
# tests/lib/harness.sh.

# Debian's python3-torch is installed for /usr/bin/python3 only; `python3` on PATH may be another
# build. CKPT_PYTHON overrides.
PY=${CKPT_PYTHON:-/usr/bin/python3}
PYTESTS=$HARNESS_ROOT/tests/python
BUILD_DIR=${BUILD_DIR:-$HARNESS_ROOT/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac
# The binding must not pick up the caller's server or token, and must not litter the tree.
unset CKPT_URL CKPT_TOKEN CKPT_CACERT
export PYTHONDONTWRITEBYTECODE=1

# is_asan LIB: whether LIB was built with AddressSanitizer.
is_asan()
{
    { nm -D "$1" 2>/dev/null || cat "$1"; } | grep -aq __asan
}

# py_setup: choose the interpreter and the library (exported as CKPT_LIB, with PYTHONPATH on the
# source tree's package). An ASan-built libckpt cannot be loaded into python without preloading
# libasan, so under a sanitizer build the normal build's library is used when there is one.
# Prints a visible skip and returns 1 when the Python tests cannot run.
py_setup()
{
    local lib=$BUILD_DIR/libckpt.so.0
    if [ ! -x "$PY" ]; then
        ok "skipped: SKIPPED no python interpreter at $PY"
        return 1
    fi
    if [ -e "$lib" ] && is_asan "$lib"; then
        diag "$lib is an ASan build; the Python tests load $HARNESS_ROOT/build/libckpt.so.0"
        lib=$HARNESS_ROOT/build/libckpt.so.0
        if [ ! -e "$lib" ] || is_asan "$lib"; then
            ok "skipped: SKIPPED no non-sanitizer libckpt to load into python (run make)"
            return 1
        fi
    fi
    if [ ! -e "$lib" ]; then
        fail "libckpt is built at $lib (run make)"
        return 1
    fi
    export CKPT_LIB=$lib
    export PYTHONPATH=$HARNESS_ROOT/client/python
    diag "python: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])' 2>&1)), CKPT_LIB=$CKPT_LIB"
    return 0
}

# have_torch: whether $PY can import torch.
have_torch()
{
    "$PY" -c 'import torch' >/dev/null 2>&1
}

# run_py SCRIPT ARGS...: run tests/python/SCRIPT under $PY, showing its ok/not ok lines and
# counting them. An exit status other than 0 without a `not ok` line (a crash, a syntax error)
# is reported as a failure here, with the end of its stderr.
run_py()
{
    local name=$1 log=$WORK/py_$1.out err=$WORK/py_$1.err rc np nf
    shift
    "$PY" "$PYTESTS/$name" "$@" >"$log" 2>"$err" </dev/null
    rc=$?
    cat "$log"
    np=$(grep -Ec '^ok( |$)' "$log")
    nf=$(grep -Ec '^not ok( |$)' "$log")
    T_PASS=$((T_PASS + np))
    T_FAIL=$((T_FAIL + nf))
    if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
        fail "$name exits 0" "exit status $rc" "stderr: $(tail -c 1500 "$err")"
    elif [ -s "$err" ]; then
        diag "$name stderr: $(tail -c 1000 "$err")"
    fi
    return 0
}
