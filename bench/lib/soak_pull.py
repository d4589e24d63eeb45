#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""One image pull of bench/soak.sh through a dfdaemon (registry mirror): manifest, config, layers.

usage: soak_pull.py BASE REPO [TAG]   (BASE = http://127.0.0.1:<dfdaemon port>)
Every blob's SHA-256 is checked against its digest. Prints one line and exits 0:
  ok <bytes> <blobs>          all blobs read and correct
  corrupt <digest> <bytes>    a blob was served whole but its content differs from its digest
  fail <reason>               anything else (HTTP error, short body, connection error)
"""
import hashlib
import http.client
import json
import sys
import urllib.parse

ACC = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


def get(base, path, hdrs=None):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    c.request("GET", path, headers=hdrs or {})
    return c, c.getresponse()


def main():
    base, repo = sys.argv[1], sys.argv[2]
    tag = sys.argv[3] if len(sys.argv) > 3 else "latest"
    try:
        c, r = get(base, "/v2/%s/manifests/%s" % (repo, tag), {"Accept": ACC})
        body = r.read()
        c.close()
        if r.status != 200:
            print("fail manifest HTTP %d" % r.status)
            return
        m = json.loads(body)
        blobs = [m["config"]] + m["layers"]
        total = 0
        for b in blobs:
            c, r = get(base, "/v2/%s/blobs/%s" % (repo, b["digest"]))
            if r.status != 200:
                r.read()
                c.close()
                print("fail blob %s HTTP %d" % (b["digest"][:19], r.status))
                return
            h, n = hashlib.sha256(), 0
            while True:
                d = r.read(1 << 20)
                if not d:
                    break
                h.update(d)
                n += len(d)
            c.close()
            if n != b["size"]:
                print("fail blob %s short: %d of %d bytes" % (b["digest"][:19], n, b["size"]))
                return
            if "sha256:" + h.hexdigest() != b["digest"]:
                print("corrupt %s %d" % (b["digest"], n))
                return
            total += n
        print("ok %d %d" % (total, len(blobs)))
    except Exception as e:  # noqa: BLE001 - any failure is one "fail" line
        print("fail %s: %s" % (type(e).__name__, str(e)[:120].replace("\n", " ")))


if __name__ == "__main__":
    main()
