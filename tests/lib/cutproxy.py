#!/usr/bin/env python3
"""cutproxy.py - a small HTTP/1.1 TCP proxy in front of ckptd, for the client tests.

It forwards every connection to the upstream daemon and parses requests and responses just
enough to find where each message and its body begin and end (Content-Length, chunked, or
until close), so that it can inject faults at exact byte offsets:

  --cut N[,N...]       close the i-th blob download (GET .../blob answered 200 or 206) after
                       N body bytes have been forwarded to the client: the client sees a
                       connection closed early and must resume
  --flip-upload OFF    flip the lowest bit of body byte OFF of the first upload (PUT/POST)
  --cut-upload N       close the first upload's connection after N body bytes were forwarded
                       to the daemon: the client sees its upload fail midway and must retry
  --drop-trailers      remove the trailer fields of chunked requests, as nginx does: the
                       body still ends properly, only its trailer section is empty
  --flip-download OFF  flip the lowest bit of body byte OFF of the first blob download
  --drop-range         remove Range and If-Range from requests, as a server or proxy that
                       ignores them would: the server then answers 200 with the whole blob
  --fail N --fail-status S [--fail-code C]
                       answer the first N requests itself with status S and a JSON error
                       body {"error":{"code":C,...}}, then close that connection

Every request is logged as one line `req CONN METHOD TARGET | Name: value | ...` (all its
headers) and every response as `resp CONN STATUS body=BYTES cut|complete|eof [blob]
[content-range=...]` (blob: the answer to a blob download).
The listening port goes to --port-file once the proxy accepts connections.
Only the standard library; one thread per direction per connection.
"""
import argparse
import collections
import os
import socket
import sys
import threading

LOG_LOCK = threading.Lock()
STATE_LOCK = threading.Lock()


class State:
    """What the fault options have used up so far, shared by all connections."""

    def __init__(self, args):
        self.cuts = [int(x) for x in args.cut.split(",")] if args.cut else []
        self.blob_responses = 0
        self.flip_upload = args.flip_upload
        self.cut_upload = args.cut_upload
        self.flip_download = args.flip_download
        self.fail_left = args.fail
        self.fail_status = args.fail_status
        self.fail_code = args.fail_code
        self.conns = 0


def log(path, line):
    if not path:
        return
    with LOG_LOCK:
        with open(path, "a", encoding="utf-8", errors="replace") as f:
            f.write(line + "\n")


def parse_head(head):
    """(first line, [(name, value)], {lowercase name: value}) of a message head."""
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0]
    headers = []
    for l in lines[1:]:
        if not l:
            continue
        name, _, value = l.partition(":")
        headers.append((name.strip(), value.strip()))
    return first, headers, {n.lower(): v for n, v in headers}


class Direction:
    """Incremental parser of one direction of a connection (requests or responses)."""

    def __init__(self, conn, is_request):
        self.conn = conn
        self.is_request = is_request
        self.buf = bytearray()
        self.state = "head"
        self.remaining = 0
        self.body_off = 0
        self.cut_at = None      # response: forward at most this many body bytes
        self.flip_at = None     # flip this body offset
        self.discard = False    # request answered by the proxy itself: drop its body
        self.msg = None         # (status, is_blob) of the response being forwarded
        self.msg_extra = ""
        self.done = False       # stop forwarding (cut, or answered locally)

    # -- message hooks

    def on_request_head(self, head):
        first, headers, h = parse_head(head)
        parts = first.split(" ")
        method = parts[0] if parts else ""
        target = parts[1] if len(parts) > 1 else ""
        log(self.conn.args.log, "req %d %s %s%s" % (
            self.conn.n, method, target, "".join(" | %s: %s" % hv for hv in headers)))
        path = target.split("?", 1)[0]
        is_blob = method == "GET" and path.endswith("/blob")
        st = self.conn.state
        fail = False
        with STATE_LOCK:
            if st.fail_left > 0:
                st.fail_left -= 1
                fail = True
            if not fail and method in ("PUT", "POST") and st.flip_upload is not None:
                self.flip_at = st.flip_upload
                st.flip_upload = None
            if not fail and method in ("PUT", "POST") and st.cut_upload is not None:
                self.cut_at = st.cut_upload
                st.cut_upload = None
        body = self.set_framing(h, request_method=None)
        if fail:
            self.discard = True
            if not body or h.get("expect", "").lower() == "100-continue":
                self.answer_locally()
            return b""
        self.conn.pending.append((method, is_blob))
        if self.conn.args.drop_range and "range" in h:
            # Play a server that ignores Range: the client must not splice its answer on.
            kept = [hv for hv in headers if hv[0].lower() not in ("range", "if-range")]
            head = ("\r\n".join([first] + ["%s: %s" % hv for hv in kept]) + "\r\n\r\n").encode("latin-1")
            log(self.conn.args.log, "dropped %d Range and If-Range" % self.conn.n)
        return head

    def on_response_head(self, head):
        first, _, h = parse_head(head)
        parts = first.split(" ")
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if 100 <= status < 200:
            log(self.conn.args.log, "resp %d %d interim" % (self.conn.n, status))
            return head  # the final answer follows
        method, is_blob = self.conn.pending.popleft() if self.conn.pending else ("GET", False)
        self.msg = (status, is_blob)
        st = self.conn.state
        if is_blob and status in (200, 206):
            with STATE_LOCK:
                i = st.blob_responses
                st.blob_responses += 1
                if i < len(st.cuts):
                    self.cut_at = st.cuts[i]
                if st.flip_download is not None:
                    self.flip_at = st.flip_download
                    st.flip_download = None
        extra = ""
        if "content-range" in h:
            extra = " content-range=" + h["content-range"]
        self.msg_extra = extra
        no_body = method == "HEAD" or status in (204, 304)
        self.set_framing(h, request_method=method, no_body=no_body)
        if self.state == "head":
            self.end_message("complete")
        return head

    def set_framing(self, h, request_method, no_body=False):
        """Set the body state from the headers; True when a body follows."""
        self.body_off = 0
        if no_body:
            self.state = "head"
            return False
        if "chunked" in h.get("transfer-encoding", "").lower():
            self.state = "chunk_size"
            return True
        if "content-length" in h:
            self.remaining = int(h["content-length"])
            self.state = "cl" if self.remaining > 0 else "head"
            return self.remaining > 0
        if self.is_request:
            self.state = "head"
            return False
        self.state = "close"
        return True

    def end_message(self, how):
        if self.is_request:
            if self.discard:
                self.answer_locally()
            self.flip_at = None
            self.cut_at = None
        else:
            if self.msg:
                log(self.conn.args.log, "resp %d %d body=%d %s%s%s" % (
                    self.conn.n, self.msg[0], self.body_off, how, " blob" if self.msg[1] else "",
                    self.msg_extra))
            self.msg = None
            self.cut_at = None
            self.flip_at = None
        self.state = "head"

    def answer_locally(self):
        st = self.conn.state
        body = ('{"error":{"code":"%s","message":"injected by cutproxy"}}' % st.fail_code).encode()
        resp = (b"HTTP/1.1 %d Injected\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n" % (st.fail_status, len(body))) + body
        log(self.conn.args.log, "resp %d %d body=%d injected" % (self.conn.n, st.fail_status, len(body)))
        try:
            self.conn.client.sendall(resp)
        except OSError:
            pass
        self.done = True
        self.conn.close_both()

    def body_bytes(self, data):
        """Forward body data: apply a flip and a cut at their offsets."""
        out = bytearray(data)
        if self.flip_at is not None and self.body_off <= self.flip_at < self.body_off + len(out):
            out[self.flip_at - self.body_off] ^= 1
            log(self.conn.args.log, "flip %d body byte %d" % (self.conn.n, self.flip_at))
            self.flip_at = None
        if self.cut_at is not None and self.body_off + len(out) >= self.cut_at:
            keep = self.cut_at - self.body_off
            out = out[:keep]
            self.body_off += keep
            self.done = True
            if self.is_request:
                log(self.conn.args.log, "cut-upload %d body=%d" % (self.conn.n, self.body_off))
            return bytes(out)
        self.body_off += len(out)
        return b"" if self.discard else bytes(out)

    # -- the state machine

    def feed(self, data, eof=False):
        """Consume data; return the bytes to forward."""
        self.buf += data
        out = bytearray()
        while not self.done:
            if self.state == "head":
                i = self.buf.find(b"\r\n\r\n")
                if i < 0:
                    break
                head = bytes(self.buf[: i + 4])
                del self.buf[: i + 4]
                out += self.on_request_head(head) if self.is_request else self.on_response_head(head)
            elif self.state in ("cl", "chunk_data"):
                n = min(self.remaining, len(self.buf))
                if n == 0:
                    break
                chunk = bytes(self.buf[:n])
                del self.buf[:n]
                self.remaining -= n
                out += self.body_bytes(chunk)
                if self.done:
                    break
                if self.remaining == 0:
                    if self.state == "cl":
                        self.end_message("complete")
                    else:
                        self.state = "chunk_crlf"
            elif self.state == "chunk_size":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                line = bytes(self.buf[: i + 2])
                del self.buf[: i + 2]
                if not self.discard:
                    out += line
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.state = "trailer"
                else:
                    self.remaining = size
                    self.state = "chunk_data"
            elif self.state == "chunk_crlf":
                if len(self.buf) < 2:
                    break
                if not self.discard:
                    out += self.buf[:2]
                del self.buf[:2]
                self.state = "chunk_size"
            elif self.state == "trailer":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                line = bytes(self.buf[: i + 2])
                del self.buf[: i + 2]
                trailer = line != b"\r\n"
                if not self.discard and not (trailer and self.conn.args.drop_trailers):
                    out += line
                if trailer:
                    log(self.conn.args.log, "%s %d %s" % (
                        "dropped-trailer" if self.conn.args.drop_trailers else "trailer", self.conn.n,
                        line.decode("latin-1").strip()))
                else:
                    self.end_message("complete")
            elif self.state == "close":
                if not self.buf:
                    break
                chunk = bytes(self.buf)
                self.buf.clear()
                out += self.body_bytes(chunk)
            else:
                break
        if eof and not self.is_request and self.msg and not self.done:
            self.end_message("eof")
        return bytes(out)


class Conn:
    def __init__(self, client, args, state, n):
        self.client = client
        self.args = args
        self.state = state
        self.n = n
        self.pending = collections.deque()
        self.upstream = None
        self.lock = threading.Lock()
        self.closed = False

    def close_both(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.upstream):
            if s is None:
                continue
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def pump(self, src, dst, parser):
        try:
            while True:
                data = src.recv(65536)
                out = parser.feed(data, eof=not data)
                if out:
                    dst.sendall(out)
                if parser.done:
                    if not parser.is_request and parser.msg:
                        parser.end_message("cut")
                    self.close_both()
                    return
                if not data:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
        except OSError:
            self.close_both()

    def run(self):
        host, port = self.args.upstream.rsplit(":", 1)
        try:
            self.upstream = socket.create_connection((host, int(port)))
        except OSError as e:
            log(self.args.log, "conn %d upstream connect failed: %s" % (self.n, e))
            self.client.close()
            return
        t1 = threading.Thread(target=self.pump, args=(self.client, self.upstream, Direction(self, True)),
                              daemon=True)
        t2 = threading.Thread(target=self.pump, args=(self.upstream, self.client, Direction(self, False)),
                              daemon=True)
        t1.start()
        t2.start()
        t1.join()
        t2.join()
        self.client.close()
        self.upstream.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT of ckptd")
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--cut", default="")
    ap.add_argument("--flip-upload", type=int)
    ap.add_argument("--flip-download", type=int)
    ap.add_argument("--drop-range", action="store_true")
    ap.add_argument("--cut-upload", type=int)
    ap.add_argument("--drop-trailers", action="store_true")
    ap.add_argument("--fail", type=int, default=0)
    ap.add_argument("--fail-status", type=int, default=503)
    ap.add_argument("--fail-code", default="unavailable")
    args = ap.parse_args()
    state = State(args)

    host, port = args.listen.rsplit(":", 1)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(64)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(tmp, args.port_file)
    while True:
        c, _ = ls.accept()
        state.conns += 1
        conn = Conn(c, args, state, state.conns)
        threading.Thread(target=conn.run, daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
