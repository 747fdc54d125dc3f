#!/usr/bin/env python3
"""slowbody.py - a client that sends a request's headers and part of its
body, then stalls: what a slow or stuck client does to the layers in
front of tokend.

    slowbody.py PORT PATH [--length N] [--send N] [--stall S]
                [--finish] [--wait S] [--trickle S]
                [--header 'Name: value' ...]

Connects to 127.0.0.1:PORT, sends "POST PATH" with Content-Length N and
Content-Type application/json, then --send bytes of a body of spaces,
then sleeps --stall seconds; with --finish it then sends the rest.
With --trickle S it does not go quiet during the stall: it sends one more
byte of the body every S seconds (a client too slow, not stuck).  It
reads whatever comes back until the server closes or --wait seconds pass
(counted from the start).  Prints one line:

    status=CODE elapsed=SECONDS closed=yes|no request_id=ID|-

where CODE is the HTTP status received, or "none" when the connection
ended (or --wait ran out) with no status line; elapsed is when the answer
(or the close) came, from the start.  With --body-out FILE the response
body is written there.
"""
import argparse
import re
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("path")
    ap.add_argument("--length", type=int, default=100)
    ap.add_argument("--send", type=int, default=10)
    ap.add_argument("--stall", type=float, default=4.0)
    ap.add_argument("--finish", action="store_true")
    ap.add_argument("--wait", type=float, default=20.0)
    ap.add_argument("--trickle", type=float, default=0.0)
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--body-out")
    a = ap.parse_args()

    start = time.monotonic()
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    head = (f"POST {a.path} HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {a.length}\r\n"
            "Connection: close\r\n")
    for h in a.header:
        head += h + "\r\n"
    s.sendall((head + "\r\n").encode() + b" " * a.send)
    got = b""
    closed = False
    answered_at = None

    def read_until(deadline):
        """Read until the peer closes or the deadline; False if closed."""
        nonlocal got, answered_at
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return True
            except (ConnectionResetError, BrokenPipeError):
                return False
            if not chunk:
                return False
            if answered_at is None:
                answered_at = time.monotonic() - start
            got += chunk

    # The stall: whatever the server says meanwhile is kept.
    if a.trickle > 0:
        sent = a.send
        open_ = True
        while open_ and not got and time.monotonic() < start + a.stall:
            open_ = read_until(min(time.monotonic() + a.trickle,
                                   start + a.stall))
            if open_ and not got and sent < a.length - 1:
                try:
                    s.sendall(b" ")
                    sent += 1
                except (ConnectionResetError, BrokenPipeError):
                    open_ = False
    else:
        open_ = read_until(start + a.stall)
    if open_ and a.finish:
        try:
            s.sendall(b" " * (a.length - a.send))
        except (ConnectionResetError, BrokenPipeError):
            open_ = False
    if open_:
        open_ = read_until(start + a.wait)
    closed = not open_
    end = time.monotonic() - start
    s.close()

    m = re.match(rb"HTTP/1\.[01] (\d{3})", got)
    rid = re.search(rb"(?im)^x-request-id: *([A-Za-z0-9._-]+)", got)
    if a.body_out:
        with open(a.body_out, "wb") as f:
            f.write(got.split(b"\r\n\r\n", 1)[-1])
    print("status=%s elapsed=%.1f closed=%s request_id=%s" % (
        m.group(1).decode() if m else "none",
        answered_at if answered_at is not None and m else end,
        "yes" if closed else "no",
        rid.group(1).decode() if rid else "-"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
