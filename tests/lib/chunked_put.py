#!/usr/bin/env python3
"""chunked_put.py - send one chunked PUT to ckptd over a raw socket, for the client tests.

  chunked_put.py PORT PATH FILE [--chunk N] [--trailer "Name: value"] [--announce NAME]
                                [--vanish]

Sends FILE as chunks of N bytes (default 65521), then the last chunk, the given trailer field
(if any) and the final CRLF; `Trailer: NAME` is announced when --announce is given. Prints the
answer as one line: `STATUS CODE SHA256` (error code and sha256 of a JSON body, `-` when absent).
With --vanish it sends the head and the first chunk and closes the connection at once, with no
pause and no last chunk, and prints `vanished`.
"""
import argparse
import json
import socket


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("path")
    ap.add_argument("file")
    ap.add_argument("--chunk", type=int, default=65521)
    ap.add_argument("--trailer")
    ap.add_argument("--announce")
    ap.add_argument("--vanish", action="store_true")
    a = ap.parse_args()

    with open(a.file, "rb") as f:
        data = f.read()
    head = "PUT %s HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n" % a.path
    if a.announce:
        head += "Trailer: %s\r\n" % a.announce
    head += "Connection: close\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", a.port), timeout=30)
    s.sendall(head.encode())
    for off in range(0, len(data), a.chunk):
        piece = data[off:off + a.chunk]
        s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        if a.vanish:
            s.close()
            print("vanished")
            return
    s.sendall(b"0\r\n" + ((a.trailer + "\r\n").encode() if a.trailer else b"") + b"\r\n")
    resp = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        resp += b
    s.close()
    head, _, body = resp.partition(b"\r\n\r\n")
    status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "none"
    code = sha = "-"
    try:
        j = json.loads(body.decode())
        code = (j.get("error") or {}).get("code", "-")
        sha = j.get("sha256", "-")
    except (ValueError, AttributeError):
        pass
    print(status, code, sha)


if __name__ == "__main__":
    main()
