#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The sampler of bench/soak.sh: every --interval s, RSS and open fds of each daemon of the run.

usage: soak_sample.py --dir T --t0 EPOCH --procs OUT.csv --metrics OUT.csv --stop FILE
                      [--interval 5] [--sn-base http://host:port] [--pid ROLE:NAME:PID ...]

Processes: the ones passed with --pid (supernode, dfdaemons, origin, registry), plus every
process whose command line names the run's directory T: `dfget server … --home T/dfhome/H`
(role uploader, name H), `dfdaemon server … --home T/dfd-N` (role dfd-uploader, name N), and
`dfget` runs (counted, not listed). From /proc/<pid>/status (VmRSS, Threads), /proc/<pid>/fd
(entries), /proc/<pid>/stat (utime+stime, clock ticks).

procs CSV:   t,role,name,pid,rss_kb,fds,threads,cpu_ticks
metrics CSV: t,load1,busy_pct,sn_tasks,sn_peers,sn_tasks_registered,sn_gc_tasks,sn_gc_peers,
             uploaders,dfget_runs,zombies
(t = seconds since EPOCH; busy_pct = the whole machine's non-idle CPU share since the previous
sample, 100 = every core busy; sn_* from the supernode's /metrics, empty when it does not answer).
Stops when FILE exists (after writing one last sample).
"""
import argparse
import os
import time
import urllib.request


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def proc_info(pid):
    st = read("/proc/%d/status" % pid)
    stat = read("/proc/%d/stat" % pid)
    if st is None or stat is None:
        return None
    rss = thr = 0
    state = "?"
    for line in st.decode(errors="replace").splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("Threads:"):
            thr = int(line.split()[1])
        elif line.startswith("State:"):
            state = line.split()[1]
    rest = stat.decode(errors="replace").rsplit(")", 1)[1].split()
    ticks = int(rest[11]) + int(rest[12])
    try:
        fds = len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        fds = -1
    return rss, fds, thr, ticks, state


def cpu_times():
    f = read("/proc/stat").decode().splitlines()[0].split()[1:]
    v = [int(x) for x in f]
    idle = v[3] + v[4]
    return sum(v), idle


def sn_metrics(base):
    if not base:
        return {}
    try:
        with urllib.request.urlopen(base + "/metrics", timeout=2) as r:
            body = r.read().decode()
    except Exception:
        return {}
    m = {"tasks": 0}
    for line in body.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        k, _, v = line.rpartition(" ")
        if k.startswith("dragonfly_supernode_tasks{"):
            m["tasks"] += int(float(v))
        elif k == "dragonfly_supernode_peers":
            m["peers"] = int(float(v))
        elif k == "dragonfly_supernode_tasks_registered_total":
            m["reg"] = int(float(v))
        elif k == "dragonfly_supernode_gc_tasks_total":
            m["gct"] = int(float(v))
        elif k == "dragonfly_supernode_gc_peers_total":
            m["gcp"] = int(float(v))
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--t0", type=float, required=True)
    ap.add_argument("--procs", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--stop", required=True)
    ap.add_argument("--interval", type=float, default=5)
    ap.add_argument("--sn-base", default="")
    ap.add_argument("--pid", action="append", default=[], help="ROLE:NAME:PID")
    a = ap.parse_args()
    fixed = {}
    for s in a.pid:
        role, name, pid = s.split(":")
        fixed[int(pid)] = (role, name)
    home_up = os.path.join(a.dir, "dfhome") + "/"
    home_dfd = os.path.join(a.dir, "dfd-")
    self = os.getpid()
    pf = open(a.procs, "w", buffering=1)
    mf = open(a.metrics, "w", buffering=1)
    pf.write("t,role,name,pid,rss_kb,fds,threads,cpu_ticks\n")
    mf.write("t,load1,busy_pct,sn_tasks,sn_peers,sn_tasks_registered,sn_gc_tasks,sn_gc_peers,"
             "uploaders,dfget_runs,zombies\n")
    prev = cpu_times()
    nxt = time.time()
    while True:
        last = os.path.exists(a.stop)
        t = time.time() - a.t0
        rows = []
        uploaders = runs = zombies = 0
        seen = set()
        for pid, (role, name) in fixed.items():
            rows.append((role, name, pid))
            seen.add(pid)
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            pid = int(d)
            if pid in seen or pid == self:
                continue
            cl = read("/proc/%d/cmdline" % pid)
            if not cl or a.dir.encode() not in cl:
                continue
            argv = cl.decode(errors="replace").split("\0")
            exe = os.path.basename(argv[0])
            home = ""
            if "--home" in argv[:-1]:
                home = argv[argv.index("--home") + 1]
            if exe == "dfget" and len(argv) > 1 and argv[1] == "server" and home.startswith(home_up):
                rows.append(("uploader", home[len(home_up):].strip("/"), pid))
                uploaders += 1
            elif exe == "dfdaemon" and len(argv) > 1 and argv[1] == "server" and home.startswith(home_dfd):
                rows.append(("dfd-uploader", home[len(home_dfd):].strip("/"), pid))
            elif exe == "dfget":
                runs += 1
                info = proc_info(pid)
                if info and info[4] == "Z":
                    zombies += 1
        for role, name, pid in rows:
            info = proc_info(pid)
            if info is None:
                continue
            rss, fds, thr, ticks, state = info
            if state == "Z":
                zombies += 1
                continue
            pf.write("%.1f,%s,%s,%d,%d,%d,%d,%d\n" % (t, role, name, pid, rss, fds, thr, ticks))
        cur = cpu_times()
        dt, di = cur[0] - prev[0], cur[1] - prev[1]
        busy = 100.0 * (dt - di) / dt if dt > 0 else 0.0
        prev = cur
        load1 = read("/proc/loadavg").decode().split()[0]
        m = sn_metrics(a.sn_base)
        mf.write("%.1f,%s,%.1f,%s,%s,%s,%s,%s,%d,%d,%d\n" % (
            t, load1, busy, m.get("tasks", ""), m.get("peers", ""), m.get("reg", ""),
            m.get("gct", ""), m.get("gcp", ""), uploaders, runs, zombies))
        if last:
            return
        nxt += a.interval
        while time.time() < nxt:
            if os.path.exists(a.stop):
                break
            time.sleep(min(0.5, max(0.0, nxt - time.time())))


if __name__ == "__main__":
    main()
