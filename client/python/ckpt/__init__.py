"""ckpt: save and load training checkpoints through a ckptd server.

A thin binding over libckpt (the C client), so integrity checks, retries and
resumable downloads come from one implementation. No third-party dependency;
torch is imported only by the torch helpers (``Client.save``, ``Client.load``
and ``ckpt.torch``).

    import ckpt
    with ckpt.Client("http://127.0.0.1:8420") as client:
        info = client.save(model.state_dict(), "resnet", epoch=3, loss=0.2)
        state, info = client.load(run="resnet", best=True)
"""

import builtins
import ctypes
import dataclasses
import io
import math
import os
import queue
import tempfile
import threading
from typing import Dict, Iterator, List, Optional, Tuple

from . import _native as _n

__all__ = [
    "Client", "Checkpoint", "Run", "CkptError", "NotFound", "IntegrityError", "ServerError",
    "ConnectionError", "AuthError", "InvalidArgument", "PreconditionFailed", "Alias",
]
__version__ = "0.1.0"


class CkptError(Exception):
    """A ckpt call failed.

    ``code`` is the server's stable error code ("run_not_found",
    "digest_mismatch", ...) or "" when there was none; ``status`` the HTTP
    status (0 without an answer); ``err`` libckpt's ckpt_err number.
    """

    def __init__(self, message: str, code: str = "", status: int = 0, err: int = 0):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.err = err


class NotFound(CkptError, LookupError):
    """No such checkpoint or run (HTTP 404)."""


class IntegrityError(CkptError):
    """A SHA-256 did not match, on upload or download. Nothing was stored or returned."""


class ServerError(CkptError):
    """The server failed (5xx), after the configured retries."""


class ConnectionError(CkptError, builtins.ConnectionError):  # noqa: A001 - the documented name
    """The server could not be reached, or the connection broke, after retries."""


class AuthError(CkptError, PermissionError):
    """Missing, wrong or insufficient credentials (HTTP 401/403)."""


class InvalidArgument(CkptError, ValueError):
    """A bad argument (run name, number, ...), refused before or by the server."""


class PreconditionFailed(CkptError):
    """A compare-and-swap lost (HTTP 412): the alias moved (if_match) or exists (create).
    Nothing was changed."""


_ERRORS = {
    _n.E_PRECONDITION: PreconditionFailed,
    _n.E_NOT_FOUND: NotFound,
    _n.E_INTEGRITY: IntegrityError,
    _n.E_SERVER: ServerError,
    _n.E_NETWORK: ConnectionError,
    _n.E_AUTH: AuthError,
    _n.E_INVALID_ARG: InvalidArgument,
    _n.E_REFUSED: InvalidArgument,
}


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A stored checkpoint, as the server describes it."""

    id: int
    run: str
    epoch: Optional[int]
    step: Optional[int]
    loss: Optional[float]
    metrics: Dict[str, float]
    size: int
    sha256: str
    created_at: str  # RFC 3339, UTC, milliseconds
    corrupt: bool = False  # the server found its bytes damaged and will not serve them


@dataclasses.dataclass(frozen=True)
class Run:
    """One run's totals, as ``Client.runs()`` lists them."""

    run: str
    checkpoints: int
    bytes: int
    best_loss: Optional[float]
    latest_epoch: Optional[int]
    updated_at: str


@dataclasses.dataclass(frozen=True)
class Alias:
    """A named pointer to a checkpoint of a run, as ``Client.aliases()`` lists them."""

    name: str
    id: int
    computed: bool  # latest, best, resume: maintained by the server
    updated_at: Optional[str]  # RFC 3339 of the last change; None for computed aliases


def _checkpoint(info: "_n.Info") -> Checkpoint:
    return Checkpoint(
        id=info.id,
        run=info.run.decode(),
        epoch=info.epoch if info.has_epoch else None,
        step=info.step if info.has_step else None,
        loss=info.loss if info.has_loss else None,
        metrics={info.metrics[i].name.decode(): info.metrics[i].value
                 for i in range(info.n_metrics)},
        size=info.size,
        sha256=info.sha256.decode(),
        created_at=info.created_at.decode(),
        corrupt=bool(info.corrupt),
    )


def _take_info(p) -> Checkpoint:
    try:
        return _checkpoint(p.contents)
    finally:
        _n.lib.ckpt_info_free(p)


class _MemoryReader(io.RawIOBase):
    """A seekable reader over a buffer that does not copy it (io.BytesIO would)."""

    def __init__(self, buf):
        super().__init__()
        self._view = memoryview(buf)
        self._pos = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, b):
        n = min(len(b), len(self._view) - self._pos)
        b[:n] = self._view[self._pos:self._pos + n]
        self._pos += n
        return n

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self):
        return self._pos

    def close(self):
        self._view.release()
        super().close()


class _PipeWriter:
    """The write end handed to torch.save: bytes go into a pipe that libckpt reads.

    Once the upload has stopped reading (it failed) or the pipe is closed,
    writes are dropped instead of raising: torch's zip writer also writes
    from its destructor, where an exception aborts the whole process, and a
    closed descriptor number may already belong to another file.
    """

    def __init__(self, fd):
        self._fd = fd
        self.closed = False
        self.broken = False

    def write(self, data):
        view = memoryview(data).cast("B")
        total = len(view)
        while view and not (self.closed or self.broken):
            try:
                n = os.write(self._fd, view)
            except BrokenPipeError:
                self.broken = True  # the upload ended; its error is raised by save()
                break
            view = view[n:]
        return total

    def flush(self):
        pass


class Client:
    """A connection to a ckptd server.

    ``url`` and ``token`` default to the environment variables CKPT_URL
    (else http://127.0.0.1:8420) and CKPT_TOKEN. An https server's
    certificate is always verified, against the PEM CA certificates in
    ``ca_file`` (default $CKPT_CACERT) or else the system's; a certificate
    that does not verify raises ckpt.ConnectionError at once, without
    retries. ``push(path)`` sends a file in one pass with its SHA-256 in an
    HTTP trailer; behind a proxy that drops trailers (nginx) the first such
    push is sent again with the digest in a header, and later ones go that
    way at once. ``header_digest=True`` (default: $CKPT_HEADER_DIGEST set
    and not "0") goes the header way from the start. Safe to share between threads: calls on one Client are
    serialized; use one Client per thread for parallel transfers. Use it as
    a context manager or call ``close()``.
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *,
                 retries: Optional[int] = None, connect_timeout: Optional[float] = None,
                 stall_timeout: Optional[float] = None, ca_file: Optional[str] = None,
                 header_digest: Optional[bool] = None):
        url = url or os.environ.get("CKPT_URL") or "http://127.0.0.1:8420"
        token = token if token is not None else (os.environ.get("CKPT_TOKEN") or None)
        ca_file = ca_file if ca_file is not None else (os.environ.get("CKPT_CACERT") or None)
        if header_digest is None:
            header_digest = os.environ.get("CKPT_HEADER_DIGEST", "0") not in ("", "0")
        self.url = url
        # Kept to open a second connection for watch(), which holds one for as long as it runs.
        self._settings = (token, dict(retries=retries, connect_timeout=connect_timeout,
                                      stall_timeout=stall_timeout, ca_file=ca_file,
                                      header_digest=header_digest))
        self._lock = threading.Lock()
        self._c = _n.lib.ckpt_client_new(url.encode(), token.encode() if token else None)
        if not self._c:
            raise InvalidArgument("invalid url %r: expected http(s)://HOST:PORT" % url)
        if retries is not None:
            self._check(_n.lib.ckpt_client_set_retries(self._c, int(retries), 200))
        if connect_timeout is not None or stall_timeout is not None:
            self._check(_n.lib.ckpt_client_set_timeouts(
                self._c, int((connect_timeout or 10) * 1000), int((stall_timeout or 60) * 1000)))
        if ca_file:
            self._check(_n.lib.ckpt_client_set_ca_file(self._c, os.fsencode(ca_file)))
        if header_digest:
            self._check(_n.lib.ckpt_client_set_header_digest(self._c, 1))

    def close(self) -> None:
        """Release the connection; the client cannot be used afterwards."""
        with self._lock:
            if self._c:
                _n.lib.ckpt_client_free(self._c)
                self._c = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- errors -------------------------------------------------------------

    def _check(self, err: int) -> None:
        if err == _n.OK:
            return
        message = (_n.lib.ckpt_client_last_error(self._c) or b"").decode(errors="replace")
        code = (_n.lib.ckpt_client_last_error_code(self._c) or b"").decode(errors="replace")
        status = _n.lib.ckpt_client_last_http_status(self._c)
        if not message:
            message = _n.lib.ckpt_strerror(err).decode()
        raise _ERRORS.get(err, CkptError)(message, code=code, status=status, err=err)

    def _handle(self):
        if not self._c:
            raise CkptError("client is closed")
        return self._c

    # -- push ---------------------------------------------------------------

    @staticmethod
    def _meta(run, epoch, step, loss, metrics):
        if not isinstance(run, str):
            raise InvalidArgument("run must be a str", code="invalid_run_name")
        meta = _n.Meta()
        meta.run = run.encode()
        if epoch is not None:
            meta.has_epoch, meta.epoch = 1, int(epoch)
        if step is not None:
            meta.has_step, meta.step = 1, int(step)
        if loss is not None:
            meta.has_loss, meta.loss = 1, float(loss)
        items = list((metrics or {}).items())
        array = (_n.Metric * max(1, len(items)))()
        keep = []
        for i, (name, value) in enumerate(items):
            encoded = str(name).encode()
            keep.append(encoded)
            array[i].name = encoded
            array[i].value = float(value)
        meta.metrics = array
        meta.n_metrics = len(items)
        return meta, (array, keep)

    def push(self, src, run: str, *, epoch: Optional[int] = None, step: Optional[int] = None,
             loss: Optional[float] = None, metrics: Optional[Dict[str, float]] = None
             ) -> Checkpoint:
        """Upload ``src`` as a checkpoint of ``run`` and return its record.

        ``src`` is a path (str or os.PathLike), a bytes-like object, or a readable
        binary file object (streamed in pieces, never read whole; its SHA-256
        goes in a trailer the server checks). The server stores nothing unless
        the bytes it received have the SHA-256 the client computed.
        """
        meta, _keep = self._meta(run, epoch, step, loss, metrics)
        out = ctypes.POINTER(_n.Info)()
        with self._lock:
            c = self._handle()
            if isinstance(src, (str, os.PathLike)):
                err = _n.lib.ckpt_push_file(c, ctypes.byref(meta), os.fsencode(src),
                                            ctypes.byref(out))
            elif isinstance(src, (bytes, bytearray, memoryview)):
                view = memoryview(src).cast("B")
                if view.readonly:
                    buf = ctypes.c_char_p(bytes(view)) if not isinstance(src, bytes) else \
                        ctypes.c_char_p(src)
                    ptr = ctypes.cast(buf, ctypes.c_void_p)
                else:
                    buf = (ctypes.c_char * len(view)).from_buffer(view)
                    ptr = ctypes.cast(buf, ctypes.c_void_p)
                err = _n.lib.ckpt_push_buffer(c, ctypes.byref(meta), ptr, len(view),
                                              ctypes.byref(out))
            elif hasattr(src, "read"):
                err = self._push_reader(c, meta, src, out)
            else:
                raise TypeError("src must be a path, bytes, or a readable binary file object")
            self._check(err)
        return _take_info(out)

    def _push_reader(self, c, meta, reader, out, failed=None):
        state = {"error": None}

        def read(_ud, buf, size):
            try:
                if failed is not None and failed():
                    return _n.READ_ABORT
                chunk = reader.read(size)
                if chunk is None:
                    chunk = b""
                if isinstance(chunk, str):
                    raise TypeError("the file object must be opened in binary mode ('rb')")
                if not isinstance(chunk, bytes):
                    chunk = bytes(chunk)
                n = len(chunk)
                if n > size:
                    raise ValueError("read() returned more than asked")
                if n == 0 and failed is not None and failed():
                    return _n.READ_ABORT
                ctypes.memmove(buf, chunk, n)
                return n
            except BaseException as e:  # never let an exception cross into C
                state["error"] = e
                return _n.READ_ABORT

        callback = _n.READ_FN(read)
        err = _n.lib.ckpt_push_stream(c, ctypes.byref(meta), callback, None, ctypes.byref(out))
        if state["error"] is not None:
            raise state["error"]
        return err

    def save(self, obj, run: str, *, epoch: Optional[int] = None, step: Optional[int] = None,
             loss: Optional[float] = None, metrics: Optional[Dict[str, float]] = None,
             pickle_protocol: int = 2) -> Checkpoint:
        """``torch.save(obj)`` streamed straight into an upload of ``run``.

        The serialized bytes flow from a writer thread through a pipe into the
        upload: no temporary file, and the object is never held twice in
        memory. If torch.save fails, the upload is aborted and nothing is stored.
        """
        import torch

        rfd, wfd = os.pipe()
        failure = []
        pipe = _PipeWriter(wfd)

        def writer():
            try:
                torch.save(obj, pipe, pickle_protocol=pickle_protocol)
            except BaseException as e:
                failure.append(e)  # recorded before the pipe closes: the reader sees it
            finally:
                pipe.closed = True  # before the fd number can be reused
                os.close(wfd)

        reader = os.fdopen(rfd, "rb", buffering=0)
        thread = threading.Thread(target=writer, name="ckpt-save", daemon=True)
        meta, _keep = self._meta(run, epoch, step, loss, metrics)
        out = ctypes.POINTER(_n.Info)()
        try:
            with self._lock:
                c = self._handle()
                thread.start()
                err = self._push_reader(c, meta, reader, out, failed=lambda: bool(failure))
        finally:
            reader.close()  # unblocks the writer if the upload stopped early
            thread.join()
        if failure:
            raise failure[0]
        self._check(err)
        return _take_info(out)

    # -- refs, metadata ------------------------------------------------------

    @staticmethod
    def _ref(id=None, run=None, best=False, metric="loss", mode="min", latest=False, alias=None,
             resume=False):
        ref = _n.Ref()
        keep = []
        if id is not None:
            if run is not None or best or latest or alias is not None or resume:
                raise InvalidArgument("give either id, or run with best/latest/alias/resume")
            ref.kind, ref.id = _n.REF_ID, int(id)
        elif run is not None:
            if int(bool(best)) + int(bool(latest)) + int(alias is not None) + int(bool(resume)) > 1:
                raise InvalidArgument("best, latest, alias and resume exclude each other")
            if mode not in ("min", "max"):
                raise InvalidArgument("mode must be 'min' or 'max'", code="invalid_parameter")
            run_b = run.encode()
            keep.append(run_b)
            ref.run = run_b
            if best:
                metric_b = (metric or "loss").encode()
                keep.append(metric_b)
                ref.kind, ref.metric, ref.maximize = _n.REF_BEST, metric_b, mode == "max"
            elif alias is not None:
                # The C struct shares its metric field with the alias name (ckpt.h).
                alias_b = alias.encode()
                keep.append(alias_b)
                ref.kind, ref.metric = _n.REF_ALIAS, alias_b
            elif resume:
                ref.kind = _n.REF_RESUME
            else:
                ref.kind = _n.REF_LATEST
        else:
            raise InvalidArgument("give an id or a run")
        return ref, keep

    def get(self, id: int) -> Checkpoint:
        """The metadata of checkpoint ``id``. Raises NotFound."""
        return self._get(id=id)

    def best(self, run: str, metric: str = "loss", mode: str = "min") -> Checkpoint:
        """The checkpoint of ``run`` with the lowest (mode="max": highest) ``metric``;
        ties go to the newest."""
        return self._get(run=run, best=True, metric=metric, mode=mode)

    def latest(self, run: str) -> Checkpoint:
        """The most recently committed checkpoint of ``run``."""
        return self._get(run=run, latest=True)

    def _get(self, **kw) -> Checkpoint:
        ref, _keep = self._ref(**kw)
        out = ctypes.POINTER(_n.Info)()
        with self._lock:
            self._check(_n.lib.ckpt_get(self._handle(), ctypes.byref(ref), ctypes.byref(out)))
        return _take_info(out)

    def delete(self, id: int) -> None:
        """Delete checkpoint ``id``. Raises NotFound."""
        with self._lock:
            self._check(_n.lib.ckpt_delete(self._handle(), int(id)))

    def list(self, run: str, order_by: str = "created", desc: bool = False,
             limit: Optional[int] = None, min_epoch: Optional[int] = None,
             max_epoch: Optional[int] = None, page_size: int = 100) -> Iterator[Checkpoint]:
        """Iterate over the checkpoints of ``run`` in order, fetching pages as needed.

        ``order_by`` is "created", "epoch", "step", "loss" or "metric.NAME";
        ``limit`` caps the total. Raises NotFound when the run has none.
        """
        opts = _n.ListOpts()
        run_b, order_b = run.encode(), order_by.encode()
        opts.run, opts.order_by, opts.desc = run_b, order_b, int(bool(desc))
        if min_epoch is not None:
            opts.has_min_epoch, opts.min_epoch = 1, int(min_epoch)
        if max_epoch is not None:
            opts.has_max_epoch, opts.max_epoch = 1, int(max_epoch)
        cursor = None
        given = 0
        while True:
            size = page_size if limit is None else min(page_size, limit - given)
            if size <= 0:
                return
            page = ctypes.POINTER(_n.List)()
            nxt = ctypes.c_void_p()
            with self._lock:
                self._check(_n.lib.ckpt_list_page(self._handle(), ctypes.byref(opts), cursor, size,
                                                  ctypes.byref(page), ctypes.byref(nxt)))
            try:
                items = [_checkpoint(page.contents.items[i]) for i in range(page.contents.count)]
            finally:
                _n.lib.ckpt_list_free(page)
            if nxt.value:
                cursor = ctypes.string_at(nxt.value)
                _n.libc.free(nxt.value)
            else:
                cursor = None
            for item in items:
                yield item
                given += 1
            if cursor is None:
                return

    def runs(self) -> List[Run]:
        """Every run on the server, sorted by name."""
        out = ctypes.POINTER(_n.RunList)()
        with self._lock:
            self._check(_n.lib.ckpt_runs(self._handle(), ctypes.byref(out)))
        try:
            result = []
            for i in range(out.contents.count):
                r = out.contents.items[i]
                result.append(Run(run=r.run.decode(), checkpoints=r.checkpoints, bytes=r.bytes,
                                  best_loss=r.best_loss if r.has_best_loss else None,
                                  latest_epoch=r.latest_epoch if r.has_latest_epoch else None,
                                  updated_at=r.updated_at.decode()))
            return result
        finally:
            _n.lib.ckpt_run_list_free(out)

    # -- pull ---------------------------------------------------------------

    def download(self, id: Optional[int] = None, *, path, run: Optional[str] = None,
                 best: bool = False, metric: str = "loss", mode: str = "min",
                 latest: bool = False, alias: Optional[str] = None,
                 resume: bool = False) -> Checkpoint:
        """Download a checkpoint to ``path``.

        The file appears (atomically, fsynced) only once its SHA-256 matched:
        a failed or corrupt download never creates or replaces ``path``.
        Interrupted transfers resume where they stopped. With ``run``, choose
        ``best``, ``latest``, ``alias=NAME`` or ``resume`` (the newest
        checkpoint that is not corrupt).
        """
        ref, _keep = self._ref(id, run, best, metric, mode, latest, alias, resume)
        out = ctypes.POINTER(_n.Info)()
        with self._lock:
            self._check(_n.lib.ckpt_pull_file(self._handle(), ctypes.byref(ref),
                                              os.fsencode(path), ctypes.byref(out)))
        return _take_info(out)

    def read(self, id: Optional[int] = None, *, run: Optional[str] = None, best: bool = False,
             metric: str = "loss", mode: str = "min", latest: bool = False,
             alias: Optional[str] = None, resume: bool = False) -> Tuple[bytearray, Checkpoint]:
        """The verified bytes of a checkpoint, in one buffer of exactly its size."""
        info = self._get(id=id, run=run, best=best, metric=metric, mode=mode, latest=latest,
                         alias=alias, resume=resume)
        buf = bytearray(info.size)
        target = (ctypes.c_char * max(1, info.size)).from_buffer(buf) if info.size else None
        state = {"pos": 0}

        def write(_ud, data, n):
            pos = state["pos"]
            if pos + n > info.size:
                return 1
            ctypes.memmove(ctypes.addressof(target) + pos, data, n)
            state["pos"] = pos + n
            return 0

        callback = _n.WRITE_FN(write)
        ref, _keep = self._ref(id=info.id)
        out = ctypes.POINTER(_n.Info)()
        with self._lock:
            err = _n.lib.ckpt_pull_cb(self._handle(), ctypes.byref(ref), callback, None,
                                      ctypes.byref(out))
            self._check(err)
        del target
        return buf, _take_info(out)

    def open(self, id: Optional[int] = None, *, run: Optional[str] = None, best: bool = False,
             metric: str = "loss", mode: str = "min", latest: bool = False,
             alias: Optional[str] = None, resume: bool = False):
        """A readable binary stream of a checkpoint's bytes, verified before it is returned.

        The bytes are spooled to an anonymous temporary file, so memory use
        stays flat; the stream is positioned at 0. Close it when done.
        """
        ref, _keep = self._ref(id, run, best, metric, mode, latest, alias, resume)
        f = tempfile.TemporaryFile()
        try:
            out = ctypes.POINTER(_n.Info)()
            with self._lock:
                self._check(_n.lib.ckpt_pull_fd(self._handle(), ctypes.byref(ref), f.fileno(),
                                                ctypes.byref(out)))
            _take_info(out)
            f.seek(0)
            return f
        except BaseException:
            f.close()
            raise

    def load(self, id: Optional[int] = None, *, run: Optional[str] = None, best: bool = False,
             metric: str = "loss", mode: str = "min", latest: bool = False, map_location=None,
             alias: Optional[str] = None, resume: bool = False,
             **torch_load_kwargs) -> Tuple[object, Checkpoint]:
        """``torch.load`` a checkpoint from the server: ``(obj, Checkpoint)``.

        Choose it by ``id``, or by ``run`` with ``best=True`` (``metric``,
        ``mode``) or ``latest=True`` (the default for a run). The bytes are
        verified before torch sees them and held once in memory while
        torch builds the objects. Pass ``weights_only=True`` to refuse
        arbitrary pickled code: a shared server's checkpoints need trust.
        """
        import torch

        if id is None and run is not None and not best and alias is None and not resume:
            latest = True
        buf, info = self.read(id, run=run, best=best, metric=metric, mode=mode, latest=latest,
                              alias=alias, resume=resume)
        reader = _MemoryReader(buf)
        try:
            obj = torch.load(reader, map_location=map_location, **torch_load_kwargs)
        finally:
            reader.close()
            del buf
        return obj, info

    # -- lifecycle: pins, aliases, leases, resume, watch ---------------------

    def _info_call(self, fn, *args) -> Checkpoint:
        out = ctypes.POINTER(_n.Info)()
        with self._lock:
            self._check(fn(self._handle(), *args, ctypes.byref(out)))
        return _take_info(out)

    def pin(self, id: int) -> Checkpoint:
        """Pin checkpoint ``id``: retention never drops it. Idempotent. Raises NotFound."""
        return self._info_call(_n.lib.ckpt_pin, int(id))

    def unpin(self, id: int) -> Checkpoint:
        """Unpin checkpoint ``id``. Idempotent. Raises NotFound."""
        return self._info_call(_n.lib.ckpt_unpin, int(id))

    def resume(self, run: str) -> Checkpoint:
        """The checkpoint to restart ``run`` from: the newest committed one that is not
        corrupt. Raises NotFound when there is none. Fetch it with
        ``download(run=run, resume=True, path=...)`` or ``load(run=run, resume=True)``."""
        return self._get(run=run, resume=True)

    def alias(self, run: str, name: str) -> Checkpoint:
        """The checkpoint alias ``name`` of ``run`` points at (user-set, or the computed
        "latest", "best", "resume"). Raises NotFound (code "alias_not_found")."""
        return self._get(run=run, alias=name)

    def set_alias(self, run: str, name: str, id: int, *, if_match: Optional[int] = None,
                  create: bool = False) -> Optional[int]:
        """Point alias ``name`` of ``run`` at checkpoint ``id``; returns the id it pointed at
        before (None when it was new). ``if_match=ID``: only if it points at ID now;
        ``create=True``: only if it does not exist. A lost condition raises
        PreconditionFailed and changes nothing."""
        if if_match is not None and create:
            raise InvalidArgument("if_match and create exclude each other")
        cond = _n.ALIAS_CREATE if create else (int(if_match) if if_match is not None
                                                else _n.ALIAS_ANY)
        if if_match is not None and cond <= 0:
            raise InvalidArgument("if_match must be a checkpoint id", code="invalid_id")
        prev = ctypes.c_int64(0)
        with self._lock:
            self._check(_n.lib.ckpt_alias_set(self._handle(), run.encode(), name.encode(),
                                              int(id), cond, ctypes.byref(prev)))
        return prev.value or None

    def delete_alias(self, run: str, name: str, *, if_match: Optional[int] = None) -> None:
        """Delete alias ``name`` of ``run`` (only while it points at ``if_match``, when
        given: else PreconditionFailed). Raises NotFound when it does not exist."""
        cond = _n.ALIAS_ANY if if_match is None else int(if_match)
        if if_match is not None and cond <= 0:
            raise InvalidArgument("if_match must be a checkpoint id", code="invalid_id")
        with self._lock:
            self._check(_n.lib.ckpt_alias_delete(self._handle(), run.encode(), name.encode(),
                                                 cond))

    def aliases(self, run: str) -> List[Alias]:
        """Every alias of ``run``, computed ones included, sorted by name."""
        out = ctypes.POINTER(_n.AliasList)()
        with self._lock:
            self._check(_n.lib.ckpt_aliases(self._handle(), run.encode(), ctypes.byref(out)))
        try:
            items = out.contents.items
            return [Alias(name=items[i].name.decode(), id=items[i].id,
                          computed=bool(items[i].computed),
                          updated_at=items[i].updated_at.decode() if items[i].updated_at else None)
                    for i in range(out.contents.count)]
        finally:
            _n.lib.ckpt_alias_list_free(out)

    def lease(self, id: int, ttl: Optional[int] = None) -> Tuple[str, str]:
        """Take a reader lease on checkpoint ``id`` for ``ttl`` seconds (1..86400, default
        600): retention never drops it meanwhile. Returns ``(lease_id, expires_at)``."""
        out = ctypes.POINTER(_n.Lease)()
        with self._lock:
            self._check(_n.lib.ckpt_lease_take(self._handle(), int(id), int(ttl or 0),
                                               ctypes.byref(out)))
        try:
            return out.contents.lease.decode(), out.contents.expires_at.decode()
        finally:
            _n.lib.ckpt_lease_free(out)

    def release_lease(self, lease: str) -> None:
        """Release a lease before it expires. Raises NotFound when it is unknown."""
        with self._lock:
            self._check(_n.lib.ckpt_lease_release(self._handle(), lease.encode()))

    def watch(self, run: str, after: Optional[int] = None) -> Iterator[Checkpoint]:
        """Yield each new checkpoint of ``run`` as it is committed, in id order, forever.

        ``after=None`` starts with checkpoints committed from now on; ``after=ID`` yields
        those after ID first (0: all). The run need not exist yet. Network failures and
        server errors are retried with the client's retry policy. The long poll runs on
        a second connection in a background thread; leave the loop (``break``, or close
        the generator) to stop it, which takes at most about a second. Errors that end
        the watch are raised from the iterator.
        """
        token, settings = self._settings
        wc = Client(self.url, token, **settings)
        items: "queue.Queue" = queue.Queue()
        stop = threading.Event()
        run_b = run.encode()
        after_id = _n.WATCH_NEW if after is None else int(after)

        def on_checkpoint(_ud, info):
            if stop.is_set():
                return 1
            if info:
                items.put(_checkpoint(info.contents))
            return 0

        callback = _n.WATCH_FN(on_checkpoint)

        def follow():
            err = _n.lib.ckpt_watch(wc._c, run_b, after_id, callback, None)
            try:
                wc._check(err)
                items.put(None)
            except CkptError as e:
                items.put(e)

        thread = threading.Thread(target=follow, name="ckpt-watch", daemon=True)
        thread.start()
        try:
            while True:
                item = items.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join()
            wc.close()

    # -- retention policy ---------------------------------------------------

    def set_policy(self, run: str, *, keep_last: Optional[int] = None,
                   keep_best: Optional[List[Tuple[str, str, int]]] = None,
                   keep_every: Optional[Tuple[str, int]] = None,
                   keep_within: Optional[str] = None) -> List[int]:
        """Set ``run``'s retention policy and apply it at once; returns the dropped ids.

        A checkpoint is kept if any rule keeps it (and the latest, pinned, aliased
        and leased ones always are): ``keep_last=N``; ``keep_best=[(metric, "min" or
        "max", k), ...]``; ``keep_every=("epoch" or "step", n)``; ``keep_within="48h"``.
        """
        p = _n.Policy()
        keep = []
        if keep_last is not None:
            p.keep_last = int(keep_last)
            if p.keep_last <= 0:
                raise InvalidArgument("keep_last must be positive", code="invalid_policy")
        rules = list(keep_best or [])
        if rules:
            arr = (_n.KeepBest * len(rules))()
            for i, (metric, mode, k) in enumerate(rules):
                if mode not in ("min", "max"):
                    raise InvalidArgument("keep_best mode must be 'min' or 'max'",
                                          code="invalid_policy")
                name = metric.encode()
                keep.append(name)
                arr[i].metric, arr[i].maximize, arr[i].k = name, mode == "max", int(k)
            keep.append(arr)
            p.keep_best, p.n_keep_best = arr, len(rules)
        if keep_every is not None:
            field = keep_every[0].encode()
            keep.append(field)
            p.keep_every_field, p.keep_every_n = field, int(keep_every[1])
        if keep_within is not None:
            within = keep_within.encode()
            keep.append(within)
            p.keep_within = within
        ids = ctypes.POINTER(ctypes.c_int64)()
        n = ctypes.c_size_t(0)
        with self._lock:
            self._check(_n.lib.ckpt_policy_set(self._handle(), run.encode(), ctypes.byref(p),
                                               ctypes.byref(ids), ctypes.byref(n)))
        try:
            return [ids[i] for i in range(n.value)]
        finally:
            _n.libc.free(ids)

    def policy(self, run: str) -> Tuple[Optional[dict], str]:
        """``(policy, source)``: the rules that apply to ``run`` as a dict in the server's
        JSON shape (None: none applies, everything is kept) and where they come from:
        "run", "default" (the server's --default-policy) or "none"."""
        out = ctypes.POINTER(_n.Policy)()
        from_default = ctypes.c_int(0)
        with self._lock:
            self._check(_n.lib.ckpt_policy_get(self._handle(), run.encode(), ctypes.byref(out),
                                               ctypes.byref(from_default)))
        if not out:
            return None, "none"
        try:
            p = out.contents
            d: dict = {}
            if p.keep_last:
                d["keep_last"] = p.keep_last
            if p.n_keep_best:
                d["keep_best"] = [{"metric": p.keep_best[i].metric.decode(),
                                   "mode": "max" if p.keep_best[i].maximize else "min",
                                   "k": p.keep_best[i].k} for i in range(p.n_keep_best)]
            if p.keep_every_field:
                d["keep_every"] = {"field": p.keep_every_field.decode(), "n": p.keep_every_n}
            if p.keep_within:
                d["keep_within"] = p.keep_within.decode()
            return d, "default" if from_default.value else "run"
        finally:
            _n.lib.ckpt_policy_free(out)

    def delete_policy(self, run: str) -> None:
        """Drop ``run``'s own policy. Raises NotFound when it has none."""
        with self._lock:
            self._check(_n.lib.ckpt_policy_delete(self._handle(), run.encode()))

    def plan(self, run: str) -> List[Tuple[int, str, List[str]]]:
        """What the current policy keeps and drops, changing nothing:
        ``[(id, "keep" or "drop", [reasons]), ...]`` in ascending id order."""
        out = ctypes.POINTER(_n.Plan)()
        with self._lock:
            self._check(_n.lib.ckpt_policy_plan(self._handle(), run.encode(), ctypes.byref(out)))
        try:
            items = out.contents.items
            return [(items[i].id, "keep" if items[i].keep else "drop",
                     [items[i].reasons[r].decode() for r in range(items[i].n_reasons)])
                    for i in range(out.contents.count)]
        finally:
            _n.lib.ckpt_plan_free(out)
