# SPDX-License-Identifier: Apache-2.0
"""Unit parsing, hashing and small system probes for the swarm testbed."""
import hashlib
import os
import platform
import re

_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
               "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
               "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30}

# tc(8) rate units: bit, kbit, mbit, gbit are powers of 1000 (bits/s); *bps are bytes/s.
_RATE_UNITS = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9,
               "bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9}


def parse_size(text):
    """'512M' -> 536870912 (binary units, like dd/head)."""
    m = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in _SIZE_UNITS:
        raise ValueError("bad size %r (use e.g. 32M, 512M, 1G)" % text)
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]


def parse_rate(text):
    """'200mbit' -> 200e6 bits/s (tc units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*", text)
    if not m or m.group(2).lower() not in _RATE_UNITS:
        raise ValueError("bad rate %r (use e.g. 200mbit, 50mbit, 1gbit)" % text)
    return float(m.group(1)) * _RATE_UNITS[m.group(2).lower()]


def tc_rate(bits_per_s):
    """bits/s -> a tc rate string."""
    return "%dbit" % int(round(bits_per_s))


def fmt_rate(bits_per_s):
    if bits_per_s >= 1e9 and bits_per_s % 1e9 == 0:
        return "%dgbit" % (bits_per_s // 1e9)
    if bits_per_s >= 1e6:
        return ("%gmbit" % (bits_per_s / 1e6))
    return "%gkbit" % (bits_per_s / 1e3)


def fmt_size(n):
    for unit, div in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= div and n % div == 0:
            return "%d%s" % (n // div, unit)
    return str(n)


def sha256_file(path, limit_bytes=None):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def make_random_file(path, size):
    """Incompressible content (so nothing along the path can cheat)."""
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 8 << 20)
            f.write(os.urandom(n))
            left -= n


def cpu_times():
    """System-wide (busy, total) jiffies from /proc/stat."""
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    vals = [int(x) for x in parts]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    total = sum(vals[:8])
    return total - idle, total, (vals[6] if len(vals) > 6 else 0)


def cpu_busy_pct(before, after):
    busy = after[0] - before[0]
    total = after[1] - before[1]
    sirq = after[2] - before[2]
    if total <= 0:
        return None, None
    return 100.0 * busy / total, 100.0 * sirq / total


def hardware_note():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {"cpu_model": model, "cpus": os.cpu_count(), "mem_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version()}


def percentile(sorted_vals, q):
    """Linear interpolation between closest ranks (q in [0,100])."""
    if not sorted_vals:
        return None
    if len(sorted_vals) == 1:
        return sorted_vals[0]
    pos = (len(sorted_vals) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)
