# SPDX-License-Identifier: Apache-2.0
"""The systems under test and the common measurement loop.

Each system prepares its services (tracker + seeder, supernode), names the command every host
runs, and says when a host is done. measure() starts the N host commands behind one barrier
(the common start instant t0), polls until every host is done or the global deadline passes,
reads the interface counters, stops everything, and verifies every host's SHA-256.
"""
import hashlib
import os
import re
import shlex
import shutil
import time

from . import procs as procs_mod
from . import topo as topo_mod
from . import util

SUMMARY_RE = re.compile(
    r"summary: source=(\d+) \(([\d.]+)%\) supernode=(\d+) \(([\d.]+)%\) "
    r"peers=(\d+) \(([\d.]+)%\) time=([\d.]+)s rate=([\d.]+)MiB/s")
TRACKER_PORT = 6969
BT_PORT = 6881
SN_PORT = 8002
SN_DOWNLOAD_PORT = 8001


class Skip(Exception):
    """The system cannot run here (reported as SKIPPED)."""


class Fail(Exception):
    """The system started but broke before measuring (reported as FAILED)."""


class Ctx:
    def __init__(self, topo, reaper, work, src_path, size, sha, tstar, args, log, image=None):
        self.topo = topo
        self.reaper = reaper
        self.work = work
        self.size = size
        self.sha = sha
        self.tstar = tstar
        self.args = args
        self.log = log
        # file mode: the file nginx serves; image mode: src_path is None and image is the
        # pushed image (see swarmlib.image.Image)
        self.src_path = src_path
        self.src_name = os.path.basename(src_path) if src_path else None
        self.url = "http://%s/%s" % (topo.origin.ip, self.src_name) if src_path else None
        self.image = image


def listening(ns, port):
    out = topo_mod.run(["ip", "netns", "exec", ns, "ss", "-Hltn", "sport = :%d" % port],
                       check=False, timeout=10)
    return bool(out.strip())


def tail(path, n=5):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(line.strip() for line in f.readlines()[-n:])
    except OSError:
        return ""


# ---- systems -------------------------------------------------------------------------
class Direct:
    name = "direct"
    title = "direct (curl from origin)"

    def setup(self, ctx):
        return []

    def client(self, ctx, host, hdir):
        out = os.path.join(hdir, "out.bin")
        argv = ["curl", "-sS", "--fail", "--noproxy", "*", "-o", out,
                "-w", "%{size_download}\n", ctx.url]
        return argv, out

    def done_time(self, ctx, host, hdir, proc):
        return proc.end_t if proc.done and proc.exit_code == 0 else None

    def host_bytes(self, ctx, host, hdir, proc):
        try:
            with open(proc.stdout_path) as f:
                n = int(f.read().split()[0])
            return {"bytes_source": n, "bytes_supernode": 0, "bytes_peers": 0}
        except (OSError, ValueError, IndexError):
            return {}


class Aria2:
    name = "aria2"
    title = "aria2 (BitTorrent: opentracker + 1 seeder at origin)"

    def _piece_exp(self, size):
        # ~512-1024 pieces, 256 KiB .. 16 MiB (512 MiB -> 1 MiB pieces)
        e = 18
        while e < 24 and size / (1 << e) > 1024:
            e += 1
        return e

    def setup(self, ctx):
        for b in ("aria2c", "opentracker", "mktorrent"):
            if not shutil.which(b):
                raise Skip("%s not installed (run bench/install-deps.sh)" % b)
        o = ctx.topo.origin
        tdir = os.path.join(ctx.work, "bt")
        os.makedirs(tdir, exist_ok=True)
        self.torrent = os.path.join(tdir, ctx.src_name + ".torrent")
        exp = self._piece_exp(ctx.size)
        self.piece_size = 1 << exp
        if not os.path.exists(self.torrent):
            topo_mod.run(["mktorrent", "-a", "http://%s:%d/announce" % (o.ip, TRACKER_PORT),
                          "-l", str(exp), "-o", self.torrent, ctx.src_path], timeout=600)
            ctx.log("aria2: torrent with %d KiB pieces" % (self.piece_size >> 10))
        # Debian's opentracker only serves whitelisted info hashes; it chroots to -d, so the
        # whitelist is given relative to that directory.
        chroot = os.path.join(tdir, "tracker-root")
        os.makedirs(chroot, exist_ok=True)
        with open(self.torrent, "rb") as f:
            self.info_hash = info_hash(f.read())
        with open(os.path.join(chroot, "whitelist"), "w") as f:
            f.write(self.info_hash + "\n")
        self.services = []
        tracker = ctx.reaper.spawn(o.ns, ["opentracker", "-i", o.ip, "-p", str(TRACKER_PORT),
                                          "-P", str(TRACKER_PORT), "-d", chroot,
                                          "-w", "whitelist"],
                                   "tracker", "service", os.path.join(tdir, "tracker.log"))
        self.services.append(tracker)
        seeder = ctx.reaper.spawn(o.ns, self._aria2_argv(ctx, os.path.dirname(ctx.src_path),
                                                         os.path.join(tdir, "seeder.log"), None)
                                  + ["--bt-seed-unverified=true"],
                                  "seeder", "service", os.path.join(tdir, "seeder.out"))
        self.services.append(seeder)
        if not procs_mod.wait_for(lambda: (ctx.reaper.reap() or True) and
                                  (listening(o.ns, TRACKER_PORT) or tracker.done), 10):
            raise Fail("opentracker did not listen: %s" % tail(tracker.stdout_path + ".err"))
        if tracker.done:
            raise Fail("opentracker exited: %s" % tail(tracker.stdout_path + ".err"))
        if not procs_mod.wait_for(lambda: (ctx.reaper.reap() or True) and
                                  (listening(o.ns, BT_PORT) or seeder.done), 15):
            raise Fail("aria2 seeder did not listen: %s" % tail(seeder.stdout_path))
        if seeder.done:
            raise Fail("aria2 seeder exited %s: %s" % (seeder.exit_code, tail(seeder.stdout_path)))
        time.sleep(1.0)  # let the seeder announce to the tracker
        return self.services

    def _aria2_argv(self, ctx, d, logf, hook):
        argv = ["aria2c", "--dir=" + d, "--torrent-file=" + self.torrent,
                "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
                "--disable-ipv6=true", "--listen-port=%d" % BT_PORT,
                "--seed-ratio=0.0",            # keep seeding until the bench stops it
                "--file-allocation=none", "--allow-overwrite=true",
                "--summary-interval=0", "--quiet=true",
                "--log=" + logf, "--log-level=notice", "--auto-save-interval=0",
                "--bt-save-metadata=false", "--rpc-save-upload-metadata=false"]
        if hook:
            argv.append("--on-bt-download-complete=" + hook)
        return argv

    def client(self, ctx, host, hdir):
        hook = os.path.join(hdir, "done-hook.sh")
        done = os.path.join(hdir, "aria2.done")
        with open(hook, "w") as f:
            f.write("#!/bin/sh\ndate +%%s.%%N > '%s.tmp' && mv '%s.tmp' '%s'\n" % (done, done, done))
        os.chmod(hook, 0o755)
        argv = self._aria2_argv(ctx, hdir, os.path.join(hdir, "aria2.log"), hook)
        return argv, os.path.join(hdir, ctx.src_name)

    def done_time(self, ctx, host, hdir, proc):
        try:
            with open(os.path.join(hdir, "aria2.done")) as f:
                return float(f.read().strip())
        except (OSError, ValueError):
            return None

    def host_bytes(self, ctx, host, hdir, proc):
        return {}


class Damselfly:
    name = "damselfly"
    title = "damselfly (supernode + dfget)"
    client_bin = "dfget"

    def setup(self, ctx):
        bdir = ctx.args.bin_dir
        self.sn_bin = os.path.join(bdir, "supernode") if bdir else None
        self.dfget_bin = os.path.join(bdir, self.client_bin) if bdir else None
        for b in (self.sn_bin, self.dfget_bin):
            if not b or not os.access(b, os.X_OK):
                raise Skip("binary not found: %s (build supernode and %s, or pass --bin-dir)"
                           % (b or "<no --bin-dir>", self.client_bin))
        s = ctx.topo.sn
        home = os.path.join(ctx.work, "supernode")
        os.makedirs(home, exist_ok=True)
        argv = [self.sn_bin, "--port", str(SN_PORT), "--download-port", str(SN_DOWNLOAD_PORT),
                "--home-dir", home, "--advertise-ip", s.ip] + shlex.split(ctx.args.sn_args)
        sn = ctx.reaper.spawn(s.ns, argv, "supernode", "service", os.path.join(home, "sn.out"))
        self.services = [sn]
        ok = procs_mod.wait_for(lambda: (ctx.reaper.reap() or True) and
                                (sn.done or (listening(s.ns, SN_PORT) and
                                             listening(s.ns, SN_DOWNLOAD_PORT))), 20)
        if sn.done or not ok:
            raise Fail("supernode did not start (exit %s): %s" %
                       (sn.exit_code, tail(sn.stderr_path) or tail(sn.stdout_path)))
        self.sn_proc = sn
        return [sn]

    def client(self, ctx, host, hdir):
        out = os.path.join(hdir, "out.bin")
        home = os.path.join(hdir, "home")
        os.makedirs(home, exist_ok=True)
        argv = [self.dfget_bin, "-u", ctx.url, "-o", out, "-n",
                "%s:%d" % (ctx.topo.sn.ip, SN_PORT), "--home", home]
        argv += shlex.split(ctx.args.dfget_args)
        return argv, out

    def done_time(self, ctx, host, hdir, proc):
        return proc.end_t if proc.done and proc.exit_code == 0 else None

    def host_bytes(self, ctx, host, hdir, proc):
        try:
            with open(proc.stdout_path, errors="replace") as f:
                text = f.read()
        except OSError:
            return {}
        m = None
        for m in SUMMARY_RE.finditer(text):
            pass
        if not m:
            return {"summary": None}
        return {"bytes_source": int(m.group(1)), "bytes_supernode": int(m.group(3)),
                "bytes_peers": int(m.group(5)), "dfget_time_s": float(m.group(7)),
                "summary": m.group(0)}


def info_hash(torrent):
    """SHA-1 of the bencoded info dictionary (hex), from the raw .torrent bytes."""
    def skip(i):
        c = torrent[i:i + 1]
        if c == b"i":
            return torrent.index(b"e", i) + 1
        if c in (b"l", b"d"):
            i += 1
            while torrent[i:i + 1] != b"e":
                i = skip(i)
            return i + 1
        colon = torrent.index(b":", i)
        return colon + 1 + int(torrent[i:colon])
    if torrent[:1] != b"d":
        raise ValueError("not a torrent")
    i = 1
    while torrent[i:i + 1] != b"e":
        kend = skip(i)
        key = torrent[torrent.index(b":", i) + 1:kend]
        vend = skip(kend)
        if key == b"info":
            return hashlib.sha1(torrent[kend:vend]).hexdigest()
        i = vend
    raise ValueError("torrent has no info dictionary")


SYSTEMS = {"direct": Direct, "aria2": Aria2, "damselfly": Damselfly}


# ---- image mode: skopeo pulls a multi-layer image from docker-registry -----------------
DFD_PORT = 65001


class _ImagePull:
    """Common part of the image-mode systems: the client is `skopeo copy docker://... oci:OUT`
    (or dir:OUT), a host is done when skopeo exits 0, and every blob in OUT is checked against
    the pushed manifest (size and SHA-256; skopeo verifies the digests itself as well).
    skopeo copies the layers in parallel (up to 6) into oci:, one after another into dir:
    (containers/image only runs parallel copies into destinations with a thread-safe PutBlob)."""

    def _skopeo(self, ctx, host, hdir, registry):
        out = os.path.join(hdir, "img")          # skopeo creates it
        img = ctx.image
        dest = ctx.args.image_dest
        argv = img.skopeo_argv(["copy", "--retry-times", "0", "--src-tls-verify=false",
                                "docker://%s/%s:%s" % (registry, img.repo, img.tag),
                                "%s:%s" % (dest, out) + (":" + img.tag if dest == "oci" else "")])
        return argv, out

    def client_env(self, ctx, host, hdir):
        return ctx.image.skopeo_env(hdir)

    def done_time(self, ctx, host, hdir, proc):
        return proc.end_t if proc.done and proc.exit_code == 0 else None

    def verify(self, ctx, host, hdir, proc):
        return ctx.image.verify_output(proc.output, ctx.args.image_dest)


class ImageDirect(_ImagePull):
    name = "direct"
    title = "direct (skopeo from docker-registry)"

    def setup(self, ctx):
        return []

    def client(self, ctx, host, hdir):
        return self._skopeo(ctx, host, hdir, ctx.image.registry)

    def host_bytes(self, ctx, host, hdir, proc):
        return {}


BLOB_LOG_RE = re.compile(
    r"OK repo=\S+ digest=(sha256:[0-9a-f]{64}) size=(\d+) time=([\d.]+)s from=(\w+) "
    r"source=(\d+) supernode=(\d+) peers=(\d+)")


class ImageDamselfly(_ImagePull, Damselfly):
    """supernode on its host; on every host a dfdaemon (own work home, --node the supernode,
    registry_mirror.remote the registry, 127.0.0.1:65001); skopeo pulls through it."""
    name = "damselfly"
    title = "damselfly (supernode + dfdaemon, skopeo via 127.0.0.1:%d)" % DFD_PORT
    client_bin = "dfdaemon"

    def setup(self, ctx):
        services = Damselfly.setup(self, ctx)      # the supernode (raises Skip / Fail)
        sysdir = os.path.join(ctx.work, self.name)
        extra = shlex.split(ctx.args.dfdaemon_args)
        if not any(a == "--ratelimit" or a.startswith("--ratelimit=") for a in extra):
            # dfdaemon's default (20M = 20 MiB/s = 168 Mbit/s) would cap the uploader below a
            # 200 Mbit/s link; tc shapes the links, so the daemon gets a limit far above them.
            extra = ["--ratelimit", ctx.args.dfdaemon_ratelimit] + extra
        self.dfds = {}
        for h in ctx.topo.hosts:
            hdir = os.path.join(sysdir, h.role)
            home = os.path.join(hdir, "dfd-home")
            os.makedirs(home, exist_ok=True)
            conf = os.path.join(hdir, "dfdaemon.yml")
            with open(conf, "w") as f:
                f.write("registry_mirror:\n  remote: http://%s\n" % ctx.image.registry)
            argv = [self.dfget_bin, "--config", conf, "--port", str(DFD_PORT),
                    "--workHome", home, "--node", "%s:%d" % (ctx.topo.sn.ip, SN_PORT)] + extra
            p = ctx.reaper.spawn(h.ns, argv, "dfdaemon-" + h.role, "service",
                                 os.path.join(hdir, "dfdaemon.out"))
            services.append(p)
            self.services.append(p)
            self.dfds[h.role] = (p, home)
        for h in ctx.topo.hosts:
            p, home = self.dfds[h.role]
            ok = procs_mod.wait_for(lambda: (ctx.reaper.reap() or True) and
                                    (p.done or listening(h.ns, DFD_PORT)), 20)
            if p.done or not ok:
                raise Fail("dfdaemon on %s did not start (exit %s): %s" %
                           (h.role, p.exit_code, tail(p.stderr_path) or
                            tail(os.path.join(home, "logs", "dfdaemon.log"))))
        # each dfdaemon finds or starts its uploader before it listens; say if one has none
        for h in ctx.topo.hosts:
            logf = os.path.join(self.dfds[h.role][1], "logs", "dfdaemon.log")
            try:
                with open(logf, errors="replace") as f:
                    text = f.read()
            except OSError:
                text = ""
            m = re.search(r"swarm uploader on ([0-9.]+):(\d+)", text)
            if not m:
                ctx.log("  damselfly: %s: no uploader (no 'swarm uploader on' line in its "
                        "dfdaemon log: %s)" % (h.role, tail(logf, 2)))
            elif m.group(1) != h.ip:
                ctx.log("  damselfly: %s: uploader on %s, not on the host's %s"
                        % (h.role, m.group(1), h.ip))
        return services

    def client(self, ctx, host, hdir):
        return self._skopeo(ctx, host, hdir, "127.0.0.1:%d" % DFD_PORT)

    def host_bytes(self, ctx, host, hdir, proc):
        """Bytes by source, summed over the `blob OK` lines of this host's dfdaemon log."""
        home = self.dfds[host.role][1]
        try:
            with open(os.path.join(home, "logs", "dfdaemon.log"), errors="replace") as f:
                text = f.read()
        except OSError:
            return {}
        src = sn = peers = cache = 0
        blobs = 0
        for m in BLOB_LOG_RE.finditer(text):
            blobs += 1
            if m.group(4) == "cache":
                cache += int(m.group(2))
            src += int(m.group(5))
            sn += int(m.group(6))
            peers += int(m.group(7))
        if not blobs:
            return {"summary": None}
        return {"bytes_source": src, "bytes_supernode": sn, "bytes_peers": peers,
                "bytes_cache": cache, "blobs": blobs}


class NotForImages:
    name = "aria2"
    title = "aria2 (BitTorrent)"

    def setup(self, ctx):
        raise Skip("aria2 does not apply in --mode image (no BitTorrent client for registry "
                   "pulls)")


IMAGE_SYSTEMS = {"direct": ImageDirect, "aria2": NotForImages, "damselfly": ImageDamselfly}


# ---- the measurement loop -------------------------------------------------------------
def measure(ctx, system):
    """Runs one system on the topology; returns its result dict (never raises Skip/Fail)."""
    res = {"system": system.name, "title": system.title, "status": "ok", "reason": None,
           "hosts": []}
    topo, reaper = ctx.topo, ctx.reaper
    sysdir = os.path.join(ctx.work, system.name)
    os.makedirs(sysdir, exist_ok=True)
    services, clients = [], []
    try:
        try:
            services = system.setup(ctx)
        except Skip as e:
            res.update(status="SKIPPED", reason=str(e))
            return res
        except (Fail, RuntimeError) as e:
            res.update(status="FAILED", reason=str(e))
            return res
        hdirs = {}
        rfd, wfd = os.pipe()
        try:
            for h in topo.hosts:
                hdir = os.path.join(sysdir, h.role)
                os.makedirs(hdir, exist_ok=True)
                hdirs[h.role] = hdir
                argv, out = system.client(ctx, h, hdir)
                env = system.client_env(ctx, h, hdir) if hasattr(system, "client_env") else None
                p = reaper.spawn(h.ns, argv, h.role, "client", os.path.join(hdir, "stdout"),
                                 os.path.join(hdir, "stderr"), barrier_fd=rfd, env_extra=env)
                p.output = out
                p.host = h
                clients.append(p)
        finally:
            os.close(rfd)
        # every client should now sit in `read` of the barrier; give slow starts a moment
        procs_mod.wait_for(lambda: all(_blocked_on_pipe(p.pid) for p in clients), 5, 0.05)
        drops0 = topo.qdisc_drops()
        kinds = {h.ns: "host" for h in topo.hosts}
        kinds[topo.sn.ns] = "sn"
        kinds[topo.origin.ns] = "origin"
        mem = procs_mod.NsMemSampler(kinds)
        c0 = topo.counters()
        cpu0 = util.cpu_times()
        t0 = time.time()
        os.write(wfd, b"\n" * len(clients))
        os.close(wfd)
        timeout_s = max(ctx.args.min_timeout, ctx.args.timeout_factor * ctx.tstar)
        deadline = t0 + timeout_s
        done_at = {}
        failed = {}
        next_log = t0 + 10
        next_mem = t0
        while time.time() < deadline:
            reaper.reap()
            if time.time() >= next_mem:
                mem.sample()
                next_mem += 0.5
            for p in clients:
                r = p.host.role
                if r in done_at or r in failed:
                    continue
                t = system.done_time(ctx, p.host, hdirs[r], p)
                if t is not None:
                    done_at[r] = t
                elif p.done:
                    failed[r] = "exit %s: %s" % (p.exit_code, tail(p.stderr_path, 3)
                                                 or tail(p.stdout_path, 3))
            if len(done_at) + len(failed) == len(clients):
                break
            if time.time() >= next_log:
                ctx.log("  %s: %.0f s, %d/%d done" % (system.name, time.time() - t0,
                                                      len(done_at), len(clients)))
                next_log += 10
            time.sleep(0.01)
        t_end = time.time()
        c1 = topo.counters()
        cpu1 = util.cpu_times()
        mem.sample()
        timed_out = len(done_at) + len(failed) < len(clients)
        # stop everything of this system (aria2 leechers are still seeding, dfget servers live)
        for h in topo.hosts:
            topo_mod.kill_ns_processes(h.ns)
        reaper.terminate(clients + services)
        topo_mod.kill_ns_processes(topo.sn.ns)
        reaper.wait_all(clients + services, 5)
        time.sleep(0.2)
        reaper.reap()
        orphans = reaper.take_orphans()

        busy, sirq = util.cpu_busy_pct(cpu0, cpu1)
        res.update(t0=t0, wall_s=t_end - t0, timeout_s=timeout_s, cpu_busy_pct=busy,
                   cpu_softirq_pct=sirq)
        res["egress_bytes"] = {r: c1[r][0] - c0[r][0] for r in c1}
        res["ingress_bytes"] = {r: c1[r][1] - c0[r][1] for r in c1}
        res["cpu_s"] = {
            "clients": sum(p.cpu_s or 0 for p in clients),
            "services": {p.name: p.cpu_s for p in services},
            "orphans": sum(p.cpu_s or 0 for p in orphans),
            "n_orphans": len(orphans),
        }
        res["cpu_s"]["total"] = (res["cpu_s"]["clients"] + res["cpu_s"]["orphans"] +
                                 sum(v or 0 for v in res["cpu_s"]["services"].values()))
        res["qdisc_drops"] = topo.qdisc_drops() - drops0
        # peak RSS by namespace kind and process name (nginx / docker-registry are the origin,
        # not the system)
        mem.peak.get("origin", {}).pop("nginx", None)
        mem.peak.get("origin", {}).pop("docker-registry", None)
        res["peak_rss_kib"] = mem.peak
        # per host: time, bytes, SHA-256
        for p in clients:
            h = p.host
            r = h.role
            row = {"host": r, "ip": h.ip, "up_bps": h.up_bps, "down_bps": h.down_bps,
                   "exit": p.exit_code, "cpu_s": p.cpu_s}
            if r in done_at:
                row["time_s"] = done_at[r] - t0
                row.update(system.host_bytes(ctx, h, hdirs[r], p))
                if hasattr(system, "verify"):
                    bad = system.verify(ctx, h, hdirs[r], p)
                    if bad:
                        row.update(status="bad-sha256", reason=bad)
                    else:
                        row["status"] = "ok"
                elif os.path.exists(p.output) and util.sha256_file(p.output) == ctx.sha:
                    row["status"] = "ok"
                else:
                    row["status"] = "bad-sha256"
            elif r in failed:
                row.update(status="failed", reason=failed[r])
                row.update(system.host_bytes(ctx, h, hdirs[r], p))
            else:
                row.update(status="timeout")
            res["hosts"].append(row)
            if os.path.isdir(p.output):
                shutil.rmtree(p.output, ignore_errors=True)
            else:
                try:
                    os.unlink(p.output)
                except OSError:
                    pass
        bad = [row for row in res["hosts"] if row["status"] != "ok"]
        if bad:
            kinds = {}
            for row in bad:
                kinds[row["status"]] = kinds.get(row["status"], 0) + 1
            res["status"] = "FAILED"
            res["reason"] = ", ".join("%d %s" % (v, k) for k, v in sorted(kinds.items()))
            first = next((row for row in bad if row.get("reason")), None)
            if first:
                res["reason"] += "; %s: %s" % (first["host"], first["reason"][:300])
            if timed_out:
                res["reason"] += " (global timeout %.0f s)" % timeout_s
        return res
    finally:
        # whatever happened, nothing of this system survives it (nginx stays for the next)
        for h in topo.hosts:
            topo_mod.kill_ns_processes(h.ns)
        topo_mod.kill_ns_processes(topo.sn.ns)
        started = clients + services + list(getattr(system, "services", []))
        reaper.terminate([p for p in started if not p.done])
        reaper.reap()
        reaper.take_orphans()
        if not ctx.args.keep_work:
            shutil.rmtree(sysdir, ignore_errors=True)


def _blocked_on_pipe(pid):
    """True once the barrier shell is waiting in read() on the pipe (or already gone)."""
    try:
        with open("/proc/%d/wchan" % pid) as f:
            w = f.read()
        with open("/proc/%d/comm" % pid) as f:
            comm = f.read().strip()
    except OSError:
        return True
    return comm == "sh" and "pipe" in w
