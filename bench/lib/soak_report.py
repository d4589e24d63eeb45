#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The report of bench/soak.sh: OUT/NAME.md, OUT/NAME.png (gnuplot), OUT/NAME.csv.

usage: soak_report.py --run DIR --tdir T --sn-log FILE --out DIR --name NAME --cmd "..."
DIR holds what soak.sh and the sampler wrote: meta.txt (key=value), plan.txt, events.log,
results.log, procs.csv, metrics.csv. Per daemon: RSS and open fds at the start, their maximum,
at the end of the churn, after the cool-down, and the least-squares slope over the last 20 minutes
of the churn (the last two thirds of it when the churn is shorter than 25 minutes).
The CSV written to OUT is procs.csv thinned to one sample per 30 s per process (the full one is
in the run directory when soak.sh ran with SOAK_KEEP_RUN).
"""
import argparse
import collections
import csv
import glob
import os
import re
import statistics
import subprocess
import tempfile


def load_meta(path):
    m = collections.OrderedDict()
    shut = []
    for line in open(path):
        k, _, v = line.rstrip("\n").partition("=")
        if k == "shutdown":
            shut.append(v)
        else:
            m[k] = v
    m["shutdown"] = shut
    return m


def fit(pts):
    """least squares y = a + b x; returns (b, r2) or (None, None)"""
    if len(pts) < 3:
        return None, None
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None, None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    b = sxy / sxx
    syy = sum((y - my) ** 2 for y in ys)
    r2 = (sxy * sxy) / (sxx * syy) if syy > 0 else 0.0
    return b, r2


def at(series, t):
    """last sample at or before t (or the first one)"""
    best = series[0]
    for s in series:
        if s["t"] <= t:
            best = s
    return best


def mib(kb):
    return kb / 1024.0


def norm_msg(line):
    # "2026-12-08 01:40:00.123 WARN  mod message" -> "WARN mod message" without numbers/ids
    parts = line.split(None, 3)
    rest = parts[3] if len(parts) > 3 else line
    rest = re.sub(r"[0-9a-f]{16,}", "<id>", rest)
    rest = re.sub(r"/tmp/[^ ]*", "<path>", rest)
    # numbers become N, except HTTP status codes
    parts = re.split(r"(HTTP \d{3})", rest)
    rest = "".join(x if i % 2 else re.sub(r"\d+(\.\d+)?", "N", x) for i, x in enumerate(parts))
    return rest.strip()[:150]


def log_summary(paths):
    cnt = collections.Counter()
    lv = collections.Counter()
    for p in paths:
        try:
            f = open(p, errors="replace")
        except OSError:
            continue
        for line in f:
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[2] in ("WARN", "ERROR"):
                lv[parts[2]] += 1
                cnt[norm_msg(line)] += 1
    return lv, cnt


def fd_summary(run, tag, pid, pidrole):
    """What PID's open fds are at snapshot TAG: types, and its TCP sockets by state and by the
    process at the other end (in = accepted on one of its listening ports, out = it connected)"""
    try:
        fds = [l.strip() for l in open(os.path.join(run, "fd-%s-%d.txt" % (tag, pid)))]
    except OSError:
        return None
    kinds = collections.Counter()
    for f in fds:
        if f.startswith("socket:"):
            kinds["socket"] += 1
        elif f.startswith("pipe:"):
            kinds["pipe"] += 1
        elif f.startswith("anon_inode:"):
            kinds[f[len("anon_inode:"):].strip("[]")] += 1
        elif f.startswith("/dev/"):
            kinds["/dev"] += 1
        else:
            kinds["file"] += 1
    def norm(addr):
        # [::ffff:127.0.0.1]:80 -> 127.0.0.1:80 (the supernode listens dual-stack)
        return addr.replace("[::ffff:", "").replace("]", "").replace("[", "")

    conns = {}
    lines = []
    listed = 0
    fams = collections.Counter()
    try:
        for line in open(os.path.join(run, "ss-%s.txt" % tag)):
            f = line.split()
            if not f:
                continue
            mine = [int(fd) for p, fd in re.findall(r"pid=(\d+),fd=(\d+)", line) if int(p) == pid]
            pids = [int(x) for x in re.findall(r"pid=(\d+)", line)]
            if mine:
                listed += len(mine)
                fams[f[0]] += len(mine)
            if f[0] == "tcp" and len(f) >= 6:
                st, l, peer = f[1], norm(f[4]), norm(f[5])
                lines.append((st, l, peer, pids, len(mine)))
                if st != "LISTEN":
                    conns[(l, peer)] = pids
            elif f[0] in ("ESTAB", "LISTEN", "CLOSE-WAIT", "TIME-WAIT", "FIN-WAIT-1", "FIN-WAIT-2",
                          "SYN-SENT", "LAST-ACK", "CLOSING") and len(f) >= 5:   # ss -t (no Netid)
                st, l, peer = f[0], norm(f[3]), norm(f[4])
                lines.append((st, l, peer, pids, len(mine)))
                if st != "LISTEN":
                    conns[(l, peer)] = pids
    except OSError:
        pass
    listen = [l for st, l, _, pids, n in lines if st == "LISTEN" and n]
    lports = set(l.rsplit(":", 1)[1] for l in listen)
    socks = collections.Counter()
    for st, l, peer, pids, n in lines:
        if not n or st == "LISTEN":
            continue
        others = [q for q in conns.get((peer, l), []) if q != pid] or conns.get((peer, l), [])
        other = others[0] if others else None
        who = pidrole.get(other, "another process" if other else "nobody local")
        d = "in from" if l.rsplit(":", 1)[1] in lports else "out to"
        socks["%s %s %s" % (st, d, who)] += n
    unlisted = kinds["socket"] - listed
    ks = ", ".join("%s %d" % (k, n) for k, n in kinds.most_common())
    ss = "; ".join("%s ×%d" % (k, n) for k, n in sorted(socks.items(), key=lambda kv: -kv[1]))
    fam = ", ".join("%s %d" % kv for kv in fams.most_common())
    return "%d fds: %s%s%s%s%s" % (
        len(fds), ks, (" (sockets in ss: %s)" % fam) if fam else "",
        ("; **%d socket fds in no socket table** (closed TCP sockets still open?)" % unlisted) if unlisted > 0 else "",
        ("; TCP listening %d" % len(listen)) if listen else "", ("; TCP: " + ss) if ss else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--tdir", default="")
    ap.add_argument("--sn-log", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="soak")
    ap.add_argument("--cmd", default="bench/soak.sh build/bin")
    a = ap.parse_args()
    R = a.run
    meta = load_meta(os.path.join(R, "meta.txt"))
    secs = float(meta["secs"])
    churn_end = float(meta.get("churn_end_ms", secs * 1000)) / 1000.0
    stable = int(meta.get("stable", 0))
    win = 1200.0 if secs >= 1500 else secs * 2 / 3
    w0 = churn_end - win

    # ---- samples --------------------------------------------------------------------------
    rows = list(csv.DictReader(open(os.path.join(R, "procs.csv"))))
    series = collections.OrderedDict()   # (role, name) -> [sample]
    for r in rows:
        s = {"t": float(r["t"]), "pid": int(r["pid"]), "rss": int(r["rss_kb"]), "fds": int(r["fds"]),
             "thr": int(r["threads"]), "ticks": int(r["cpu_ticks"])}
        series.setdefault((r["role"], r["name"]), []).append(s)
    mrows = list(csv.DictReader(open(os.path.join(R, "metrics.csv"))))
    t_last = float(mrows[-1]["t"]) if mrows else churn_end

    # ---- results ---------------------------------------------------------------------------
    gets = collections.Counter()
    pulls = collections.Counter()
    reasons = collections.Counter()
    pull_reasons = collections.Counter()
    by_src = [0, 0, 0]
    get_secs = []
    for line in open(os.path.join(R, "results.log")):
        f = line.split()
        if len(f) < 7:
            continue
        if f[1] == "get":
            st = f[6]
            gets[st] += 1
            if st == "ok":
                get_secs.append(int(f[7]) / 1000.0)
                for i in range(3):
                    if f[8 + i] != "-":
                        by_src[i] += int(f[8 + i])
            elif st in ("fail", "corrupt", "hung"):
                reasons["%s: %s" % (st, " ".join(f[11:])[:140])] += 1
        elif f[1] == "pull":
            st = f[6]
            pulls[st] += 1
            if st != "ok":
                pull_reasons["%s: %s" % (st, " ".join(f[10:]).replace("_", " ")[:140])] += 1

    events = []
    for line in open(os.path.join(R, "events.log")):
        f = line.split()
        if len(f) >= 2:
            events.append((float(f[0]), f[1], " ".join(f[2:])))

    # ---- per-daemon table -----------------------------------------------------------------
    def stats(key, sl):
        s0 = sl[0]
        se = at(sl, churn_end)
        sc = sl[-1]
        rw = [(s["t"] / 3600.0, mib(s["rss"])) for s in sl if w0 <= s["t"] <= churn_end]
        fw = [(s["t"] / 3600.0, s["fds"]) for s in sl if w0 <= s["t"] <= churn_end]
        rb, rr2 = fit(rw)
        fb, fr2 = fit(fw)
        pids = sorted(set(s["pid"] for s in sl))
        # baseline: median RSS over the first and the last 5 min of the window (spikes do not count)
        b0 = [mib(s["rss"]) for s in sl if w0 <= s["t"] <= w0 + min(300, win / 4)]
        b1 = [mib(s["rss"]) for s in sl if churn_end - min(300, win / 4) <= s["t"] <= churn_end]
        return {
            "base0": statistics.median(b0) if b0 else None, "base1": statistics.median(b1) if b1 else None,
            "key": key, "pids": len(pids), "first": s0["t"], "last": sc["t"],
            "rss0": mib(s0["rss"]), "rssmax": mib(max(s["rss"] for s in sl)), "rsse": mib(se["rss"]),
            "rssc": mib(sc["rss"]), "rslope": rb, "rr2": rr2,
            "rdelta": (rw[-1][1] - rw[0][1]) if len(rw) > 1 else None,
            "fd0": s0["fds"], "fdmax": max(s["fds"] for s in sl), "fde": se["fds"], "fdc": sc["fds"],
            "fslope": fb, "fr2": fr2, "thrmax": max(s["thr"] for s in sl),
            "cpu": (sc["ticks"] - s0["ticks"]) / os.sysconf("SC_CLK_TCK") if len(pids) == 1 else None,
            "alive_end": sc["t"] >= t_last - 1,
        }

    def climbing(st):
        rs = (st["rslope"] is not None and st["rslope"] > 2.0 and (st["rr2"] or 0) > 0.6
              and (st["rdelta"] or 0) > 1.0) or \
             (st["base0"] is not None and st["base1"] is not None and st["base1"] - st["base0"] > 1.0)
        fs = st["fslope"] is not None and st["fslope"] > 3.0 and (st["fr2"] or 0) > 0.6
        return rs, fs

    order = ["supernode", "dfdaemon", "dfd-uploader", "uploader", "origin", "registry"]
    main_rows = []
    churny = []
    for (role, name), sl in sorted(series.items(), key=lambda kv: (order.index(kv[0][0]) if kv[0][0] in order else 99,
                                                                   kv[0][1][0], int(re.sub(r"\D", "", kv[0][1]) or 0))):
        if role == "uploader" and int(name[1:]) > stable:
            churny.append((name, sl))
            continue
        main_rows.append(((role, name), stats((role, name), sl)))

    def f1(v, fmt="%.1f"):
        return "—" if v is None else fmt % v

    label = {"supernode": "supernode", "dfdaemon": "dfdaemon", "dfd-uploader": "dfdaemon's uploader",
             "uploader": "uploader (stable host)", "origin": "origin.py (harness)",
             "registry": "docker-registry (harness)"}
    tbl = ["| daemon | pids | RSS MiB start / max / churn end / after cool-down | RSS median, first / last %d min of the window | RSS slope, last %d min (MiB/h, R²) | fds start / max / churn end / after cool-down | fd slope (/h, R²) | threads max | CPU s | climbing? |" % (round(min(300, win / 4) / 60), round(win / 60)),
           "|---|---|---|---|---|---|---|---|---|---|"]
    flags = []
    for (role, name), st in main_rows:
        rs, fs = climbing(st)
        c = []
        if rs:
            c.append("RSS")
        if fs:
            c.append("fds")
        if c and role not in ("origin", "registry"):
            flags.append((role, name, st, c))
        tbl.append("| %s %s | %d | %.1f / %.1f / %.1f / %.1f%s | %s / %s | %s (%s) | %d / %d / %d / %d%s | %s (%s) | %d | %s | %s |" % (
            label.get(role, role), name, st["pids"], st["rss0"], st["rssmax"], st["rsse"], st["rssc"],
            "" if st["alive_end"] else " (gone)", f1(st["base0"], "%.2f"), f1(st["base1"], "%.2f"),
            f1(st["rslope"], "%+.2f"), f1(st["rr2"], "%.2f"), st["fd0"], st["fdmax"], st["fde"], st["fdc"],
            "" if st["alive_end"] else " (gone)", f1(st["fslope"], "%+.1f"), f1(st["fr2"], "%.2f"),
            st["thrmax"], f1(st["cpu"]), ", ".join(c) if c else "no"))

    ctbl = ["| host | uploader processes | RSS MiB max | fds max | life s median / max | alive after cool-down |",
            "|---|---|---|---|---|---|"]
    churny_alive_end = 0
    for name, sl in churny:
        bypid = collections.OrderedDict()
        for s in sl:
            bypid.setdefault(s["pid"], []).append(s)
        lives = [v[-1]["t"] - v[0]["t"] for v in bypid.values()]
        alive = sum(1 for v in bypid.values() if v[-1]["t"] >= t_last - 1)
        churny_alive_end += alive
        ctbl.append("| %s | %d | %.1f | %d | %.0f / %.0f | %d |" % (
            name, len(bypid), mib(max(s["rss"] for s in sl)), max(s["fds"] for s in sl),
            statistics.median(lives), max(lives), alive))

    # ---- supernode metrics ---------------------------------------------------------------
    def mval(r, k):
        return int(r[k]) if r.get(k, "") not in ("", None) else None

    sn_tasks = [(float(r["t"]), mval(r, "sn_tasks"), mval(r, "sn_peers")) for r in mrows]
    sn_max_tasks = max((x[1] for x in sn_tasks if x[1] is not None), default=None)
    sn_max_peers = max((x[2] for x in sn_tasks if x[2] is not None), default=None)
    last_m = mrows[-1] if mrows else {}
    end_m = None
    for r in mrows:
        if float(r["t"]) <= churn_end:
            end_m = r
    busy = [float(r["busy_pct"]) for r in mrows[1:]]
    load = [float(r["load1"]) for r in mrows]
    zmax = max((int(r["zombies"]) for r in mrows), default=0)

    # ---- fd snapshots ---------------------------------------------------------------------
    pidrole = {}
    for (role, name), sl in series.items():
        for smp in sl:
            pidrole[smp["pid"]] = "%s %s" % (role, name)
    fdsnap = []
    for (role, name), st in main_rows:
        if role in ("origin", "registry"):
            continue
        sl = series[(role, name)]
        pe = at(sl, churn_end)["pid"]
        pc = sl[-1]["pid"]
        fdsnap.append(("%s %s" % (label.get(role, role), name), fd_summary(R, "churn-end", pe, pidrole),
                       fd_summary(R, "end", pc, pidrole) if st["alive_end"] else None))

    # ---- logs ----------------------------------------------------------------------------
    logs = {}
    if a.tdir:
        logs["supernode"] = log_summary([a.sn_log] if a.sn_log else [])
        logs["dfdaemons"] = log_summary(glob.glob(os.path.join(a.tdir, "dfd-*", "logs", "*.log")))
        logs["uploaders"] = log_summary(glob.glob(os.path.join(a.tdir, "dfhome", "*", "logs", "dfserver.log")))
        logs["dfget runs"] = log_summary(glob.glob(os.path.join(a.tdir, "dfhome", "*", "logs", "dfclient.log")))

    # ---- plot ----------------------------------------------------------------------------
    os.makedirs(a.out, exist_ok=True)
    png = os.path.join(a.out, a.name + ".png")
    with tempfile.TemporaryDirectory() as td:
        plots_rss, plots_fd = [], []
        colors = ["#d62728", "#1f77b4", "#17becf", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22"]
        ci = 0
        for (role, name), st in main_rows:
            if role in ("origin", "registry"):
                continue
            fn = os.path.join(td, "%s-%s.dat" % (role, name))
            with open(fn, "w") as f:
                prev = None
                for s in series[(role, name)]:
                    if prev is not None and s["pid"] != prev:
                        f.write("\n")   # a new process: break the line
                    prev = s["pid"]
                    f.write("%.3f %.2f %d\n" % (s["t"] / 60.0, mib(s["rss"]), s["fds"]))
            title = "%s %s" % ({"dfd-uploader": "dfd uploader", "uploader": "uploader"}.get(role, role), name)
            col = colors[ci % len(colors)]
            ci += 1
            plots_rss.append("'%s' u 1:2 w l lw 2 lc rgb '%s' t '%s'" % (fn, col, title))
            plots_fd.append("'%s' u 1:3 w l lw 2 lc rgb '%s' t '%s'" % (fn, col, title))
        fn = os.path.join(td, "churny.dat")
        with open(fn, "w") as f:
            for name, sl in churny:
                prev = None
                for s in sl:
                    if prev is not None and s["pid"] != prev:
                        f.write("\n")
                    prev = s["pid"]
                    f.write("%.3f %.2f %d\n" % (s["t"] / 60.0, mib(s["rss"]), s["fds"]))
                f.write("\n")
        if churny:
            plots_rss.append("'%s' u 1:2 w l lw 1 lc rgb '#aaaaaa' t 'uploaders, churning hosts'" % fn)
            plots_fd.append("'%s' u 1:3 w l lw 1 lc rgb '#aaaaaa' t 'uploaders, churning hosts'" % fn)
        fm = os.path.join(td, "metrics.dat")
        with open(fm, "w") as f:
            for r in mrows:
                f.write("%.3f %s %s %s %s %s\n" % (float(r["t"]) / 60.0, r["sn_tasks"] or "NaN",
                                                 r["sn_peers"] or "NaN", r["busy_pct"], r["uploaders"],
                                                 r["dfget_runs"]))
        fe = os.path.join(td, "events.dat")
        ymark = {"killget": 1, "killup": 2, "killhost": 3, "leave": 4, "task": 5}
        with open(fe, "w") as f:
            for t, k, _ in events:
                if k in ymark:
                    f.write("%.3f %d\n" % (t / 60.0, ymark[k]))
        ce = churn_end / 60.0
        gp = os.path.join(td, "plot.gp")
        with open(gp, "w") as f:
            f.write("""set terminal pngcairo size 1300,1250 font 'DejaVu Sans,10'
set output '%(png)s'
set multiplot layout 4,1 title 'Damselfly soak: %(mins)d min churn + cool-down (seed %(seed)s, %(hosts)s hosts, %(dfd)s dfdaemons); sampled every %(iv)s s'
set grid
set key outside right top
set xrange [0:%(xmax).2f]
set arrow 1 from %(ce).2f, graph 0 to %(ce).2f, graph 1 nohead dt 2 lc rgb '#444444'
set lmargin 10
set rmargin 36
set ylabel 'RSS (MiB)'
set yrange [*:*]
plot %(rss)s
set ylabel 'open fds'
plot %(fd)s
set ylabel 'count'
set y2label 'machine CPU busy %%'
set y2range [0:105]
set y2tics
plot '%(fm)s' u 1:2 w l lw 2 lc rgb '#d62728' t 'supernode tasks', '%(fm)s' u 1:3 w l lw 2 lc rgb '#1f77b4' t 'supernode peers', '%(fm)s' u 1:5 w steps lc rgb '#2ca02c' t 'uploaders alive', '%(fm)s' u 1:6 w steps lc rgb '#ff7f0e' t 'dfget runs', '%(fm)s' u 1:4 axes x1y2 w l lw 1 dt 3 lc rgb '#000000' t 'CPU busy %% (right)'
unset y2tics
unset y2label
set ylabel 'event'
set xlabel 'minutes (dashed line: end of the churn)'
set yrange [0.5:5.5]
set ytics ('killget' 1, 'killup' 2, 'killhost' 3, 'leave' 4, 'new task' 5)
plot '%(fe)s' u 1:2 w p pt 7 ps 0.6 lc rgb '#444444' notitle
unset multiplot
""" % {"png": png, "mins": round(secs / 60), "seed": meta.get("seed"), "hosts": meta.get("hosts"),
       "dfd": meta.get("dfd"), "iv": meta.get("interval"), "xmax": t_last / 60.0 + 0.2, "ce": ce,
       "rss": ", ".join(plots_rss), "fd": ", ".join(plots_fd), "fm": fm, "fe": fe})
        subprocess.run(["gnuplot", gp], check=True)

    # ---- thinned CSV -----------------------------------------------------------------------
    csv_out = os.path.join(a.out, a.name + ".csv")
    step = 30.0
    lastw = {}
    with open(csv_out, "w") as f:
        f.write("t,role,name,pid,rss_kb,fds,threads,cpu_ticks\n")
        for r in rows:
            k = (r["role"], r["name"], r["pid"])
            t = float(r["t"])
            if k in lastw and t - lastw[k] < step - 0.5:
                continue
            lastw[k] = t
            f.write(",".join(r[c] for c in ("t", "role", "name", "pid", "rss_kb", "fds", "threads", "cpu_ticks")) + "\n")

    # ---- markdown ----------------------------------------------------------------------------
    g_ok, g_fail, g_cor, g_kill, g_hung = (gets[k] for k in ("ok", "fail", "corrupt", "killed", "hung"))
    g_all = sum(gets.values())
    p_all = sum(pulls.values())
    tot = sum(by_src) or 1
    md = []
    w = md.append
    w("# Soak: %d minutes of churn on loopback (issue 11)" % round(secs / 60))
    w("")
    w("Generated by `bench/soak.sh` on %s (commit %s, %s); %s CPUs (%s), Linux %s." % (
        meta.get("date"), meta.get("commit"), meta.get("version"), meta.get("cpus"), meta.get("cpu_model"),
        meta.get("kernel")))
    w("Reproduce: `%s` (after `cmake --build build`; gnuplot from `bench/install-deps.sh`)." % a.cmd)
    w("")
    w("![RSS, fds, supernode tasks/peers and churn events over time](%s.png)" % a.name)
    w("")
    w("## Setup")
    w("")
    w("- Everything on loopback: tests/e2e/origin.py (task files), one supernode (`%s`), %s hosts "
      "h1..h%s, each with its own work home, loopback address 127.0.0.(10+i) and uploader port; every "
      "download is `dfget -s %s` (the uploader daemon is forked by a host's first dfget and serves the "
      "host's pieces to the others)." % (meta.get("sn_opts"), meta.get("hosts"), meta.get("hosts"), meta.get("rate")))
    w("- Hosts h1..h%s are stable (never killed; uploader `%s`, so it lives the whole run); the others churn "
      "(uploader `%s`: it exits when idle for 2 min)." % (stable, meta.get("stable_opts"), meta.get("churn_opts")))
    if int(meta.get("dfd", 0)) > 0:
        w("- Debian's docker-registry with 2-layer images pushed by skopeo during the run, and %s dfdaemons "
          "(`--registry`, `--node`, `%s`) pulling them: manifest, config and layers through the dfdaemon, "
          "every blob's SHA-256 checked against its digest (bench/lib/soak_pull.py)." % (meta.get("dfd"), meta.get("dfd_opts")))
    else:
        w("- No dfdaemon in this run: %s" % (meta.get("dfd_note") or "SOAK_DFD=0"))
    w("- Churn schedule: bench/lib/soak_plan.py, seed %s (random but reproducible; only the timing of the "
      "machine varies): a new task (file of %s MiB, uniform) about every %s s, downloads of the newest 4 "
      "tasks (newest most often) by a random online host about every %s s, ~8%% of them SIGKILLed "
      "mid-transfer, a churning host's uploader SIGKILLed about every 45 s, a churning host SIGKILLed whole "
      "(dfget runs and uploader) about every 2 min and back 10–60 s later with the same work home, a "
      "churning host leaving cleanly (uploader SIGTERM once its downloads are over) about every 2 min and "
      "back 10–60 s later with an empty work home, a new image every ~4 min, an image pull about every 15 s. "
      "At most %s downloads and pulls in flight (more are skipped). Then a %s s cool-down with no activity." % (
          meta.get("seed"), meta.get("sizes"), meta.get("task_every"), meta.get("get_every"), meta.get("maxjobs"),
          meta.get("cooldown")))
    w("- Sampling every %s s (bench/lib/soak_sample.py): VmRSS and entries of /proc/<pid>/fd of every "
      "daemon, the supernode's task and peer gauges from /metrics, the machine's CPU busy share. "
      "`%s.csv`: the per-process samples thinned to one per 30 s." % (meta.get("interval"), a.name))
    w("")
    w("## Churn")
    w("")
    w("| what | count |")
    w("|---|---|")
    w("| tasks created (files on the origin) | %s |" % meta.get("tasks"))
    w("| dfget downloads started | %d (+%s skipped: host offline or %s jobs in flight) |" % (g_all, meta.get("get_skipped"), meta.get("maxjobs")))
    w("| — ok, SHA-256 checked | %d |" % g_ok)
    w("| — **failed** (non-zero exit, not killed by the harness) | %d |" % g_fail)
    w("| — **wrong content** (exit 0, SHA-256 differs) | %d |" % g_cor)
    w("| — killed by the harness (killget or killhost) | %d |" % g_kill)
    w("| — hung (> 5 min, killed) | %d |" % g_hung)
    w("| dfget runs SIGKILLed mid-transfer (killget; + already over when due) | %s (+%s) |" % (meta.get("killget"), meta.get("killget_late")))
    w("| uploaders SIGKILLed (killup; + host had none) | %s (+%s) |" % (meta.get("killup"), meta.get("killup_none")))
    w("| hosts SIGKILLed whole (processes killed) | %s (%s) |" % (meta.get("killhost"), meta.get("killhost_procs")))
    w("| hosts leaving cleanly (uploader not gone 10 s after SIGTERM) | %s (%s) |" % (meta.get("leave"), meta.get("leave_slow")))
    w("| hosts back: same home / empty home | %s / %s |" % (meta.get("join_keep"), meta.get("join_fresh")))
    if int(meta.get("dfd", 0)) > 0:
        w("| images pushed (push failed) | %s (%s) |" % (meta.get("images"), meta.get("image_fail")))
        w("| image pulls through dfdaemon: ok / failed / wrong content (+ skipped) | %d / %d / %d (+%s) |" % (
            pulls["ok"], pulls["fail"], pulls["corrupt"], meta.get("pull_skipped")))
    w("| bytes of the ok downloads from origin / supernode / peers | %.0f / %.0f / %.0f MiB (%.0f%% peer to peer) |" % (
        by_src[0] / 1048576, by_src[1] / 1048576, by_src[2] / 1048576, 100.0 * by_src[2] / tot))
    if get_secs:
        w("| dfget time of the ok downloads, median / max | %.1f / %.1f s |" % (statistics.median(get_secs), max(get_secs)))
    w("| supernode tasks / peers in memory: max, at churn end, after cool-down | %s / %s, %s / %s, %s / %s |" % (
        sn_max_tasks, sn_max_peers, end_m.get("sn_tasks") if end_m else "—", end_m.get("sn_peers") if end_m else "—",
        last_m.get("sn_tasks", "—"), last_m.get("sn_peers", "—")))
    w("| supernode GC: tasks / peers dropped (total) | %s / %s |" % (last_m.get("sn_gc_tasks", "—"), last_m.get("sn_gc_peers", "—")))
    w("| churning hosts' uploaders alive after the cool-down (expected 0: idle 2 min) | %d |" % churny_alive_end)
    w("| zombie dfget processes seen in a sample (max; an exited run not yet reaped is one too) | %d |" % zmax)
    w("")
    if reasons or pull_reasons:
        w("Failures (first error line of the dfget output / the puller's line):")
        w("")
        for r, n in (reasons + pull_reasons).most_common(12):
            w("- %d× %s" % (n, r.replace("|", "/")))
        w("")
    w("## Daemons: RSS and open fds")
    w("")
    w("Start = first sample; churn end = t=%.0f s; after cool-down = last sample (t=%.0f s); slope = least "
      "squares over t=%.0f–%.0f s (the window); the medians ignore short spikes; \"climbing\" = RSS slope > "
      "2 MiB/h with R² > 0.6 and > 1 MiB gained in the window, or the last median > 1 MiB above the first, "
      "or fd slope > 3/h with R² > 0.6. (gone) = the process was no longer there at the end." % (
          churn_end, t_last, max(0, w0), churn_end))
    w("")
    md.extend(tbl)
    w("")
    if churny:
        w("Uploaders of the churning hosts (killed, restarted, idle-exited; per host over the whole run):")
        w("")
        md.extend(ctbl)
        w("")
    if any(x[1] or x[2] for x in fdsnap):
        w("What the open fds are (`ls -l /proc/<pid>/fd` and `ss -anp` right after the churn and after the "
          "cool-down; in = accepted on the daemon's own listening port, out = it connected):")
        w("")
        for who, e, c in fdsnap:
            w("- %s — churn end: %s; after cool-down: %s" % (who, e or "—", c or "—"))
        w("")
    w("## Machine load")
    w("")
    w("Shared machine (other engineers build and test on it at the same time): load average %s at the start, "
      "%s at the end; `uptime` before: `%s`, after: `%s`. Whole-machine CPU busy over the run: median %.0f%%, "
      "max %.0f%% (of %s CPUs); 1-min load median %.2f, max %.2f." % (
          meta.get("load_start"), meta.get("load_end"), meta.get("uptime_start", "").strip(),
          meta.get("uptime_end", "").strip(), statistics.median(busy) if busy else 0, max(busy) if busy else 0,
          meta.get("cpus"), statistics.median(load) if load else 0, max(load) if load else 0))
    w("")
    w("## Shutdown and logs")
    w("")
    for s in meta["shutdown"]:
        w("- %s" % s)
    w("- sanitizer reports in any output or log: %s" % meta.get("sanitizer_reports"))
    for k, (lv, cnt) in logs.items():
        w("- %s logs: %d WARN, %d ERROR lines%s" % (k, lv["WARN"], lv["ERROR"], ":" if cnt else ""))
        for msg, n in cnt.most_common(6):
            w("  - %d× `%s`" % (n, msg.replace("`", "'")))
    w("")
    w("## Findings")
    w("")
    if flags:
        for role, name, st, c in flags:
            w("- **%s %s: %s climbing** over the last %d min of churn: RSS %+.2f MiB/h (R² %.2f), fds %+.1f/h (R² %.2f)." % (
                role, name, " and ".join(c), round(win / 60), st["rslope"] or 0, st["rr2"] or 0, st["fslope"] or 0, st["fr2"] or 0))
    else:
        w("- No daemon's RSS or fd count climbs steadily over the last %d min of churn (criteria above)." % round(win / 60))
    w("- Downloads: %d ok, %d failed, %d with wrong content, %d hung, out of %d not killed by the harness." % (
        g_ok, g_fail, g_cor, g_hung, g_ok + g_fail + g_cor + g_hung))
    w("FINDINGS_PLACEHOLDER")
    open(os.path.join(a.out, a.name + ".md"), "w").write("\n".join(md).replace("FINDINGS_PLACEHOLDER\n", "").replace("\nFINDINGS_PLACEHOLDER", "") + "\n")


if __name__ == "__main__":
    main()
