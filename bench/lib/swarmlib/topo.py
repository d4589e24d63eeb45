# SPDX-License-Identifier: Apache-2.0
"""The testbed network: one bridge, one namespace per node, tc shaping, counters, teardown.

Layout (all names carry the run tag "dfb-<pid>" / "dfb<pid>" so runs cannot clash):
  bridge  dfb<pid>br          in the host's main namespace, no address, no IPv6
  node    netns dfb-<pid>-<r> r = o (origin), s (supernode), h1..hN (peers)
          veth  dfb<pid><r>   (bridge side, main namespace) <-> eth0 (inside the netns)
Addresses: 198.18.0.1 origin, 198.18.0.2 supernode, 198.18.1.1.. peers, all /16 inside
198.18.0.0/15; no default route, nothing else is reachable.
Shaping: upload = htb on eth0 inside the netns; download = htb on the bridge-side veth.
The link class has rate = ceil = the link rate and a ~1 ms burst. Under it, either one drop-tail
bfifo (--queue fifo) or, by default (--queue fair), one class + bfifo per remote node so that
the link is shared round-robin between the peers it talks to (see _shape_cmds).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time

from . import util

NET = "198.18.0.0/16"
ETH_HDR = 14


def run(cmd, check=True, timeout=60, input_text=None):
    """Run a short command (ip, tc, ...); returns stdout. Bounded by timeout."""
    p = subprocess.run(cmd, input=input_text, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s" % (p.returncode, " ".join(cmd),
                                                            p.stderr.strip()))
    return p.stdout


def _disable_ipv6_main(ifname):
    path = "/proc/sys/net/ipv6/conf/%s/disable_ipv6" % ifname
    try:
        with open(path, "w") as f:
            f.write("1")
    except OSError:
        pass


class Node:
    def __init__(self, role, tag, ip, up_bps, down_bps):
        self.role = role                      # "o", "s", "h1".."hN"
        self.ns = "dfb-%s-%s" % (tag, role)
        self.veth = "dfb%s%s" % (tag, role)   # bridge-side end, main namespace
        self.ip = ip
        self.up_bps = up_bps
        self.down_bps = down_bps


def host_ip(i):
    """1-based peer index -> 198.18.x.y (x >= 1)."""
    return "198.18.%d.%d" % (1 + (i - 1) // 250, 1 + (i - 1) % 250)


class Topology:
    """Creates and always removes the testbed network. Not thread-safe."""

    def __init__(self, tag, n_hosts, up_bps, down_bps, origin_up_bps, sn_up_bps,
                 slow_bps=None, mtu=1500, queue_ms=20.0, queue="fair", log=print):
        self.tag = str(tag)
        self.bridge = "dfb%sbr" % self.tag
        self.mtu = mtu
        self.queue_ms = queue_ms
        self.queue = queue
        self.log = log
        self.origin = Node("o", self.tag, "198.18.0.1", origin_up_bps, down_bps)
        self.sn = Node("s", self.tag, "198.18.0.2", sn_up_bps, down_bps)
        self.hosts = []
        n_slow = (n_hosts // 4) if slow_bps else 0
        for i in range(1, n_hosts + 1):
            slow = i > n_hosts - n_slow
            up = slow_bps if slow else up_bps
            down = slow_bps if slow else down_bps
            self.hosts.append(Node("h%d" % i, self.tag, host_ip(i), up, down))
        if len(self.bridge) > 15 or len(self.hosts[-1].veth) > 15:
            raise ValueError("interface names too long; use fewer peers")
        self.created_ns = []
        self.bridge_made = False

    def nodes(self):
        return [self.origin, self.sn] + self.hosts

    # ---- build -------------------------------------------------------------------
    def _shape_cmds(self, dev, bps, peer_field=None):
        """tc batch lines shaping dev's egress to bps.

        fifo: one htb class, one drop-tail bfifo of queue_ms at the link rate.
        fair (peer_field = "dst" on uploads, "src" on downloads): one htb class per remote
        node under the link class, all with equal quantum, so backlogged remotes share the
        link round-robin (what fq_codel, the Linux default, does per flow; this kernel has
        no fq_codel/sfq). Each per-remote queue is a bfifo of max(128 KiB, queue_ms/4).
        """
        frame = self.mtu + ETH_HDR
        burst = max(2 * frame, int(bps / 8 * 0.001))            # ~1 ms at line rate
        quantum = min(200000, max(frame, 1514))
        rate = util.tc_rate(bps)
        if self.queue == "fifo" or peer_field is None:
            limit = max(128 * 1024, int(bps / 8 * self.queue_ms / 1000.0))
            return [
                "qdisc replace dev %s root handle 1: htb default 1" % dev,
                "class add dev %s parent 1: classid 1:1 htb rate %s ceil %s burst %d cburst %d "
                "quantum %d" % (dev, rate, rate, burst, burst, quantum),
                "qdisc add dev %s parent 1:1 handle 10: bfifo limit %d" % (dev, limit),
            ]
        remotes = [nd.ip for nd in self.nodes()]
        limit = max(128 * 1024, int(bps / 8 * self.queue_ms / 4000.0))
        share = util.tc_rate(max(8000, bps / (len(remotes) + 1)))
        cmds = [
            "qdisc replace dev %s root handle 1: htb default ffff" % dev,
            "class add dev %s parent 1: classid 1:1 htb rate %s ceil %s burst %d cburst %d "
            "quantum %d" % (dev, rate, rate, burst, burst, quantum),
        ]
        if self.queue == "fair-sparse":
            # Packets under 512 bytes (SYN/SYN-ACK, ACKs, HTTP requests, small replies) go
            # first, in their own class: what fq_codel's sparse-flow priority does for a new or
            # thin flow, which this kernel's qdiscs cannot. An experiment (not the default).
            cmds.append("class add dev %s parent 1:1 classid 1:fffe htb rate %s ceil %s burst %d "
                        "cburst %d quantum %d prio 0" % (dev, share, rate, burst, burst, quantum))
            cmds.append("qdisc add dev %s parent 1:fffe bfifo limit %d" % (dev, limit))
            cmds.append("filter add dev %s parent 1: protocol ip prio 0 u32 match u16 0x0000 "
                        "0xfe00 at 2 flowid 1:fffe" % dev)
        for k, ip in enumerate(remotes + [None], start=2):
            minor = "ffff" if ip is None else "%x" % k
            cmds.append("class add dev %s parent 1:1 classid 1:%s htb rate %s ceil %s burst %d "
                        "cburst %d quantum %d" % (dev, minor, share, rate, burst, burst, quantum))
            cmds.append("qdisc add dev %s parent 1:%s bfifo limit %d" % (dev, minor, limit))
            if ip is not None:
                cmds.append("filter add dev %s parent 1: protocol ip prio 1 u32 match ip %s "
                            "%s/32 flowid 1:%s" % (dev, peer_field, ip, minor))
        return cmds

    def build(self):
        t = time.time()
        run(["ip", "link", "add", "name", self.bridge, "type", "bridge",
             "forward_delay", "0", "stp_state", "0"])
        self.bridge_made = True
        _disable_ipv6_main(self.bridge)
        # Bridged frames must not go through the host's iptables (if br_netfilter is loaded).
        run(["ip", "link", "set", self.bridge, "type", "bridge", "nf_call_iptables", "0",
             "nf_call_ip6tables", "0", "nf_call_arptables", "0"], check=False)
        run(["ip", "link", "set", self.bridge, "mtu", str(self.mtu), "up"])
        for nd in self.nodes():
            run(["ip", "netns", "add", nd.ns])
            self.created_ns.append(nd.ns)
            run(["ip", "link", "add", nd.veth, "mtu", str(self.mtu), "type", "veth", "peer",
                 "name", "eth0", "mtu", str(self.mtu), "netns", nd.ns])
            _disable_ipv6_main(nd.veth)
            run(["ip", "link", "set", nd.veth, "master", self.bridge, "up"])
            # download shaping: the bridge-side end's egress toward the node
            run(["tc", "-batch", "-"], input_text="\n".join(
                self._shape_cmds(nd.veth, nd.down_bps, "src")) + "\n")
            inner = [
                "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1"
                " >/dev/null 2>&1 || true",
                "ip link set lo up",
                "ip addr add %s/16 dev eth0" % nd.ip,
                "ip link set eth0 up",
            ]
            run(["ip", "netns", "exec", nd.ns, "sh", "-ec", "\n".join(inner)])
            run(["ip", "netns", "exec", nd.ns, "tc", "-batch", "-"], input_text="\n".join(
                self._shape_cmds("eth0", nd.up_bps, "dst")) + "\n")
        self._check_isolation()
        self.log("topology: %d namespaces on bridge %s built in %.1f s" %
                 (len(self.created_ns), self.bridge, time.time() - t))

    def _check_isolation(self):
        """Refuse to run if any namespace could route outside 198.18.0.0/15."""
        for nd in self.nodes():
            routes = json.loads(run(["ip", "-n", nd.ns, "-j", "route", "show", "table", "all"])
                                or "[]")
            for r in routes:
                dst = r.get("dst", "")
                if r.get("type") in ("local", "broadcast", "multicast") or r.get("table") == "local":
                    continue
                if dst == "default" or not dst.startswith("198.18."):
                    raise RuntimeError("unexpected route in %s: %s" % (nd.ns, r))

    # ---- measurements ------------------------------------------------------------
    def counters(self):
        """{role: (tx_bytes, rx_bytes)} of each node's eth0, read inside its namespace."""
        out = {}
        for nd in self.nodes():
            js = json.loads(run(["ip", "-n", nd.ns, "-s", "-j", "link", "show", "dev", "eth0"]))
            st = js[0]["stats64"]
            out[nd.role] = (st["tx"]["bytes"], st["rx"]["bytes"])
        return out

    def qdisc_drops(self):
        """Total drops in all our qdiscs (both directions), for the report."""
        total = 0
        for nd in self.nodes():
            for cmd in (["tc", "-j", "-s", "qdisc", "show", "dev", nd.veth],
                        ["ip", "netns", "exec", nd.ns, "tc", "-j", "-s", "qdisc", "show",
                         "dev", "eth0"]):
                try:
                    for q in json.loads(run(cmd, check=False) or "[]"):
                        if q.get("kind") == "bfifo":
                            total += int(q.get("drops", 0))
                except (ValueError, RuntimeError):
                    pass
        return total

    # ---- teardown ----------------------------------------------------------------
    def teardown(self):
        for ns in list(self.created_ns):
            kill_ns_processes(ns)
        for ns in list(self.created_ns):
            run(["ip", "netns", "del", ns], check=False)
            self.created_ns.remove(ns)
        for nd in self.nodes():   # normally gone with their namespace
            if os.path.exists("/sys/class/net/%s" % nd.veth):
                run(["ip", "link", "del", nd.veth], check=False)
        if self.bridge_made:
            run(["ip", "link", "del", self.bridge], check=False)
            self.bridge_made = False


def ns_pids(ns):
    try:
        out = run(["ip", "netns", "pids", ns], check=False, timeout=10)
    except subprocess.TimeoutExpired:
        return []
    return [int(x) for x in out.split() if x.isdigit()]


def kill_ns_processes(ns, grace_s=3.0):
    """SIGTERM every process inside ns, then SIGKILL what is left (bounded)."""
    pids = ns_pids(ns)
    if not pids:
        return
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + grace_s
    while time.time() < deadline:
        left = [p for p in pids if os.path.exists("/proc/%d" % p) and not _is_zombie(p)]
        if not left:
            return
        time.sleep(0.05)
    for p in ns_pids(ns):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _run_alive(tag):
    """True if the bench/swarm process that owns tag is still running."""
    try:
        with open("/proc/%s/cmdline" % tag, "rb") as f:
            return b"swarm" in f.read()
    except OSError:
        return False


def cleanup_leftovers(log=print, force=False):
    """Remove namespaces, links and work dirs of bench/swarm runs that are no longer alive."""
    removed = 0
    for line in run(["ip", "netns", "list"], check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(r"dfb-(\d+)-(o|s|h\d+)", name)
        if not m or (not force and _run_alive(m.group(1))):
            continue
        kill_ns_processes(name)
        run(["ip", "netns", "del", name], check=False)
        log("removed netns %s" % name)
        removed += 1
    for ifname in os.listdir("/sys/class/net"):
        m = re.fullmatch(r"dfb(\d+)(br|o|s|h\d+)", ifname)
        if not m or (not force and _run_alive(m.group(1))):
            continue
        run(["ip", "link", "del", ifname], check=False)
        log("removed link %s" % ifname)
        removed += 1
    tmp = "/tmp"
    for d in os.listdir(tmp):
        m = re.fullmatch(r"dfb-(\d+)", d)
        if not m or (not force and _run_alive(m.group(1))):
            continue
        shutil.rmtree(os.path.join(tmp, d), ignore_errors=True)
        log("removed %s/%s" % (tmp, d))
        removed += 1
    return removed
