#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes an OCI image layout with N random-data layers (dfdaemon e2e tests).

usage: dfd_mkimage.py DIR LAYERS KIB_PER_LAYER [TAG]
Each layer is an uncompressed tar holding one file of random bytes; the config lists their
diff_ids. Prints one line per layer: "<sha256 digest> <size>". Push the result with
`skopeo copy oci:DIR:TAG docker://host/repo:TAG`.
"""
import hashlib
import io
import json
import os
import sys
import tarfile


def put_blob(d, data):
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(d, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return "sha256:" + h, len(data)


def main():
    out, n, kib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    tag = sys.argv[4] if len(sys.argv) > 4 else "latest"
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    layers, diff_ids = [], []
    for i in range(n):
        payload = os.urandom(kib * 1024)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            ti = tarfile.TarInfo("layer%d/data.bin" % i)
            ti.size = len(payload)
            ti.mtime = 0
            t.addfile(ti, io.BytesIO(payload))
        data = buf.getvalue()
        dg, size = put_blob(out, data)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                       "digest": dg, "size": size})
        diff_ids.append(dg)
        print(dg, size)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cdg, csize = put_blob(out, config)
    manifest = json.dumps({"schemaVersion": 2,
                           "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": cdg, "size": csize},
                           "layers": layers}).encode()
    mdg, msize = put_blob(out, manifest)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdg,
             "size": msize, "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)


if __name__ == "__main__":
    main()
