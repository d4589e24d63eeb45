#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The event schedule of bench/soak.sh: randomised churn, fully determined by the seed.

usage: soak_plan.py --seed S --duration SECS --hosts N --stable K --sizes "1 4 16" [--dfd N]
                    [--get-every S] [--task-every S] [--hot N] [--rate-mib R] ...
Prints one event per line, sorted by time: "<t> <kind> <args...>" (t in seconds from the start):

  task  TID MIB            a new file appears on the origin (URL /soak/TID.bin)
  get   JID HOST TID       HOST downloads task TID with dfget (in the background)
  killget JID              SIGKILL that dfget run if it is still going (mid-transfer)
  killup HOST              SIGKILL HOST's uploader daemon (it may be serving other hosts)
  killhost HOST            SIGKILL everything of HOST (dfget runs and uploader); HOST is offline
  leave HOST               HOST's uploader gets SIGTERM (a clean exit); HOST is offline
  join  HOST keep|fresh    HOST is back: keep = same work home (a crashed host restarting),
                           fresh = an empty work home (a new machine taking the slot)
  image IID KIB            a new 2-layer image (KIB KiB per layer) is pushed to the registry
  pull  JID DFD IID        dfdaemon DFD pulls image IID (manifest + config + layers)

Hosts h1..hK ("stable") are never killed and never leave: their uploaders can live for the whole
run, so a leak in a long-lived uploader shows. The others churn. Tasks: a few "hot" ones at a
time (the newest --hot, newer ones more often); older ones go idle, so the supernode's memory GC
(--task-expire-time) drops them within the run. Every random choice comes from random.Random(seed).
"""
import argparse
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=1800)
    ap.add_argument("--hosts", type=int, default=8)
    ap.add_argument("--stable", type=int, default=2)
    ap.add_argument("--sizes", default="1 2 4 8 16 32", help="task sizes in MiB (uniform choice)")
    ap.add_argument("--rate-mib", type=float, default=8, help="dfget -s, to place kills mid-transfer")
    ap.add_argument("--get-every", type=float, default=2.5, help="mean seconds between downloads")
    ap.add_argument("--task-every", type=float, default=40, help="mean seconds between new tasks")
    ap.add_argument("--hot", type=int, default=4, help="tasks downloaded at a time (the newest)")
    ap.add_argument("--killget-frac", type=float, default=0.08)
    ap.add_argument("--killup-every", type=float, default=45)
    ap.add_argument("--killhost-every", type=float, default=120)
    ap.add_argument("--leave-every", type=float, default=120)
    ap.add_argument("--dfd", type=int, default=2, help="dfdaemons (0: none)")
    ap.add_argument("--image-every", type=float, default=240)
    ap.add_argument("--image-kib", default="1024 2048 4096")
    ap.add_argument("--pull-every", type=float, default=15)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    D = a.duration
    sizes = [int(s) for s in a.sizes.split()]
    hosts = ["h%d" % i for i in range(1, a.hosts + 1)]
    churny = hosts[a.stable:]
    ev = []  # (t, seq, line)

    def add(t, line):
        ev.append((round(t, 2), len(ev), line))

    def poisson(mean, start=0.0, lo=0.2):
        t = start
        while True:
            t += min(3 * mean, max(lo * mean, rnd.expovariate(1.0 / mean)))
            if t >= D:
                return
            yield t

    # tasks: 3 at the start, then one every ~task-every s
    tasks = []  # (t, tid, mib)
    for i in range(3):
        tasks.append((0.0, "t%03d" % (i + 1), rnd.choice(sizes)))
    for t in poisson(a.task_every, 0.0, 0.4):
        tasks.append((t, "t%03d" % (len(tasks) + 1), rnd.choice(sizes)))
    for t, tid, mib in tasks:
        add(t, "task %s %d" % (tid, mib))

    # host availability: offline intervals of the churny hosts (killhost / leave)
    offline = {h: [] for h in hosts}   # [(from, to)]

    def is_online(h, t):
        return all(not (f <= t < e) for f, e in offline[h])

    outs = []
    for kind, mean in (("killhost", a.killhost_every), ("leave", a.leave_every)):
        if not churny or mean <= 0:
            continue
        for t in poisson(mean, 5.0):
            h = rnd.choice(churny)
            if not is_online(h, t) or not is_online(h, t + 70):
                continue
            back = t + rnd.uniform(10, 60)
            offline[h].append((t, back))
            outs.append((t, kind, h, back))
    for t, kind, h, back in outs:
        add(t, "%s %s" % (kind, h))
        if back < D:
            add(back, "join %s %s" % (h, "keep" if kind == "killhost" else "fresh"))

    if churny and a.killup_every > 0:
        for t in poisson(a.killup_every, 5.0):
            h = rnd.choice(churny)
            if is_online(h, t):
                add(t, "killup %s" % h)

    # downloads: a random online host, one of the newest `hot` tasks created by then
    # (weights hot, hot-1, ..., 1: the newest most often)
    j = 0
    for t in poisson(a.get_every, 1.0):
        live = [x for x in tasks if x[0] <= t - 0.5]
        hot = live[-a.hot:][::-1]
        on = [h for h in hosts if is_online(h, t)]
        if not hot or not on:
            continue
        _, tid, mib = rnd.choices(hot, weights=list(range(len(hot), 0, -1)))[0]
        h = rnd.choice(on)
        j += 1
        jid = "g%04d" % j
        add(t, "get %s %s %s" % (jid, h, tid))
        if rnd.random() < a.killget_frac:
            dur = max(0.6, mib / a.rate_mib)
            add(t + max(0.3, rnd.uniform(0.2, 0.9) * dur), "killget %s" % jid)

    if a.dfd > 0:
        kibs = [int(k) for k in a.image_kib.split()]
        images = [(0.0, "i01", rnd.choice(kibs))]
        for t in poisson(a.image_every, 0.0, 0.5):
            images.append((t, "i%02d" % (len(images) + 1), rnd.choice(kibs)))
        for t, iid, kib in images:
            add(t, "image %s %d" % (iid, kib))
        p = 0
        for t in poisson(a.pull_every, 20.0):
            # images pushed at least 20 s before (the push takes a few seconds); the newest two
            live = [x for x in images if x[0] <= t - 20][-2:]
            if not live:
                continue
            iid = rnd.choice(live)[1]
            p += 1
            add(t, "pull p%04d d%d %s" % (p, rnd.randint(1, a.dfd), iid))

    for t, _, line in sorted(ev):
        print("%.2f %s" % (t, line))


if __name__ == "__main__":
    main()
