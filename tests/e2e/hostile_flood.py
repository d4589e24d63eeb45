#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Slow-header flood for tests/e2e/test_hostile_flood.sh (loopback only).

Usage: hostile_flood.py HOST PORT N HOLD_S [TRICKLE_S]

Opens N connections to HOST:PORT (non-blocking connects, at most 8 s for all), sends each a
partial request head ("GET /x HTTP/1.1\r\nHost: h\r\n") and then one more byte every TRICKLE_S
seconds (default 1), never finishing the head. Watches every connection for the server closing
it (EOF or reset). Prints, flushed:
    open K              once the connects are done (K = connections established)
    eof E of K max S    at the end: E of them closed by the server, the last after S seconds
It ends after HOLD_S seconds, on SIGTERM/SIGINT, or as soon as the server closed them all,
and closes its sockets when it exits.
"""
import errno
import resource
import selectors
import signal
import socket
import sys
import time


def main():
    host, port, n, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    trickle = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    sel = selectors.DefaultSelector()
    connecting = {}
    for _ in range(n):
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        s.setblocking(False)
        rc = s.connect_ex((host, port))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            continue
        connecting[s] = True
        sel.register(s, selectors.EVENT_WRITE)
    head = b"GET /x HTTP/1.1\r\nHost: h\r\n"
    is_open = {}
    t_conn = time.monotonic()
    while connecting and time.monotonic() - t_conn < 8 and not stop:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            if s not in connecting:
                continue
            del connecting[s]
            sel.unregister(s)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                s.close()
                continue
            try:
                s.send(head)
            except OSError:
                s.close()
                continue
            is_open[s] = time.monotonic()
            sel.register(s, selectors.EVENT_READ)
    for s in connecting:
        sel.unregister(s)
        s.close()
    k = len(is_open)
    print("open %d" % k, flush=True)

    eof, last_eof = 0, 0.0
    t0 = time.monotonic()
    next_trickle = t0 + trickle
    while not stop and is_open and time.monotonic() - t0 < hold:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                continue  # an error reply; the close follows
            last_eof = time.monotonic() - is_open.pop(s)
            eof += 1
            sel.unregister(s)
            s.close()
        now = time.monotonic()
        if now >= next_trickle:
            next_trickle = now + trickle
            for s in list(is_open):
                try:
                    s.send(b"X")
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    pass  # reset: the read side reports it
    print("eof %d of %d max %.1f" % (eof, k, last_eof), flush=True)
    for s in is_open:
        s.close()


if __name__ == "__main__":
    main()
