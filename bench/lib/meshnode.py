#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""One node of bench/tcpmesh: serves byte ranges to the other nodes and downloads from them.

Run inside a testbed namespace by bench/tcpmesh, never by hand. Protocol (plain TCP, port 7700):
the client writes "<n>\n", the server answers with n bytes of a 1 MiB pattern; a connection
carries any number of such exchanges, and a client may write the next request before the
previous answer has ended (pipelining), which the server answers in order.

Client modes (what a host's download looks like):
  long   one endless transfer from each of `--slots` distinct peers (TCP at its best)
  piece  `--slots` concurrent 1-piece transfers, each from a random peer, a new request only
         after the previous piece on that slot ended (Damselfly / Dragonfly today)
  pipe   as piece, but `--run` pieces per visit to a peer, requested together (pipelined),
         so the connection does not go idle between them
Prints one JSON line: bytes received per 0.5 s bucket.
"""
import argparse
import fcntl
import json
import mmap
import os
import struct
import random
import socket
import sys
import threading
import time

PORT = 7700
PATTERN = bytes(range(256)) * 4096          # 1 MiB


def serve_conn(c):
    buf = b""
    try:
        while True:
            d = c.recv(4096)
            if not d:
                return
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                n = int(line)
                while n > 0:
                    k = min(n, len(PATTERN))
                    c.sendall(PATTERN[:k])
                    n -= k
    except OSError:
        return
    finally:
        c.close()


def server():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", PORT))
    s.listen(128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve_conn, args=(c,), daemon=True).start()


class Meter:
    def __init__(self, t0, bucket=0.5, seconds=120):
        self.t0 = t0
        self.bucket = bucket
        self.b = [0] * int(seconds / bucket)
        self.lock = threading.Lock()

    def add(self, n):
        i = int((time.time() - self.t0) / self.bucket)
        if 0 <= i < len(self.b):
            with self.lock:
                self.b[i] += n


def recv_exact(c, n, meter, buf):
    while n > 0:
        k = c.recv_into(buf, min(n, len(buf)))
        if k == 0:
            raise OSError("peer closed")
        meter.add(k)
        n -= k


def slot_long(peer, meter, stop):
    c = socket.create_connection((peer, PORT), timeout=30)
    c.sendall(b"%d\n" % (1 << 40))
    buf = bytearray(1 << 20)
    while time.time() < stop:
        k = c.recv_into(buf)
        if k == 0:
            break
        meter.add(k)
    c.close()


class Loads:
    """Uploads in progress per host, shared by every node through a file (one 4-byte counter
    per host), so that a slot can take the least loaded uploader as Damselfly's scheduler does."""

    def __init__(self, path, peers_all):
        self.fd = os.open(path, os.O_RDWR)
        self.mm = mmap.mmap(self.fd, 4 * len(peers_all))
        self.index = {ip: i for i, ip in enumerate(peers_all)}
        self.lock = threading.Lock()

    def _get(self, i):
        return struct.unpack_from("i", self.mm, 4 * i)[0]

    def take(self, peers):
        with self.lock:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            try:
                best = min(peers, key=lambda p: (self._get(self.index[p]), random.random()))
                i = self.index[best]
                struct.pack_into("i", self.mm, 4 * i, self._get(i) + 1)
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        return best

    def give(self, peer):
        with self.lock:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            try:
                i = self.index[peer]
                struct.pack_into("i", self.mm, 4 * i, self._get(i) - 1)
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)


def slot_piece(peers, piece, run, meter, stop, slot, choice, loads):
    """Pieces from random peers, the least loaded one (a shared counter file), round robin from
    a per-slot offset, or always the same peer per slot (fixed: slot j of every host uses its
    j-th neighbour, so every uploader serves exactly `slots` downloaders); `run` pieces per
    visit, all requested at once (pipelined)."""
    conns = {}
    buf = bytearray(1 << 20)
    k = slot
    while time.time() < stop:
        if choice == "fixed":
            peer = peers[slot % len(peers)]
        elif choice == "least":
            peer = loads.take(peers)
        elif choice == "rr":
            peer = peers[k % len(peers)]
            k += 1
        else:
            peer = random.choice(peers)
        c = conns.get(peer)
        if c is None:
            c = socket.create_connection((peer, PORT), timeout=30)
            conns[peer] = c
        c.sendall(b"".join(b"%d\n" % piece for _ in range(run)))
        for _ in range(run):
            recv_exact(c, piece, meter, buf)
        if choice == "least":
            loads.give(peer)
    for c in conns.values():
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["long", "piece", "pipe"], default="long")
    ap.add_argument("--peers", default="")
    ap.add_argument("--slots", type=int, default=5)
    ap.add_argument("--piece", type=int, default=1 << 20)
    ap.add_argument("--run", type=int, default=4)
    ap.add_argument("--choice", choices=["rr", "random", "least", "fixed"], default="least")
    ap.add_argument("--loads", default="", help="least: the shared counter file")
    ap.add_argument("--all", default="", help="least: every host's address, in file order")
    ap.add_argument("--start", type=float, default=0)
    ap.add_argument("--seconds", type=float, default=20)
    a = ap.parse_args()
    threading.Thread(target=server, daemon=True).start()
    peers = [p for p in a.peers.split(",") if p]
    while time.time() < a.start:
        time.sleep(0.01)
    loads = Loads(a.loads, a.all.split(",")) if a.choice == "least" else None
    t0 = time.time()
    stop = t0 + a.seconds
    meter = Meter(t0)
    ths = []
    def guarded(fn, *args):
        # a peer that finished its own run closes its connections: a slot still in the middle
        # of a long visit then ends (its bytes so far are counted)
        try:
            fn(*args)
        except OSError:
            pass

    for i in range(a.slots):
        if a.mode == "long":
            th = threading.Thread(target=guarded, args=(slot_long, peers[i % len(peers)], meter, stop))
        else:
            th = threading.Thread(target=guarded,
                                  args=(slot_piece, peers, a.piece, a.run if a.mode == "pipe" else 1,
                                        meter, stop, i, a.choice, loads))
        th.daemon = True
        th.start()
        ths.append(th)
    for th in ths:
        th.join(a.seconds + 10)
    # keep serving until the others are done
    time.sleep(3)
    print(json.dumps({"bucket": meter.bucket, "bytes": meter.b[:int(a.seconds / meter.bucket)]}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
