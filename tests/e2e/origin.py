#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A small, real HTTP/1.1 origin server for Damselfly's end-to-end tests and demo.

Serves the files of one directory (GET/HEAD, keep-alive) with Content-Length, ETag and
Last-Modified; answers conditional GETs (If-None-Match / If-Modified-Since -> 304), one byte range
(206 / 416) and If-Range. It counts requests, status codes and body bytes actually sent, per path
and in total:

  GET /__stats            -> JSON {"total": {...}, "paths": {"/f": {"requests", "bytes",
                             "status": {"200": n}, "methods": {"GET": n}}}, "fault": mode}
  GET /__stats?reset=1    -> same JSON (the values before the reset), then all counters are zeroed
  GET /__fault?mode=M     -> sets the fault mode (also --fault M); GET /__fault returns it

Fault modes (apply to every file request; the /__ endpoints are never faulty nor counted):
  none        normal operation
  404, 500    answer with that status and a short body
  truncate    announce the full Content-Length, send half of the body, close the connection
  corrupt     same length, but 64 bytes in the middle of the body have their bits flipped
  reset       send half of the body, then abort the connection with a TCP RST
  slow=<B/s>  send the body at about B bytes per second
  gate=<N>    send the first N body bytes of each answer, then hold the rest until the fault mode
              is changed (an event a test controls: "the origin has sent exactly N bytes, and
              no more will come until I say so"); /__stats counts the answers held ("gated")
  nolength    no Content-Length: chunked transfer encoding (HTTP/1.1)
  redirect=<url>  answer every file request with 302 and Location: <url> (no body is sent;
              url-encode it in /__fault?mode=...)

Binds only to loopback (--bind 127.0.0.1, ::1, or 127.0.0.2 for a second IPv4 loopback origin). With --port 0 the kernel chooses the port;
the port is always printed (alone, on one line) on stdout once the socket listens.
Python 3 standard library only.
"""

import argparse
import email.utils
import http.server
import json
import os
import posixpath
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

CHUNK = 256 * 1024
FAULT_MODES = ("none", "404", "500", "truncate", "corrupt", "reset", "nolength")


def parse_fault(mode):
    """Validate a fault mode string; returns (name, arg) or raises ValueError."""
    if mode in FAULT_MODES:
        return mode, None
    if mode.startswith("slow="):
        rate = int(mode[5:])
        if rate <= 0:
            raise ValueError("slow rate must be > 0")
        return "slow", rate
    if mode.startswith("gate="):
        n = int(mode[5:])
        if n < 0:
            raise ValueError("gate offset must be >= 0")
        return "gate", n
    if mode.startswith("redirect="):
        url = mode[9:]
        if not url.startswith(("http://", "https://")):
            raise ValueError("redirect target must be an http(s) URL")
        return "redirect", url
    raise ValueError("unknown fault mode %r" % mode)


class Stats:
    """Thread-safe request/byte/status counters."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    @staticmethod
    def _empty():
        return {"requests": 0, "bytes": 0, "status": {}, "methods": {}}

    def reset(self):
        with self.lock:
            self.total = self._empty()
            self.paths = {}

    def request(self, path, method, status):
        with self.lock:
            for entry in (self.total, self.paths.setdefault(path, self._empty())):
                entry["requests"] += 1
                entry["status"][str(status)] = entry["status"].get(str(status), 0) + 1
                entry["methods"][method] = entry["methods"].get(method, 0) + 1

    def body_bytes(self, path, n):
        with self.lock:
            self.total["bytes"] += n
            self.paths.setdefault(path, self._empty())["bytes"] += n

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps({"total": self.total, "paths": self.paths}))


class OriginServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, family, root, fault):
        self.address_family = family
        self.root = os.path.realpath(root)
        self.stats = Stats()
        self.fault_lock = threading.Lock()
        self.fault_changed = threading.Condition(self.fault_lock)
        self.fault = fault
        self.gated = 0
        super().__init__(addr, Handler)

    def server_bind(self):
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]

    def get_fault(self):
        with self.fault_lock:
            return self.fault

    def set_fault(self, fault):
        with self.fault_lock:
            self.fault = fault
            self.fault_changed.notify_all()

    def gate_wait(self, fault):
        """Blocks while the fault mode is still `fault` (at most 10 min, a bound for tests that
        die without opening the gate)."""
        with self.fault_lock:
            self.gated += 1
            self.fault_changed.wait_for(lambda: self.fault != fault, timeout=600)
            self.gated -= 1

    def gated_count(self):
        with self.fault_lock:
            return self.gated


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "damselfly-test-origin/1"

    def log_message(self, fmt, *args):  # one line per request on stderr
        if not self.server.quiet:
            sys.stderr.write("%s [%s] %s\n" % (self.address_string(), self.log_date_time_string(),
                                               fmt % args))

    # ---- control endpoints -------------------------------------------------------------------
    def _send_json(self, status, obj):
        body = (json.dumps(obj, sort_keys=True) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _control(self, path, query):
        q = urllib.parse.parse_qs(query)
        if path == "/__stats":
            snap = self.server.stats.snapshot()
            name, arg = self.server.get_fault()
            snap["fault"] = name if arg is None else "%s=%s" % (name, arg)
            snap["gated"] = self.server.gated_count()
            if q.get("reset", ["0"])[0] not in ("0", ""):
                self.server.stats.reset()
            self._send_json(200, snap)
        elif path == "/__fault":
            if "mode" in q:
                try:
                    self.server.set_fault(parse_fault(q["mode"][0]))
                except ValueError as e:
                    self._send_json(400, {"error": str(e)})
                    return
            name, arg = self.server.get_fault()
            self._send_json(200, {"fault": name if arg is None else "%s=%s" % (name, arg)})
        else:
            self._send_json(404, {"error": "unknown control endpoint"})

    # ---- helpers -----------------------------------------------------------------------------
    def _simple(self, status, text, extra=()):
        body = (text + "\n").encode() if self.command != "HEAD" and status != 304 else b""
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len((text + "\n").encode())))
        self.end_headers()
        if body:
            self.wfile.write(body)
            self.server.stats.body_bytes(self.req_path, len(body))

    def _fs_path(self, url_path):
        """Map a URL path to a file under root, or None (never escapes root)."""
        rel = posixpath.normpath(urllib.parse.unquote(url_path)).lstrip("/")
        if rel in ("", ".") or rel.startswith(".."):
            return None
        full = os.path.realpath(os.path.join(self.server.root, rel))
        if not full.startswith(self.server.root + os.sep) or not os.path.isfile(full):
            return None
        return full

    @staticmethod
    def _parse_range(value, size):
        """Single 'bytes=' range -> (start, end) inclusive; 'bad' for unsatisfiable;
        None when absent, malformed or multi-range (then the full body is sent, RFC 9110 14.2)."""
        if not value:
            return None
        value = value.strip()
        if not value.lower().startswith("bytes="):
            return None
        spec = value[6:].strip()
        if "," in spec or "-" not in spec:
            return None
        first, last = (s.strip() for s in spec.split("-", 1))
        try:
            if first == "":
                if not last.isdigit():
                    return None
                n = int(last)
                if n == 0 or size == 0:
                    return "bad"
                return (max(0, size - n), size - 1)
            if not first.isdigit() or (last and not last.isdigit()):
                return None
            start = int(first)
            if last and int(last) < start:
                return None
            if start >= size:
                return "bad"
            end = int(last) if last else size - 1
            return (start, min(end, size - 1))
        except ValueError:
            return None

    def _not_modified(self, etag, mtime):
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            tags = [t.strip() for t in inm.split(",")]
            # weak comparison for If-None-Match (RFC 9110 13.1.2)
            return "*" in tags or etag in tags or ("W/" + etag) in tags
        ims = self.headers.get("If-Modified-Since")
        if ims is not None:
            try:
                t = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                return False
            return int(mtime) <= t
        return False

    def _if_range_ok(self, etag, last_modified):
        ir = self.headers.get("If-Range")
        if ir is None:
            return True
        ir = ir.strip()
        if ir.startswith('"') or ir.startswith("W/"):
            return ir == etag  # strong comparison; weak tags never match
        return ir == last_modified

    # ---- file serving ------------------------------------------------------------------------
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        parsed = urllib.parse.urlsplit(self.path)
        if parsed.path.startswith("/__"):
            self.req_path = parsed.path
            self._control(parsed.path, parsed.query)
            return
        self.req_path = parsed.path
        fault, fault_arg = self.server.get_fault()
        full = self._fs_path(parsed.path)
        want = getattr(self.server, "auth", None)
        if want is not None and self.headers.get("Authorization", "") != want:
            self.server.stats.request(self.req_path, self.command, 401)
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="origin"')
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "13")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(b"unauthorized\n")
            return
        if fault in ("404", "500"):
            status = int(fault)
            self.server.stats.request(self.req_path, self.command, status)
            self._simple(status, "injected fault %s" % fault)
            return
        if fault == "redirect":
            self.server.stats.request(self.req_path, self.command, 302)
            self._simple(302, "moved", (("Location", fault_arg),))
            return
        if full is None:
            self.server.stats.request(self.req_path, self.command, 404)
            self._simple(404, "not found")
            return
        try:
            f = open(full, "rb")
        except OSError:
            self.server.stats.request(self.req_path, self.command, 404)
            self._simple(404, "not found")
            return
        with f:
            st = os.fstat(f.fileno())
            size = st.st_size
            etag = '"%x-%x"' % (size, st.st_mtime_ns)
            last_modified = email.utils.formatdate(st.st_mtime, usegmt=True)
            validators = (("ETag", etag), ("Last-Modified", last_modified))
            if self._not_modified(etag, st.st_mtime):
                self.server.stats.request(self.req_path, self.command, 304)
                self._simple(304, "", validators)
                return
            rng = None
            if self._if_range_ok(etag, last_modified):
                rng = self._parse_range(self.headers.get("Range"), size)
            if rng == "bad":
                self.server.stats.request(self.req_path, self.command, 416)
                self._simple(416, "range not satisfiable",
                             validators + (("Content-Range", "bytes */%d" % size),))
                return
            if rng is None:
                status, start, length = 200, 0, size
            else:
                status, start, length = 206, rng[0], rng[1] - rng[0] + 1
            self.server.stats.request(self.req_path, self.command, status)
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            for k, v in validators:
                self.send_header(k, v)
            if status == 206:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, start + length - 1, size))
            if fault == "nolength":
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command == "HEAD":
                return
            self._send_body(f, start, length, fault, fault_arg)

    def _send_body(self, f, start, length, fault, fault_arg):
        path = self.req_path
        stats = self.server.stats
        sock = self.connection
        if fault == "none":
            sent = 0
            try:
                while sent < length:
                    n = sock.sendfile(f, start + sent, length - sent)
                    if n == 0:
                        break
                    sent += n
                    stats.body_bytes(path, n)
            finally:
                if sent < length:
                    self.close_connection = True
            return
        limit = length
        if fault in ("truncate", "reset"):
            limit = length // 2
        elif fault == "gate":
            limit = min(length, fault_arg)
        corrupt_lo = length // 2 - 32 if fault == "corrupt" else -1
        f.seek(start)
        pos = 0
        t0 = time.monotonic()
        try:
            while pos < limit:
                want = min(CHUNK, limit - pos)
                if fault == "slow":
                    want = min(want, max(1, fault_arg // 20))
                data = f.read(want)
                if not data:
                    break
                if fault == "corrupt" and pos < corrupt_lo + 64 and pos + len(data) > corrupt_lo:
                    buf = bytearray(data)
                    for i in range(max(0, corrupt_lo - pos), min(len(buf), corrupt_lo + 64 - pos)):
                        buf[i] ^= 0xFF
                    data = bytes(buf)
                if fault == "nolength":
                    self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
                else:
                    self.wfile.write(data)
                stats.body_bytes(path, len(data))
                pos += len(data)
                if fault == "slow":
                    ahead = pos / fault_arg - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
            if fault == "nolength" and pos == limit:
                self.wfile.write(b"0\r\n\r\n")
            if fault == "gate" and pos == limit and limit < length:
                self.wfile.flush()
                self.server.gate_wait((fault, fault_arg))
                while pos < length:
                    data = f.read(min(CHUNK, length - pos))
                    if not data:
                        break
                    self.wfile.write(data)
                    stats.body_bytes(path, len(data))
                    pos += len(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if fault == "truncate":
            self.close_connection = True
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        elif fault == "reset":
            self.close_connection = True
            # SO_LINGER {on, 0}: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        elif pos < length:
            self.close_connection = True


def main():
    ap = argparse.ArgumentParser(description="test origin HTTP/1.1 server (loopback only)")
    ap.add_argument("--dir", required=True, help="directory to serve")
    ap.add_argument("--port", type=int, default=0, help="TCP port (0: chosen by the kernel)")
    ap.add_argument("--bind", default="127.0.0.1", choices=("127.0.0.1", "::1", "127.0.0.2"),
                    help="loopback address to listen on")
    ap.add_argument("--fault", default="none", help="initial fault mode (see module doc)")
    ap.add_argument("--quiet", action="store_true", help="no per-request log on stderr")
    ap.add_argument("--auth", default=None, metavar="USER:PASS",
                    help="every file request needs HTTP Basic credentials USER:PASS (else 401)")
    args = ap.parse_args()
    try:
        fault = parse_fault(args.fault)
    except ValueError as e:
        ap.error(str(e))
    if not os.path.isdir(args.dir):
        ap.error("--dir %s is not a directory" % args.dir)
    family = socket.AF_INET6 if args.bind == "::1" else socket.AF_INET
    srv = OriginServer((args.bind, args.port), family, args.dir, fault)
    srv.quiet = args.quiet
    if args.auth:
        import base64
        srv.auth = "Basic " + base64.b64encode(args.auth.encode()).decode()
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
