# SPDX-License-Identifier: Apache-2.0
"""Processes of a run: spawned inside namespaces, released together, reaped with rusage.

The bench process makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so helpers
that daemonize (e.g. a dfget peer server that outlives dfget) are re-parented to it and their
CPU time and peak RSS are still collected by wait4(). All children are spawned in their own
process group, so a Ctrl-C reaches only bench/swarm, which then tears everything down itself.
Single-threaded; not re-entrant.
"""
import ctypes
import os
import signal
import time

PR_SET_CHILD_SUBREAPER = 36
BARRIER_SH = 'read _ || exit 97; exec "$@" </dev/null'


def become_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class Proc:
    def __init__(self, pid, name, group, stdout_path, stderr_path):
        self.pid = pid
        self.name = name            # e.g. "h3", "supernode", "seeder"
        self.group = group          # accounting bucket, e.g. "client", "service"
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.end_t = None           # wall clock (time.time()) when reaped
        self.exit_code = None       # exit status, or -signal
        self.cpu_s = None

    @property
    def done(self):
        return self.end_t is not None


class Reaper:
    def __init__(self):
        self.procs = {}          # pid -> Proc (ours, spawned)
        self.orphans = []        # Proc records for re-parented descendants we reaped

    def spawn(self, ns, argv, name, group, stdout_path, stderr_path=None, barrier_fd=None,
              env_extra=None):
        """Start argv inside namespace ns (None = main namespace).

        With barrier_fd, the process blocks reading one line from it before exec'ing argv,
        so the caller can release many processes at one instant.
        """
        full = []
        if ns:
            full += ["ip", "netns", "exec", ns]
        if barrier_fd is not None:
            full += ["sh", "-c", BARRIER_SH, "sh"]
        full += list(argv)
        env = dict(os.environ)
        env.pop("http_proxy", None)
        env.pop("https_proxy", None)
        env.pop("HTTP_PROXY", None)
        env.pop("HTTPS_PROXY", None)
        env["no_proxy"] = "*"
        if env_extra:
            env.update(env_extra)
        stderr_path = stderr_path or stdout_path + ".err"
        fa = [(os.POSIX_SPAWN_OPEN, 1, stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
              (os.POSIX_SPAWN_OPEN, 2, stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
        if barrier_fd is not None:
            fa.append((os.POSIX_SPAWN_DUP2, barrier_fd, 0))
        else:
            fa.append((os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0))
        pid = os.posix_spawnp(full[0], full, env, file_actions=fa, setpgroup=0)
        p = Proc(pid, name, group, stdout_path, stderr_path)
        self.procs[pid] = p
        return p

    def reap(self):
        """Collect every exited child (non-blocking). Returns the number reaped, or -1
        when we have no children left at all."""
        n = 0
        while True:
            try:
                pid, status, ru = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return -1 if n == 0 else n
            except InterruptedError:
                continue
            if pid == 0:
                return n
            n += 1
            p = self.procs.get(pid)
            if p is None:
                p = Proc(pid, "orphan", "orphan", None, None)
                self.orphans.append(p)
            p.end_t = time.time()
            p.exit_code = (os.WEXITSTATUS(status) if os.WIFEXITED(status)
                           else -os.WTERMSIG(status))
            p.cpu_s = ru.ru_utime + ru.ru_stime

    def wait_all(self, procs, timeout_s):
        """Reap until every proc in procs is done or timeout; returns True if all done."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            self.reap()
            if all(p.done for p in procs):
                return True
            time.sleep(0.02)
        self.reap()
        return all(p.done for p in procs)

    def drain(self, timeout_s=5.0):
        """Reap until we have no children left at all (bounded)."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.reap() < 0:
                return True
            time.sleep(0.05)
        return False

    def take_orphans(self):
        o = self.orphans
        self.orphans = []
        return o

    def terminate(self, procs, sig_grace_s=3.0):
        """SIGTERM, wait (bounded), SIGKILL, for processes we spawned."""
        live = [p for p in procs if not p.done]
        for p in live:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self.wait_all(live, sig_grace_s):
            return
        for p in live:
            if not p.done:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.wait_all(live, 3.0)


def wait_for(predicate, timeout_s, step_s=0.1):
    """Bounded poll: True as soon as predicate() is true, False after timeout_s."""
    deadline = time.time() + timeout_s
    while True:
        if predicate():
            return True
        if time.time() >= deadline:
            return False
        time.sleep(step_s)



class NsMemSampler:
    """Peak RSS (VmHWM) of every process living in the given namespaces, by (kind, comm).

    wait4()'s ru_maxrss cannot be used: a child spawned with vfork/posix_spawn inherits the
    bench's own (python) high-water mark at exec. So /proc is sampled instead (every call of
    sample(); the loop calls it about twice a second), which can miss growth in a process's
    last half second.
    """

    def __init__(self, ns_kinds):
        self.kinds = {}                       # netns inode -> kind ("host", "sn", "origin")
        for ns, kind in ns_kinds.items():
            try:
                self.kinds[os.stat("/run/netns/" + ns).st_ino] = kind
            except OSError:
                pass
        self.peak = {}                        # kind -> {comm: kib}

    def sample(self):
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                ino = os.stat("/proc/%s/ns/net" % d).st_ino
                kind = self.kinds.get(ino)
                if kind is None:
                    continue
                name, hwm = None, None
                with open("/proc/%s/status" % d) as f:
                    for line in f:
                        if line.startswith("Name:"):
                            name = line.split(None, 1)[1].strip()
                        elif line.startswith("VmHWM:"):
                            hwm = int(line.split()[1])
                            break
            except (OSError, ValueError, IndexError):
                continue
            if name and hwm is not None and name not in ("sh", "ip"):
                k = self.peak.setdefault(kind, {})
                k[name] = max(k.get(name, 0), hwm)
