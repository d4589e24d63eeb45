#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Registration load against a supernode (issue 11, hostile load).

  hostile_register.py SN_HOST SN_PORT URL COUNT [options]

Sends COUNT POST /peer/registry requests one after the other (keep-alive, one connection)
from --src (a loopback address to bind, e.g. 127.0.0.9), each a new task (a distinct
identifier) unless --same-task, with --id-bytes of identifier and --header-bytes of padding
headers (X-Pad-N lines of at most 8000 bytes). Prints one line per HTTP status:
  status <code> <count>
then `elapsed <seconds>`, `retry_after <value of the first Retry-After>` (if any) and
`message <code> <first error message>` per non-200 status. Stops early after --stop-after
consecutive non-200 answers (0 = never). Bounded: COUNT requests, 10 s per request."""
import argparse
import http.client
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("url")
    ap.add_argument("count", type=int)
    ap.add_argument("--src", default="127.0.0.1")
    ap.add_argument("--id-bytes", type=int, default=64)
    ap.add_argument("--header-bytes", type=int, default=0)
    ap.add_argument("--same-task", action="store_true")
    ap.add_argument("--cid-prefix", default="hostile")
    ap.add_argument("--tag", default="t")
    ap.add_argument("--stop-after", type=int, default=0)
    a = ap.parse_args()

    headers = []
    left, i = a.header_bytes, 0
    while left > 0:
        n = min(left, 8000)
        headers.append("X-Pad-%d: %s" % (i, "h" * n))
        left -= n
        i += 1
    counts, msgs, retry_after = {}, {}, None
    conn = None
    start = time.monotonic()
    bad_run = 0
    for k in range(a.count):
        ident = a.tag if a.same_task else "%s-%06d-" % (a.tag, k)
        ident = (ident + "x" * a.id_bytes)[: max(a.id_bytes, len(ident))]
        body = json.dumps({
            "rawUrl": a.url, "taskUrl": a.url, "cid": "%s-%s-%d" % (a.cid_prefix, a.src, k),
            "ip": a.src, "hostName": "hostile", "port": 0, "path": "/peer/file/x",
            "version": "1.0.6", "identifier": ident, "headers": headers, "pieceAuth": True,
        })
        for attempt in range(2):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(a.host, a.port, timeout=10,
                                                      source_address=(a.src, 0))
                conn.request("POST", "/peer/registry", body=body,
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                break
            except (OSError, http.client.HTTPException):
                conn = None
                if attempt:
                    raise
        code = r.status
        counts[code] = counts.get(code, 0) + 1
        if code != 200:
            if retry_after is None:
                retry_after = r.getheader("Retry-After")
            if code not in msgs:
                try:
                    msgs[code] = json.loads(data).get("message", "")
                except ValueError:
                    msgs[code] = data[:200].decode("utf-8", "replace")
            bad_run += 1
            if a.stop_after and bad_run >= a.stop_after:
                break
        else:
            bad_run = 0
    elapsed = time.monotonic() - start
    for code in sorted(counts):
        print("status %d %d" % (code, counts[code]))
    print("elapsed %.3f" % elapsed)
    if retry_after is not None:
        print("retry_after %s" % retry_after)
    for code in sorted(msgs):
        print("message %d %s" % (code, msgs[code].replace("\n", " ")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
