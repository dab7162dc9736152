"""tcheck - the Python tests' checks: each prints one line, "ok - what" or
"not ok - what" (tests/run.sh counts them), flushed at once so a crash loses
no line, and the script keeps going. Diagnostics are "# " lines.

A test script calls check()/check_eq()/check_raises(), wraps each group of
checks in ``with section("what"):`` so that an unexpected exception becomes
one failing check instead of ending the script, and ends with done().
"""

import contextlib
import os
import sys
import traceback

passed = 0
failed = 0


def diag(*lines):
    """Print diagnostic lines, each prefixed with '# '."""
    for text in lines:
        for line in str(text).splitlines() or [""]:
            print("# " + line)
    sys.stdout.flush()


def check(what, cond, *why):
    """Report one check: ok when cond is true; on failure, print why as diagnostics."""
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("not ok - " + what)
        diag(*why)
    sys.stdout.flush()
    return bool(cond)


def check_eq(what, expected, actual):
    """ok when actual == expected."""
    return check(what, expected == actual, "expected: %r" % (expected,), "actual:   %r" % (actual,))


def skip(what, reason):
    """A visible skip, counted as passed (like the shell harness's skip)."""
    global passed
    passed += 1
    print("ok - skipped: %s (%s)" % (what, reason))
    sys.stdout.flush()


def check_raises(what, exc_type, fn, *args, **kwargs):
    """ok when fn(*args, **kwargs) raises exc_type; returns the exception (None otherwise)."""
    try:
        result = fn(*args, **kwargs)
    except exc_type as e:
        check(what, True)
        return e
    except BaseException as e:  # noqa: B902 - a wrong exception is a failed check, not a crash
        check(what, False, "expected %s, got %s: %s" % (exc_type.__name__, type(e).__name__, e))
        return None
    check(what, False, "expected %s, nothing raised (returned %r)" % (exc_type.__name__, result))
    return None


@contextlib.contextmanager
def section(what):
    """Run a group of checks; an unexpected exception fails one check named after the group."""
    try:
        yield
    except Exception:  # noqa: B902
        check("%s: runs without an unexpected exception" % what, False, traceback.format_exc())


def done():
    """Print the script's totals and exit 1 when a check failed."""
    name = os.path.basename(sys.argv[0])
    print("# %s: %d passed, %d failed" % (name, passed, failed))
    sys.stdout.flush()
    sys.exit(1 if failed else 0)
