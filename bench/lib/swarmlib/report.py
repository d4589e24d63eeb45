# SPDX-License-Identifier: Apache-2.0
"""The bound T*, per-system statistics, and the Markdown / JSON / PNG outputs."""
import json
import os
import shutil
import subprocess

from . import util

# TCP payload per Ethernet frame at MTU m (IPv4 20 + TCP 20 + timestamps 12; Ethernet 14 counted
# by tc/htb): the best goodput a single TCP flow gets from an htb class of rate r is r * eff.
TCP_IP_HDR = 52
ETH_HDR = 14


def wire_efficiency(mtu):
    return (mtu - TCP_IP_HDR) / float(mtu + ETH_HDR)


def tstar(size, origin_up_bps, hosts):
    """Kumar-Ross bound: max(F/u_origin, F/d_min, N*F/(u_origin + sum u_i)), in seconds."""
    bits = size * 8.0
    n = len(hosts)
    d_min = min(h.down_bps for h in hosts)
    terms = {
        "origin_upload_s": bits / origin_up_bps,
        "slowest_download_s": bits / d_min,
        "aggregate_upload_s": n * bits / (origin_up_bps + sum(h.up_bps for h in hosts)),
    }
    return max(terms.values()), terms


def summarize(res, size, ts, n_hosts):
    """Adds the derived figures (times, ratios, egress / F) to a system result in place."""
    if res["status"] == "SKIPPED" or "egress_bytes" not in res:
        return res
    times = sorted(h["time_s"] for h in res["hosts"] if h.get("status") == "ok")
    res["n_ok"] = len(times)
    eg = res["egress_bytes"]
    res["origin_egress_over_F"] = eg["o"] / float(size)
    res["supernode_egress_over_F"] = eg["s"] / float(size)
    res["peers_egress_over_F"] = sum(v for k, v in eg.items() if k.startswith("h")) / float(size)
    if res["status"] == "ok" and times:
        st = {"makespan_s": times[-1], "p50_s": util.percentile(times, 50),
              "p95_s": util.percentile(times, 95), "min_s": times[0],
              "mean_s": sum(times) / len(times)}
        res.update(st)
        for k, v in st.items():
            res[k.replace("_s", "_over_tstar")] = v / ts
    for h in res["hosts"]:
        if "time_s" in h:
            h["time_over_tstar"] = h["time_s"] / ts
    if n_hosts and any("bytes_source" in h for h in res["hosts"]):
        tot = float(n_hosts * size)
        res["bytes_share"] = {
            "source": sum(h.get("bytes_source") or 0 for h in res["hosts"]) / tot,
            "supernode": sum(h.get("bytes_supernode") or 0 for h in res["hosts"]) / tot,
            "peers": sum(h.get("bytes_peers") or 0 for h in res["hosts"]) / tot,
        }
    return res


def _f(v, fmt="%.2f"):
    return "-" if v is None else fmt % v


def _busy(r, doc):
    """'busy% (ours%)': whole machine over the timed window, and our processes' share of it."""
    if r.get("cpu_busy_pct") is None:
        return "-"
    cpus = (doc.get("hardware") or {}).get("cpus") or 1
    ours = (r.get("cpu_s") or {}).get("total")
    if ours is None or not r.get("wall_s"):
        return "%.0f" % r["cpu_busy_pct"]
    return "%.0f (%.0f)" % (r["cpu_busy_pct"], 100.0 * ours / (r["wall_s"] * cpus))


def markdown(doc):
    cfg = doc["config"]
    ts = doc["tstar_s"]
    lines = []
    img = doc.get("image")
    if img:
        lines.append("## Swarm, image mode: N=%d, a %d-layer image of %s random data, F = %d "
                     "bytes as pushed (manifest + config + gzipped layers), links %s up / %s "
                     "down (origin %s up, supernode %s up)%s"
                     % (cfg["peers"], len(img["layers"]), cfg["size"], img["total_bytes"],
                        cfg["uplink"], cfg["downlink"], cfg["origin_rate"], cfg["sn_uplink"],
                        (", a quarter of the hosts at %s" % cfg["slow_quarter"])
                        if cfg.get("slow_quarter") else ""))
        lines.append("")
        lines.append("Every host runs `skopeo copy docker://<registry>/%s:%s %s:<out>`: direct = "
                     "from Debian's docker-registry at %s; damselfly = from its own dfdaemon at "
                     "127.0.0.1 (registry_mirror.remote = the registry, --node = the supernode). "
                     "Done = skopeo exit 0; every blob's size and SHA-256 checked. Origin egress "
                     "= the registry's namespace."
                     % (img["repo"], img["tag"], cfg.get("image_dest", "dir"),
                        img["registry"]))
        lines.append("")
    else:
        lines.append("## Swarm: N=%d, F=%s, links %s up / %s down (origin %s up, supernode %s up)%s"
                 % (cfg["peers"], cfg["size"], cfg["uplink"], cfg["downlink"], cfg["origin_rate"],
                    cfg["sn_uplink"], (", a quarter of the hosts at %s" % cfg["slow_quarter"])
                    if cfg.get("slow_quarter") else ""))
        lines.append("")
    lines.append("T* = %.2f s (Kumar-Ross: origin %.2f s, slowest download %.2f s, aggregate "
                 "upload %.2f s). TCP/IP over Ethernet at MTU %d carries at most %.1f%% of a "
                 "link as payload, so even a lone transfer takes >= %.3f x T*."
                 % (ts, doc["tstar_terms"]["origin_upload_s"],
                    doc["tstar_terms"]["slowest_download_s"],
                    doc["tstar_terms"]["aggregate_upload_s"], cfg["mtu"],
                    100 * doc["wire_efficiency"], 1 / doc["wire_efficiency"]))
    lines.append("")
    lines.append("| system | status | makespan s | makespan / T* | p50 / T* | p95 / T* | "
                 "origin egress / F | supernode egress / F | CPU s (clients + services) | "
                 "peak RSS MiB (client / service) | host CPU busy % (ours) |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in doc["systems"]:
        if r["status"] == "SKIPPED":
            lines.append("| %s | SKIPPED: %s | | | | | | | | | |" % (r["system"], r["reason"]))
            continue
        status = r["status"] if r["status"] == "ok" else "**FAILED**: %s" % (r["reason"] or "")
        cpu = r.get("cpu_s") or {}
        rss = r.get("peak_rss_kib") or {}
        cl_rss = max(list((rss.get("host") or {}).values()) or [0])
        svc_rss = max(list((rss.get("sn") or {}).values()) +
                      list((rss.get("origin") or {}).values()) or [0])
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["system"], status.replace("|", "/"), _f(r.get("makespan_s"), "%.1f"),
            _f(r.get("makespan_over_tstar"), "%.3f"), _f(r.get("p50_over_tstar"), "%.3f"),
            _f(r.get("p95_over_tstar"), "%.3f"), _f(r.get("origin_egress_over_F"), "%.3f"),
            _f(r.get("supernode_egress_over_F"), "%.3f") if r["system"] == "damselfly" else "-",
            _f(cpu.get("total"), "%.1f"),
            "%.0f / %.0f" % (cl_rss / 1024.0, svc_rss / 1024.0) if cpu else "-",
            _busy(r, doc)))
    lines.append("")
    dfs = [r for r in doc["systems"] if r.get("bytes_share") and r["system"] == "damselfly"]
    for r in dfs:
        b = r["bytes_share"]
        lines.append("damselfly bytes received (%s, all hosts, as a share of N x F): source "
                     "%.1f%%, supernode %.1f%%, peers %.1f%%."
                     % ("dfdaemon `blob OK` log lines" if img else "dfget summary lines",
                        100 * b["source"], 100 * b["supernode"], 100 * b["peers"]))
        lines.append("")
    # per-host completion times
    run = [r for r in doc["systems"] if r["status"] != "SKIPPED" and r.get("hosts")]
    if run:
        hdr = "| host | up / down |" + "".join(" %s t/T* |" % r["system"] for r in run)
        lines.append(hdr)
        lines.append("|---|---|" + "---|" * len(run))
        for i, h in enumerate(run[0]["hosts"]):
            cells = []
            for r in run:
                hh = r["hosts"][i]
                if hh.get("status") == "ok":
                    c = "%.3f" % hh["time_over_tstar"]
                    if "bytes_peers" in hh and r["system"] == "damselfly":
                        c += " (src %.0f%% sn %.0f%% peers %.0f%%)" % tuple(
                            100.0 * (hh.get(k) or 0) / doc["size_bytes"]
                            for k in ("bytes_source", "bytes_supernode", "bytes_peers"))
                else:
                    c = hh.get("status", "?")
                cells.append(c)
            lines.append("| %s | %s / %s |%s" % (
                h["host"], util.fmt_rate(h["up_bps"]), util.fmt_rate(h["down_bps"]),
                "".join(" %s |" % c for c in cells)))
        lines.append("")
    return "\n".join(lines) + "\n"


def write_json(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")


def plot_cdf(doc, png_path, workdir):
    """Completion-time CDFs of every system that ran, x in units of T*. Returns an error or None."""
    if not shutil.which("gnuplot"):
        return "gnuplot not installed"
    series = []
    xmax, xmin = 1.0, 0.9
    for r in doc["systems"]:
        times = sorted(h["time_over_tstar"] for h in r.get("hosts", [])
                       if h.get("status") == "ok" and "time_over_tstar" in h)
        if not times:
            continue
        dat = os.path.join(workdir, "cdf-%s.dat" % r["system"])
        n = len(r["hosts"])
        with open(dat, "w") as f:
            f.write("%.5f 0\n" % times[0])
            for i, t in enumerate(times, 1):
                f.write("%.5f %.5f\n" % (t, i / float(n)))
        label = r["system"] + ("" if r["status"] == "ok" else " (FAILED)")
        series.append((dat, label))
        xmax = max(xmax, times[-1])
        xmin = min(xmin, times[0] * 0.9)
    if not series:
        return "no system produced completion times"
    # log x axis: the P2P systems sit near 1, direct pulls sit near N
    ticks = [t for t in (0.25, 0.35, 0.5, 0.7, 0.9, 1, 1.1, 1.25, 1.5, 2, 3, 4, 6, 8, 12, 16,
                         24, 32, 48, 64)
             if xmin <= t <= xmax * 1.5 and (xmax < 6 or t not in (0.9, 1.1))]
    cfg = doc["config"]
    gp = os.path.join(workdir, "cdf.gp")
    with open(gp, "w") as f:
        f.write('set terminal pngcairo size 900,560 font "sans,11"\n')
        f.write("set output '%s'\n" % png_path)
        slow = (", 1/4 at %s" % cfg["slow_quarter"]) if cfg.get("slow_quarter") else ""
        what = ("%d-layer image of %s" % (cfg.get("layers") or 0, cfg["size"])
                if cfg.get("mode") == "image" else "F=%s" % cfg["size"])
        f.write('set title "Completion-time CDF: N=%d, %s, %s links%s (T* = %.1f s)"\n'
                % (cfg["peers"], what, cfg["uplink"], slow, doc["tstar_s"]))
        f.write('set xlabel "completion time / T*  (log scale)"\n')
        f.write('set ylabel "fraction of hosts done"\n')
        f.write("set key bottom right\nset grid\nset yrange [0:1.05]\n")
        f.write("set logscale x\nset xrange [%.3f:%.3f]\n" % (xmin, xmax * 1.15))
        f.write("set xtics (%s)\n" % ", ".join('"%g" %g' % (t, t) for t in ticks))
        f.write("set arrow from 1, graph 0 to 1, graph 1 nohead dt 2 lc rgb 'gray40'\n")
        f.write("set label 'T*' at 1, graph 0.96 offset 0.6,0 left\n")
        floor = 1.0 / doc["wire_efficiency"]
        f.write("set arrow from %.4f, graph 0 to %.4f, graph 0.9 nohead dt 3 lc rgb 'gray60'\n"
                % (floor, floor))
        f.write("set label 'TCP floor' at %.4f, graph 0.88 offset 0.6,0 left tc rgb 'gray50'\n"
                % floor)
        f.write("plot " + ", ".join("'%s' using 1:2 with steps lw 2 title '%s'" % (d, t)
                                    for d, t in series) + "\n")
    p = subprocess.run(["gnuplot", gp], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    if p.returncode != 0:
        return "gnuplot failed: %s" % p.stderr.strip()[:300]
    return None
