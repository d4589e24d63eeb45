# SPDX-License-Identifier: Apache-2.0
"""Image mode: Debian's docker-registry in the origin namespace and the multi-layer image it holds.

The registry (distribution 2.8, plain HTTP on <origin ip>:5000) gets its own config and storage
under the run's work dir. The image is written once per run as an OCI layout of K random-data
layers by tests/e2e/dfd_mkimage.py and pushed with skopeo from inside the origin namespace (over
its loopback, so the push is neither shaped nor counted); skopeo gzips the layers on the way,
as for a real image. F = manifest + config + layers as listed in the pushed manifest.
skopeo never reads the host's credentials or policy: every call gets an empty auth file
(REGISTRY_AUTH_FILE, set for skopeo only: the registry would read REGISTRY_* variables as
configuration) and an accept-anything policy, both in the work dir.
"""
import hashlib
import json
import os
import shutil

from . import procs as procs_mod
from . import topo as topo_mod
from . import util

REGISTRY_PORT = 5000
MANIFEST_ACCEPT = ("application/vnd.oci.image.manifest.v1+json, "
                   "application/vnd.docker.distribution.manifest.v2+json")

REGISTRY_CONF = """version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {store}
http:
  addr: {ip}:{port}
  secret: damselfly-bench-secret
"""


class Image:
    def __init__(self, work, registry_ip, repo="bench/img", tag="latest"):
        self.dir = os.path.join(work, "registry")
        self.registry = "%s:%d" % (registry_ip, REGISTRY_PORT)
        self.repo = repo
        self.tag = tag
        self.policy = os.path.join(self.dir, "policy.json")
        self.auth = os.path.join(self.dir, "containers-auth.json")
        self.manifest_raw = None
        self.manifest_digest = None
        self.blobs = []          # [(digest, size)]: config first, then the layers
        self.total_bytes = None  # F: manifest + config + layers
        os.makedirs(os.path.join(self.dir, "store"), exist_ok=True)
        with open(self.policy, "w") as f:
            f.write('{"default": [{"type": "insecureAcceptAnything"}]}\n')
        with open(self.auth, "w") as f:
            f.write('{"auths": {}}\n')

    # ---- skopeo -------------------------------------------------------------------
    def skopeo_argv(self, args):
        return ["skopeo", "--policy", self.policy] + list(args)

    def skopeo_env(self, home):
        """Environment for a skopeo run: no host credentials, temp files and $HOME in home."""
        return {"REGISTRY_AUTH_FILE": self.auth, "HOME": home, "TMPDIR": home}

    # ---- registry -----------------------------------------------------------------
    def start_registry(self, tp, reaper):
        conf = os.path.join(self.dir, "config.yml")
        with open(conf, "w") as f:
            f.write(REGISTRY_CONF.format(store=os.path.join(self.dir, "store"), ip=tp.origin.ip,
                                         port=REGISTRY_PORT))
        logf = os.path.join(self.dir, "registry.log")
        p = reaper.spawn(tp.origin.ns, ["docker-registry", "serve", conf], "docker-registry",
                         "origin", logf, logf + ".err")

        def up():
            reaper.reap()
            if p.done:
                return True
            out = topo_mod.run(["ip", "netns", "exec", tp.origin.ns, "curl", "-s", "--noproxy",
                                "*", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                                "http://%s/v2/" % self.registry], check=False, timeout=10)
            return out.strip() == "200"
        ok = procs_mod.wait_for(up, 15, 0.2)
        if p.done or not ok:
            raise RuntimeError("docker-registry did not answer /v2/ (exit %s): %s" % (
                p.exit_code, _tail(logf + ".err") or _tail(logf)))
        return p

    # ---- the image ----------------------------------------------------------------
    def build_and_push(self, tp, mkimage, layers, size, log):
        """Writes a K-layer OCI layout (size bytes of random data in all), pushes it, reads the
        manifest back. Returns F."""
        if size % (layers * 1024):
            raise ValueError("--size must be a multiple of --layers KiB")
        oci = os.path.join(self.dir, "oci")
        topo_mod.run(["python3", mkimage, oci, str(layers), str(size // layers // 1024),
                      self.tag], timeout=600)
        push_home = os.path.join(self.dir, "push")
        os.makedirs(push_home, exist_ok=True)
        env = ["env"] + ["%s=%s" % kv for kv in sorted(self.skopeo_env(push_home).items())]
        topo_mod.run(["ip", "netns", "exec", tp.origin.ns] + env + self.skopeo_argv(
            ["copy", "-q", "--dest-tls-verify=false", "oci:%s:%s" % (oci, self.tag),
             "docker://%s/%s:%s" % (self.registry, self.repo, self.tag)]), timeout=900)
        shutil.rmtree(oci, ignore_errors=True)        # the registry holds it now
        shutil.rmtree(push_home, ignore_errors=True)
        # the manifest as the registry serves it (its bytes are what the hosts get)
        raw = topo_mod.run(["ip", "netns", "exec", tp.origin.ns, "curl", "-sS", "--fail",
                            "--noproxy", "*", "-H", "Accept: " + MANIFEST_ACCEPT,
                            "http://%s/v2/%s/manifests/%s" % (self.registry, self.repo,
                                                              self.tag)], timeout=30)
        self.manifest_raw = raw.encode()
        self.manifest_digest = "sha256:" + hashlib.sha256(self.manifest_raw).hexdigest()
        m = json.loads(raw)
        self.media_type = m.get("mediaType")
        self.blobs = [(m["config"]["digest"], int(m["config"]["size"]))]
        self.blobs += [(ly["digest"], int(ly["size"])) for ly in m["layers"]]
        if len(self.blobs) != layers + 1:
            raise RuntimeError("pushed manifest lists %d layers, expected %d"
                               % (len(self.blobs) - 1, layers))
        self.total_bytes = len(self.manifest_raw) + sum(sz for _, sz in self.blobs)
        return self.total_bytes

    def check_from(self, ns):
        """A host can reach the registry and read the manifest."""
        out = topo_mod.run(["ip", "netns", "exec", ns, "curl", "-sS", "--noproxy", "*", "-o",
                            "/dev/null", "-w", "%{http_code} %{size_download}", "-H",
                            "Accept: " + MANIFEST_ACCEPT,
                            "http://%s/v2/%s/manifests/%s" % (self.registry, self.repo,
                                                              self.tag)],
                           check=False, timeout=20)
        if out.split() != ["200", str(len(self.manifest_raw))]:
            raise RuntimeError("registry check from %s failed: %r" % (ns, out))

    def describe(self):
        return {"registry": self.registry, "repo": self.repo, "tag": self.tag,
                "manifest_digest": self.manifest_digest, "manifest_media_type": self.media_type,
                "manifest_bytes": len(self.manifest_raw),
                "config": {"digest": self.blobs[0][0], "size": self.blobs[0][1]},
                "layers": [{"digest": d, "size": s} for d, s in self.blobs[1:]],
                "total_bytes": self.total_bytes}

    def verify_output(self, out, layout):
        """None if skopeo's output (layout "oci" or "dir") holds every blob of the image intact
        and a manifest listing exactly them, else why not."""
        if not os.path.isdir(out):
            return "no output dir"
        bdir = os.path.join(out, "blobs", "sha256") if layout == "oci" else out
        for digest, size in self.blobs:
            hexd = digest.split(":", 1)[1]
            path = os.path.join(bdir, hexd)
            try:
                st = os.stat(path)
            except OSError:
                return "blob %s missing" % digest[:19]
            if st.st_size != size:
                return "blob %s: %d bytes, expected %d" % (digest[:19], st.st_size, size)
            if util.sha256_file(path) != hexd:
                return "blob %s: sha256 mismatch" % digest[:19]
        try:
            if layout == "oci":
                with open(os.path.join(out, "index.json")) as f:
                    mdg = json.load(f)["manifests"][0]["digest"]
                mpath = os.path.join(bdir, mdg.split(":", 1)[1])
            else:
                mpath = os.path.join(out, "manifest.json")
            with open(mpath, "rb") as f:
                man = json.loads(f.read())
        except (OSError, ValueError, KeyError, IndexError):
            return "no readable manifest"
        got = [man["config"]["digest"]] + [ly["digest"] for ly in man.get("layers", [])]
        if got != [d for d, _ in self.blobs]:
            return "the manifest lists other blobs"
        return None

def _tail(path, n=5):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(line.strip() for line in f.readlines()[-n:])
    except OSError:
        return ""
