"""ctypes declarations of libckpt (client/ckpt.h) and how the library is found.

Private to the package: the public API is in ckpt/__init__.py.
"""

import ctypes
import ctypes.util
import os

# ckpt_err codes (client/ckpt.h).
OK = 0
E_INVALID_ARG = 1
E_NOMEM = 2
E_IO = 3
E_NETWORK = 4
E_SERVER = 5
E_NOT_FOUND = 6
E_REFUSED = 7
E_AUTH = 8
E_INTEGRITY = 9
E_PROTOCOL = 10
E_ABORTED = 11
E_PRECONDITION = 12

REF_ID, REF_BEST, REF_LATEST, REF_ALIAS, REF_RESUME = 0, 1, 2, 3, 4
ALIAS_ANY, ALIAS_CREATE = 0, -1
WATCH_NEW = -1
READ_ABORT = ctypes.c_size_t(-1).value


class Metric(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_double)]


class Meta(ctypes.Structure):
    _fields_ = [
        ("run", ctypes.c_char_p),
        ("has_epoch", ctypes.c_int),
        ("has_step", ctypes.c_int),
        ("has_loss", ctypes.c_int),
        ("epoch", ctypes.c_int64),
        ("step", ctypes.c_int64),
        ("loss", ctypes.c_double),
        ("metrics", ctypes.POINTER(Metric)),
        ("n_metrics", ctypes.c_size_t),
    ]


class Info(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_int64),
        ("run", ctypes.c_char_p),
        ("has_epoch", ctypes.c_int),
        ("has_step", ctypes.c_int),
        ("has_loss", ctypes.c_int),
        ("epoch", ctypes.c_int64),
        ("step", ctypes.c_int64),
        ("loss", ctypes.c_double),
        ("metrics", ctypes.POINTER(Metric)),
        ("n_metrics", ctypes.c_size_t),
        ("size", ctypes.c_uint64),
        ("sha256", ctypes.c_char * 65),
        ("created_at", ctypes.c_char_p),
        ("corrupt", ctypes.c_int),
    ]


class Ref(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int),
        ("id", ctypes.c_int64),
        ("run", ctypes.c_char_p),
        ("metric", ctypes.c_char_p),
        ("maximize", ctypes.c_int),
    ]


class ListOpts(ctypes.Structure):
    _fields_ = [
        ("run", ctypes.c_char_p),
        ("order_by", ctypes.c_char_p),
        ("desc", ctypes.c_int),
        ("limit", ctypes.c_size_t),
        ("has_min_epoch", ctypes.c_int),
        ("has_max_epoch", ctypes.c_int),
        ("min_epoch", ctypes.c_int64),
        ("max_epoch", ctypes.c_int64),
    ]


class List(ctypes.Structure):
    _fields_ = [("items", ctypes.POINTER(Info)), ("count", ctypes.c_size_t)]


class RunInfo(ctypes.Structure):
    _fields_ = [
        ("run", ctypes.c_char_p),
        ("checkpoints", ctypes.c_int64),
        ("bytes", ctypes.c_uint64),
        ("has_best_loss", ctypes.c_int),
        ("has_latest_epoch", ctypes.c_int),
        ("best_loss", ctypes.c_double),
        ("latest_epoch", ctypes.c_int64),
        ("updated_at", ctypes.c_char_p),
    ]


class RunList(ctypes.Structure):
    _fields_ = [("items", ctypes.POINTER(RunInfo)), ("count", ctypes.c_size_t)]


class Alias(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("id", ctypes.c_int64),
        ("computed", ctypes.c_int),
        ("updated_at", ctypes.c_char_p),
    ]


class AliasList(ctypes.Structure):
    _fields_ = [("items", ctypes.POINTER(Alias)), ("count", ctypes.c_size_t)]


class Lease(ctypes.Structure):
    _fields_ = [
        ("lease", ctypes.c_char * 33),
        ("id", ctypes.c_int64),
        ("expires_at", ctypes.c_char_p),
    ]


class KeepBest(ctypes.Structure):
    _fields_ = [("metric", ctypes.c_char_p), ("maximize", ctypes.c_int), ("k", ctypes.c_int64)]


class Policy(ctypes.Structure):
    _fields_ = [
        ("keep_last", ctypes.c_int64),
        ("keep_best", ctypes.POINTER(KeepBest)),
        ("n_keep_best", ctypes.c_size_t),
        ("keep_every_field", ctypes.c_char_p),
        ("keep_every_n", ctypes.c_int64),
        ("keep_within", ctypes.c_char_p),
    ]


class PlanItem(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_int64),
        ("keep", ctypes.c_int),
        ("reasons", ctypes.POINTER(ctypes.c_char_p)),
        ("n_reasons", ctypes.c_size_t),
    ]


class Plan(ctypes.Structure):
    _fields_ = [("items", ctypes.POINTER(PlanItem)), ("count", ctypes.c_size_t)]


READ_FN = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.POINTER(ctypes.c_char),
                           ctypes.c_size_t)
WRITE_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_char),
                            ctypes.c_size_t)

WATCH_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(Info))


def _candidates():
    env = os.environ.get("CKPT_LIB")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "libckpt.so.0")  # installed beside the package
    yield os.path.join(here, "libckpt.so")
    # Used straight from the source tree: client/python/ckpt -> build/
    tree = os.path.normpath(os.path.join(here, "..", "..", "..", "build"))
    yield os.path.join(tree, "libckpt.so.0")
    found = ctypes.util.find_library("ckpt")
    if found:
        yield found


def _load():
    errors = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            errors.append("%s: not found" % path)
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append("%s: %s" % (path, e))
    raise ImportError("cannot load libckpt (set CKPT_LIB to its path, or run 'make "
                      "install-python'): " + "; ".join(errors))


lib = _load()

_P = ctypes.c_void_p
_ERR = ctypes.c_int


def _sig(name, restype, *argtypes):
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)


_sig("ckpt_strerror", ctypes.c_char_p, _ERR)
_sig("ckpt_client_new", _P, ctypes.c_char_p, ctypes.c_char_p)
_sig("ckpt_client_free", None, _P)
_sig("ckpt_client_last_error", ctypes.c_char_p, _P)
_sig("ckpt_client_last_error_code", ctypes.c_char_p, _P)
_sig("ckpt_client_last_http_status", ctypes.c_long, _P)
_sig("ckpt_client_set_timeouts", _ERR, _P, ctypes.c_long, ctypes.c_long)
_sig("ckpt_client_set_retries", _ERR, _P, ctypes.c_uint, ctypes.c_long)
_sig("ckpt_client_set_ca_file", _ERR, _P, ctypes.c_char_p)
_sig("ckpt_client_set_header_digest", _ERR, _P, ctypes.c_int)
_sig("ckpt_info_free", None, ctypes.POINTER(Info))
_sig("ckpt_push_file", _ERR, _P, ctypes.POINTER(Meta), ctypes.c_char_p,
     ctypes.POINTER(ctypes.POINTER(Info)))
_sig("ckpt_push_buffer", _ERR, _P, ctypes.POINTER(Meta), ctypes.c_void_p, ctypes.c_size_t,
     ctypes.POINTER(ctypes.POINTER(Info)))
_sig("ckpt_push_stream", _ERR, _P, ctypes.POINTER(Meta), READ_FN, ctypes.c_void_p,
     ctypes.POINTER(ctypes.POINTER(Info)))
_sig("ckpt_pull_file", _ERR, _P, ctypes.POINTER(Ref), ctypes.c_char_p,
     ctypes.POINTER(ctypes.POINTER(Info)))
_sig("ckpt_pull_fd", _ERR, _P, ctypes.POINTER(Ref), ctypes.c_int,
     ctypes.POINTER(ctypes.POINTER(Info)))
_sig("ckpt_pull_cb", _ERR, _P, ctypes.POINTER(Ref), WRITE_FN, ctypes.c_void_p,
     ctypes.POINTER(ctypes.POINTER(Info)))
_sig("ckpt_get", _ERR, _P, ctypes.POINTER(Ref), ctypes.POINTER(ctypes.POINTER(Info)))
_sig("ckpt_delete", _ERR, _P, ctypes.c_int64)
_sig("ckpt_list_page", _ERR, _P, ctypes.POINTER(ListOpts), ctypes.c_char_p, ctypes.c_size_t,
     ctypes.POINTER(ctypes.POINTER(List)), ctypes.POINTER(ctypes.c_void_p))
_sig("ckpt_list_free", None, ctypes.POINTER(List))
_sig("ckpt_runs", _ERR, _P, ctypes.POINTER(ctypes.POINTER(RunList)))
_sig("ckpt_run_list_free", None, ctypes.POINTER(RunList))

_sig("ckpt_pin", _ERR, _P, ctypes.c_int64, ctypes.POINTER(ctypes.POINTER(Info)))
_sig("ckpt_unpin", _ERR, _P, ctypes.c_int64, ctypes.POINTER(ctypes.POINTER(Info)))
_sig("ckpt_alias_set", _ERR, _P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_int64,
     ctypes.POINTER(ctypes.c_int64))
_sig("ckpt_alias_delete", _ERR, _P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int64)
_sig("ckpt_aliases", _ERR, _P, ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(AliasList)))
_sig("ckpt_alias_list_free", None, ctypes.POINTER(AliasList))
_sig("ckpt_lease_take", _ERR, _P, ctypes.c_int64, ctypes.c_long,
     ctypes.POINTER(ctypes.POINTER(Lease)))
_sig("ckpt_lease_release", _ERR, _P, ctypes.c_char_p)
_sig("ckpt_lease_free", None, ctypes.POINTER(Lease))
_sig("ckpt_watch", _ERR, _P, ctypes.c_char_p, ctypes.c_int64, WATCH_FN, ctypes.c_void_p)

_sig("ckpt_policy_set", _ERR, _P, ctypes.c_char_p, ctypes.POINTER(Policy),
     ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)), ctypes.POINTER(ctypes.c_size_t))
_sig("ckpt_policy_get", _ERR, _P, ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(Policy)),
     ctypes.POINTER(ctypes.c_int))
_sig("ckpt_policy_free", None, ctypes.POINTER(Policy))
_sig("ckpt_policy_delete", _ERR, _P, ctypes.c_char_p)
_sig("ckpt_policy_plan", _ERR, _P, ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(Plan)))
_sig("ckpt_plan_free", None, ctypes.POINTER(Plan))

libc = ctypes.CDLL(None)
libc.free.argtypes = [ctypes.c_void_p]
libc.free.restype = None
