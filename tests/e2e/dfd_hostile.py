#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Raw-socket abuse of a dfdaemon (tests/e2e/test_dfd_hostile.sh).

usage: dfd_hostile.py PORT MODE [ARGS]
  junk                 send random bytes and garbage request lines on several connections
  slowloris N SECS     open N connections: half send a partial request header, half nothing;
                       all must be closed by the server within SECS seconds; prints the
                       slowest close time
  abort PATH           GET PATH, read 64 KiB of the body, then reset the connection
Exit 0 on the expected behaviour, 1 with a message otherwise.
"""
import os
import socket
import struct
import sys
import time


def conn(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def junk(port):
    payloads = [os.urandom(4096), b"BLAH\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                b"GET /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n",
                b"\x00\x01\x02 /v2/ HTTP/1.1\r\n\r\n",
                b"GET /v2/" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET http://[::1/ HTTP/1.1\r\nHost: x\r\n\r\n"]
    for p in payloads:
        s = conn(port)
        try:
            s.sendall(p)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(5)
            while s.recv(65536):
                pass
        except OSError:
            pass
        finally:
            s.close()
    return 0


def slowloris(port, n, secs):
    socks = []
    for i in range(n):
        s = conn(port)
        if i % 2 == 0:
            s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(s)
    t0 = time.monotonic()
    slowest = 0.0
    for s in socks:
        left = secs - (time.monotonic() - t0)
        if left <= 0:
            print("FAIL: a connection was still open after %.1fs" % secs)
            return 1
        s.settimeout(left)
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
        except socket.timeout:
            print("FAIL: a connection was still open after %.1fs" % secs)
            return 1
        except OSError:
            pass
        slowest = max(slowest, time.monotonic() - t0)
        s.close()
    print("%.2f" % slowest)
    return 0


def abort(port, path):
    s = conn(port)
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())
    got = 0
    while got < 65536:
        d = s.recv(65536)
        if not d:
            print("FAIL: server closed before 64 KiB")
            return 1
        got += len(d)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    s.close()
    return 0


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    if mode == "junk":
        return junk(port)
    if mode == "slowloris":
        return slowloris(port, int(sys.argv[3]), float(sys.argv[4]))
    if mode == "abort":
        return abort(port, sys.argv[3])
    print("unknown mode")
    return 2


if __name__ == "__main__":
    sys.exit(main())
