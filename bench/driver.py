#!/usr/bin/env python3
"""Benchmark driver for Puncker (run it through bench/bench.sh, not directly).

bench.sh makes a temp dir, installs the cleanup trap and starts this script
inside the measurement wrapper (a private mount namespace without the cgroup2
"unified" mount). This script then:

  * builds two busybox bundles with scripts/mkbundle.sh (args ["true"] and
    ["sleep", "1000"]) from the default `spec` of one runtime, shared by all;
  * times, interleaved round-robin across the runtimes, with the order rotated
    every iteration so that no runtime always goes first:
      floor      `unshare -fpmuinC true`: the namespaces, no runtime at all
      lifecycle  create --pid-file, start, wait for the container to exit,
                 delete --force (each phase and the total)
      run        run --bundle (foreground, exit status checked)
      exec       exec ID true into a container that runs `sleep 1000`
  * measures the peak RSS of `create` under /usr/bin/time (see do_rss());
  * optionally bisects the smallest memory limit that still runs `echo ok`;
  * prints median, p10 and p90 of each measurement and the ratios of the
    subject runtime (puncker) to the others and to the floor.

Every command is started with os.posix_spawn and reaped with os.waitpid, timed
with time.perf_counter_ns (CLOCK_MONOTONIC, ns resolution). The driver makes
itself a child subreaper so that a container's init, once the runtime that
created it has exited, is re-parented to the driver and can be waited for
exactly, without polling `state`.
"""

import argparse
import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MKBUNDLE = os.path.join(REPO, "scripts", "mkbundle.sh")

PR_SET_CHILD_SUBREAPER = 36
CMD_TIMEOUT = 30.0  # seconds for any one runtime command
EXIT_TIMEOUT = 10.0  # seconds for a started `true` container to exit
# The floor: the namespaces a container gets, with no runtime at all. The
# default `runc spec` config asks for pid, network, ipc, uts and mount
# namespaces; the project's definition of the floor adds a cgroup namespace
# (-C), which costs next to nothing (within noise here).
FLOOR_CMD = ["unshare", "-fpmuinC", "true"]
CHECK_MARKER = "puncker-bench-check"
CHECK_STATUS = 3

KIB = 1024
MIB = 1024 * 1024


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Failure(Exception):
    """A runtime command did not do what the benchmark needs."""


# --------------------------------------------------------------------------
# Running commands


class Result:
    __slots__ = ("rc", "ns", "output", "timed_out")

    def __init__(self, rc, ns, output, timed_out):
        self.rc = rc
        self.ns = ns
        self.output = output
        self.timed_out = timed_out

    def describe(self):
        if self.timed_out:
            what = f"timed out after {CMD_TIMEOUT:.0f}s"
        else:
            what = f"exit status {self.rc}"
        tail = self.output.strip().splitlines()[-3:]
        return what + (": " + " | ".join(tail) if tail else "")


def reap_orphans():
    """Reap zombies re-parented to us (we are a subreaper). Only called
    between commands, so it never steals the status of a command we wait for."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def spawn(argv, logfile, timeout=CMD_TIMEOUT, env=None):
    """Run argv with stdin=/dev/null and stdout+stderr to logfile; return a
    Result with the wall time.

    (No peak RSS here: posix_spawn starts the child with vfork semantics, and
    at exec the kernel folds the high-water RSS of the memory image being
    left, here the driver's own, into the child's ru_maxrss. See do_rss().)

    Output goes to a file, not a pipe: a detached container inherits the
    runtime's stdio, and a pipe would stay open until the container exits.
    """
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, logfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    env = os.environ if env is None else env
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    timed_out = False
    if not wait_for_pid(pid, timeout):
        timed_out = True
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    t1 = time.perf_counter_ns()
    with open(logfile, errors="replace") as f:
        output = f.read()
    rc = os.waitstatus_to_exitcode(status)
    return Result(rc, t1 - t0, output, timed_out)


def wait_for_pid(pid, timeout):
    """Block until process pid has exited (it may be a zombie), or timeout.
    Works for children and non-children alike via a pidfd."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        return bool(p.poll(int(timeout * 1000)))
    finally:
        os.close(fd)


def wait_container_exit(pid, timeout=EXIT_TIMEOUT):
    """Wait for a container's init to exit; return its exit code if it was
    re-parented to us (the usual case), else None."""
    if not wait_for_pid(pid, timeout):
        raise Failure(f"container process {pid} still running after {timeout:.0f}s")
    try:
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        return None  # not ours (no subreaper, or a runtime that keeps a monitor)


# --------------------------------------------------------------------------
# Runtimes


class Runtime:
    def __init__(self, name, path, workdir):
        self.name = name
        self.path = path
        self.root = os.path.join(workdir, "state", name)
        self.logfile = os.path.join(workdir, f"{name}.log")
        self.pidfile = os.path.join(workdir, f"{name}.pid")
        self.use_pidfile = True
        self.notes = []
        self.exec_id = None
        self.exec_pid = None
        os.makedirs(self.root, exist_ok=True)

    def cmd(self, *args):
        return [self.path, "--root", self.root, *args]

    def run(self, *args, timeout=CMD_TIMEOUT):
        return spawn(self.cmd(*args), self.logfile, timeout)

    def note(self, msg):
        if msg not in self.notes:
            self.notes.append(msg)
            log(f"note: {self.name}: {msg}")

    def container_pid(self, cid):
        """The host pid of a created container: from --pid-file, else `state`."""
        if self.use_pidfile:
            try:
                with open(self.pidfile) as f:
                    return int(f.read().strip())
            except (OSError, ValueError):
                self.note("create --pid-file wrote no pid; reading it from `state`")
                self.use_pidfile = False
        r = self.run("state", cid)
        if r.rc != 0:
            raise Failure(f"state {cid}: {r.describe()}")
        try:
            return int(json.loads(r.output)["pid"])
        except (ValueError, KeyError, TypeError):
            raise Failure(f"state {cid}: no pid in output: {r.output.strip()[:200]!r}")

    def create(self, cid, bundle):
        """Timed `create`; returns the Result. Falls back to no --pid-file once
        if the runtime rejects that flag."""
        if self.use_pidfile:
            try:
                os.unlink(self.pidfile)
            except FileNotFoundError:
                pass
            r = self.run("create", "--bundle", bundle, "--pid-file", self.pidfile, cid)
            if r.rc == 0 or "pid" not in r.output.lower():
                return r
            # Maybe --pid-file is what it rejects: retry once without it.
            self.force_delete(cid)
            r2 = self.run("create", "--bundle", bundle, cid)
            if r2.rc == 0:
                self.note("create rejects --pid-file (" + r.describe() + "); using `state`")
                self.use_pidfile = False
                return r2
            return r
        return self.run("create", "--bundle", bundle, cid)

    def force_delete(self, cid):
        return self.run("delete", "--force", cid)

    def leftover_ids(self):
        ids = set()
        try:
            ids.update(e for e in os.listdir(self.root)
                       if os.path.isdir(os.path.join(self.root, e)))
        except OSError:
            pass
        r = self.run("list", "-q", timeout=10)
        if r.rc == 0:
            # Only ids this benchmark makes (pb<pid>-...), never stray output.
            ids.update(l.strip() for l in r.output.splitlines()
                       if l.startswith("pb") and "-" in l)
        return ids


def resolve_runtimes(names, puncker_path, workdir):
    """Returns (runtimes, skipped) where skipped maps name -> reason."""
    found, skipped = [], {}
    for spec in names:
        name, _, path = spec.partition("=")
        if not path:
            if name == "puncker":
                path = puncker_path
                if not os.path.isabs(path) and not os.path.exists(path):
                    path = os.path.join(REPO, path)
            else:
                path = shutil.which(name) or ""
        path = os.path.abspath(path) if path else path
        if not path or not os.access(path, os.X_OK):
            skipped[name] = f"not installed ({path or 'not on PATH'})"
            continue
        found.append(Runtime(name, os.path.abspath(path), workdir))
    return found, skipped


# --------------------------------------------------------------------------
# Measurements


class Series:
    """Samples of one measurement for one runtime."""

    def __init__(self):
        self.samples = []
        self.error = None  # set once the runtime failed this measurement


def percentile(sorted_xs, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_xs:
        return float("nan")
    k = (len(sorted_xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (k - lo)


def summary(xs):
    s = sorted(xs)
    return percentile(s, 0.5), percentile(s, 0.1), percentile(s, 0.9)


class Bench:
    def __init__(self, args, runtimes, workdir, bundle_true, bundle_sleep):
        self.args = args
        self.runtimes = runtimes
        self.workdir = workdir
        self.bundle_true = bundle_true
        self.bundle_sleep = bundle_sleep
        self.bundle_check = os.path.join(workdir, "bundle-check")
        os.makedirs(self.bundle_check, exist_ok=True)
        write_config(os.path.join(bundle_true, "config.json"), self.bundle_check,
                     os.path.join(bundle_true, "rootfs"),
                     ["sh", "-c", f"echo {CHECK_MARKER}; exit {CHECK_STATUS}"], None)
        self.prefix = f"pb{os.getpid()}"
        self.floor_log = os.path.join(workdir, "floor.log")
        self.floor_path = shutil.which(FLOOR_CMD[0])
        self.time_path = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
        # data[measurement][runtime name] -> Series
        self.data = {}

    def series(self, what, name):
        return self.data.setdefault(what, {}).setdefault(name, Series())

    def record(self, keep, what, name, value):
        if keep:
            self.series(what, name).samples.append(value)

    def fail(self, what, rt_name, msg):
        s = self.series(what, rt_name)
        if s.error is None:
            s.error = msg
            log(f"FAILED: {rt_name} {what}: {msg}")

    # -- single measurements -------------------------------------------------

    def do_floor(self, it, keep):
        s = self.series("floor", "floor")
        if s.error:
            return
        r = spawn([self.floor_path] + FLOOR_CMD[1:], self.floor_log)
        if r.rc != 0:
            self.fail("floor", "floor", " ".join(FLOOR_CMD) + ": " + r.describe())
            return
        self.record(keep, "floor", "floor", r.ns)

    def do_lifecycle(self, rt, it, keep):
        if self.series("lifecycle", rt.name).error:
            return
        cid = f"{self.prefix}-{rt.name}-lc{it}"
        try:
            c = rt.create(cid, self.bundle_true)
            if c.rc != 0:
                raise Failure("create: " + c.describe())
            pid = rt.container_pid(cid)  # a file read (or `state`): untimed
            s = rt.run("start", cid)
            if s.rc != 0:
                raise Failure("start: " + s.describe())
            t0 = time.perf_counter_ns()
            code = wait_container_exit(pid)
            wait_ns = time.perf_counter_ns() - t0
            if code is None:
                rt.note("container init was not re-parented to the driver; "
                        "exit status of the container not checked")
            elif code != 0:
                raise Failure(f"container `true` exited with status {code}")
            d = rt.force_delete(cid)
            if d.rc != 0:
                raise Failure("delete --force: " + d.describe())
        except Failure as e:
            rt.force_delete(cid)
            self.fail("lifecycle", rt.name, str(e))
            return
        finally:
            reap_orphans()
        self.record(keep, "lifecycle", rt.name, c.ns + s.ns + wait_ns + d.ns)
        self.record(keep, "create", rt.name, c.ns)
        self.record(keep, "start", rt.name, s.ns)
        self.record(keep, "wait-exit", rt.name, wait_ns)
        self.record(keep, "delete", rt.name, d.ns)

    def do_rss(self, rt, it, keep):
        """Peak RSS of the runtime during `create`, from GNU time's %M.

        Why /usr/bin/time and not the driver's own wait4: ru_maxrss of a child
        includes the high-water RSS of the memory image it had before exec.
        A child spawned by the driver starts from the Python process's image
        (about 16 MiB), which would swamp a small runtime. GNU time forks its
        child from its own small image (about 1 MiB: `/usr/bin/time -f %M true`
        prints ~1000 here), then waits for it with wait4 and prints ru_maxrss:
        the largest RSS of the runtime's CLI process and of every helper
        process it reaped. The container's own process outlives `create` and
        is not counted. Reading VmHWM from /proc/PID/status would need the
        process to be caught alive just before it exits, which a short-lived
        CLI process does not allow. Runs separately from the timed create, so
        that time's own fork+exec does not add to the timings."""
        if self.series("create-peak-rss", rt.name).error:
            return
        lc = self.series("lifecycle", rt.name)
        if lc.error and not lc.samples:
            self.series("create-peak-rss", rt.name).error = \
                "not measured: the create/start/delete lifecycle fails"
            return
        if not self.time_path:
            self.series("create-peak-rss", rt.name).error = \
                "skipped: /usr/bin/time missing (apt-get install time)"
            return
        cid = f"{self.prefix}-{rt.name}-rss{it}"
        out = os.path.join(self.workdir, f"{rt.name}.rss")
        argv = [self.time_path, "-f", "%M", "-o", out] + rt.cmd("create", "--bundle",
                                                                  self.bundle_true, cid)
        r = spawn(argv, rt.logfile)
        rt.force_delete(cid)
        reap_orphans()
        if r.rc != 0:
            self.fail("create-peak-rss", rt.name, "create: " + r.describe())
            return
        try:
            with open(out) as f:
                kib = int(f.read().split()[-1])
        except (OSError, ValueError, IndexError):
            self.fail("create-peak-rss", rt.name, "could not read /usr/bin/time's output")
            return
        self.record(keep, "create-peak-rss", rt.name, kib)

    def do_run(self, rt, it, keep):
        if self.series("run", rt.name).error:
            return
        cid = f"{self.prefix}-{rt.name}-run{it}"
        r = rt.run("run", "--bundle", self.bundle_true, cid)
        reap_orphans()
        if r.rc != 0:
            rt.force_delete(cid)
            self.fail("run", rt.name, "run: " + r.describe())
            return
        self.record(keep, "run", rt.name, r.ns)

    def check_run(self, rt):
        """Untimed: does `run` really run the container and pass its exit
        status on? (A stub that exits 0 must not get a run time.)"""
        cid = f"{self.prefix}-{rt.name}-runcheck"
        r = rt.run("run", "--bundle", self.bundle_check, cid)
        rt.force_delete(cid)
        reap_orphans()
        if r.rc != CHECK_STATUS or CHECK_MARKER not in r.output:
            self.fail("run", rt.name,
                      f"`run` of sh -c 'echo {CHECK_MARKER}; exit {CHECK_STATUS}' should print "
                      f"the marker and exit {CHECK_STATUS}; got " + r.describe())

    def setup_exec(self, rt):
        """Start the long-running container that exec goes into, and check
        once, untimed, that exec runs a command in it and returns its output."""
        s = self.series("exec", rt.name)
        cid = f"{self.prefix}-{rt.name}-exec"
        try:
            c = rt.create(cid, self.bundle_sleep)
            if c.rc != 0:
                raise Failure("create (sleep 1000): " + c.describe())
            rt.exec_id = cid
            rt.exec_pid = rt.container_pid(cid)
            st = rt.run("start", cid)
            if st.rc != 0:
                raise Failure("start (sleep 1000): " + st.describe())
        except Failure as e:
            s.error = f"skipped: could not start the container to exec into: {e}"
            log(f"note: {rt.name}: exec {s.error}")
            return
        self.do_exec(rt, -1, False, ["echo", CHECK_MARKER])

    def do_exec(self, rt, it, keep, argv=("true",)):
        s = self.series("exec", rt.name)
        if s.error:
            return
        r = rt.run("exec", rt.exec_id, *argv)
        reap_orphans()
        if r.rc == 0 and CHECK_MARKER in argv and CHECK_MARKER not in r.output:
            s.error = f"exec failed: `exec {rt.exec_id} echo {CHECK_MARKER}` did not print it"
            log(f"note: {rt.name}: {s.error}")
            return
        if r.rc != 0:
            out = r.output.lower()
            if any(w in out for w in ("not supported", "unsupported", "not implemented",
                                      "unrecognized subcommand", "unknown command",
                                      "no such command", "invalid subcommand")):
                s.error = "skipped: runtime says exec is not supported: " + r.describe()
            else:
                s.error = "exec failed: " + r.describe()
            log(f"note: {rt.name}: exec {s.error}")
            return
        self.record(keep, "exec", rt.name, r.ns)

    # -- the loop --------------------------------------------------------------

    def run_all(self):
        a = self.args
        kinds = ["floor", "lifecycle", "run"] + ([] if a.no_exec else ["exec"]) + ["rss"]
        for rt in self.runtimes:
            self.check_run(rt)
            if "exec" in kinds:
                self.setup_exec(rt)
        total = a.warmup + a.iterations
        n = len(self.runtimes)
        t_start = time.monotonic()
        for it in range(total):
            keep = it >= a.warmup
            # Round-robin: every iteration measures each runtime once per
            # measurement, rotating who goes first.
            order = [self.runtimes[(it + k) % n] for k in range(n)]
            for kind in kinds:
                if kind == "floor":
                    self.do_floor(it, keep)
                    continue
                for rt in order:
                    getattr(self, "do_" + kind)(rt, it, keep)
            if a.progress and (it + 1) % max(1, total // 10) == 0:
                log(f"  iteration {it + 1}/{total} ({time.monotonic() - t_start:.0f}s)")

    # -- report ------------------------------------------------------------------

    def report(self, subject, skipped):
        rows = [
            ("floor", "floor: unshare -fpmuinC true", "ms"),
            ("lifecycle", "lifecycle total (create+start+wait+delete)", "ms"),
            ("create", "  create", "ms"),
            ("start", "  start", "ms"),
            ("wait-exit", "  wait for exit", "ms"),
            ("delete", "  delete --force", "ms"),
            ("run", "run (foreground)", "ms"),
            ("exec", "exec true (into running container)", "ms"),
            ("create-peak-rss", "peak RSS of `create` (/usr/bin/time -f %M)", "KiB"),
        ]
        names = [rt.name for rt in self.runtimes]
        others = [n for n in names if n != subject]
        floor_med = None
        fs = self.data.get("floor", {}).get("floor")
        if fs and fs.samples and not fs.error:
            floor_med = summary(fs.samples)[0]

        out = []
        w = max(len(n) for n in names + ["floor"])
        out.append("")
        out.append(f"Results: {self.args.iterations} iterations after {self.args.warmup} "
                   f"warm-up, interleaved round-robin; times in ms (wall clock).")
        out.append(f"{'':{w}}  {'median':>10} {'p10':>10} {'p90':>10}  {'n':>4}")
        for key, title, unit in rows:
            per = self.data.get(key)
            if not per:
                continue
            out.append("")
            out.append(f"{title} [{unit}]")
            meds = {}
            for name in (["floor"] if key == "floor" else names):
                s = per.get(name)
                if s is None:
                    continue
                if s.error and not s.samples:
                    out.append(f"{name:{w}}  {s.error}")
                    continue
                if s.error:
                    out.append(f"{name:{w}}  (stopped early: {s.error})")
                med, p10, p90 = summary(s.samples)
                meds[name] = med
                if unit == "ms":
                    vals = [v / 1e6 for v in (med, p10, p90)]
                    out.append(f"{name:{w}}  {vals[0]:10.3f} {vals[1]:10.3f} {vals[2]:10.3f}"
                               f"  {len(s.samples):4d}")
                else:
                    out.append(f"{name:{w}}  {med:10.0f} {p10:10.0f} {p90:10.0f}"
                               f"  {len(s.samples):4d}")
            if key == "floor" or subject not in meds:
                continue
            ratios = []
            for o in others:
                if o in meds and meds[o] > 0:
                    ratios.append(f"{subject}/{o} {meds[subject] / meds[o]:.2f}")
            if unit == "ms" and floor_med and key in ("lifecycle", "run", "exec"):
                ratios.append(f"{subject}/floor {meds[subject] / floor_med:.2f}")
            if ratios:
                out.append(f"{'ratio':{w}}  " + "   ".join(ratios))
        for name, why in skipped.items():
            out.append(f"\n{name}: skipped, {why}")
        for rt in self.runtimes:
            for n in rt.notes:
                out.append(f"note: {rt.name}: {n}")
        print("\n".join(out), flush=True)

    def as_json(self):
        res = {}
        for key, per in self.data.items():
            res[key] = {}
            for name, s in per.items():
                d = {"n": len(s.samples), "error": s.error}
                if s.samples:
                    med, p10, p90 = summary(s.samples)
                    d.update(median=med, p10=p10, p90=p90, samples=s.samples)
                res[key][name] = d
        return res

    # -- cleanup -----------------------------------------------------------------

    def cleanup(self):
        for rt in self.runtimes:
            if rt.exec_pid:
                try:
                    os.kill(rt.exec_pid, signal.SIGKILL)
                except OSError:
                    pass
            for cid in sorted(rt.leftover_ids()):
                rt.force_delete(cid)
        reap_orphans()


# --------------------------------------------------------------------------
# Memory floor


def write_config(src_cfg, dst_dir, rootfs, args, limit):
    with open(src_cfg) as f:
        cfg = json.load(f)
    cfg["root"]["path"] = rootfs
    cfg["process"]["args"] = args
    if limit is not None:
        res = cfg.setdefault("linux", {}).setdefault("resources", {})
        res["memory"] = {"limit": limit}
    with open(os.path.join(dst_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def host_memory_limit(pid):
    """The memory limit of the cgroup that process pid is in, read on the host
    (v1 memory controller, else cgroup2), plus that cgroup's path."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None, None
    v1 = v2 = None
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        if "memory" in ctrls.split(","):
            v1 = path
        elif ctrls == "":
            v2 = path
    candidates = []
    if v1 is not None:
        candidates.append((v1, f"/sys/fs/cgroup/memory{v1}/memory.limit_in_bytes"))
    if v2 is not None:
        for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
            candidates.append((v2, f"{base}{v2}/memory.max"))
    for path, f in candidates:
        try:
            with open(f) as fh:
                return fh.read().strip(), path
        except OSError:
            continue
    return None, v1 or v2


def memory_floor(bench, rt, resolution):
    """Smallest memory.limit (bytes) under which `run` of `echo ok` succeeds,
    by bisection in [64 KiB, 64 MiB]. Returns (value or None, message)."""
    mem_bundle = os.path.join(bench.workdir, f"mem-{rt.name}")
    os.makedirs(mem_bundle, exist_ok=True)
    src = os.path.join(bench.bundle_true, "config.json")
    rootfs = os.path.join(bench.bundle_true, "rootfs")
    counter = [0]

    # 1. Does the limit apply at all? Create a container with a distinctive
    #    limit and read the limit of its cgroup on the host. A runtime without
    #    cgroup support leaves the process in the driver's own cgroup.
    probe = 48 * MIB
    write_config(src, mem_bundle, rootfs, ["true"], probe)
    cid = f"{bench.prefix}-{rt.name}-memprobe"
    c = rt.create(cid, mem_bundle)
    if c.rc != 0:
        rt.force_delete(cid)
        return None, f"not measurable: create with memory.limit={probe} failed: {c.describe()}"
    try:
        pid = rt.container_pid(cid)
        seen, cg = host_memory_limit(pid)
        mine, my_cg = host_memory_limit(os.getpid())
    except Failure as e:
        return None, f"not measurable: {e}"
    finally:
        rt.force_delete(cid)
        reap_orphans()
    if seen is None or str(probe) != seen:
        where = "its own cgroup" if cg != my_cg else "the caller's cgroup"
        return None, (f"not measurable: runtime ignores memory limits (asked for "
                      f"{probe}, the container's cgroup {cg!r} ({where}) has limit {seen})")

    def ok(limit):
        counter[0] += 1
        cid = f"{bench.prefix}-{rt.name}-mem{counter[0]}"
        write_config(src, mem_bundle, rootfs, ["echo", "ok"], limit)
        r = rt.run("run", "--bundle", mem_bundle, cid)
        good = r.rc == 0 and "ok" in r.output.split()
        rt.force_delete(cid)
        reap_orphans()
        if bench.args.progress:
            log(f"  {rt.name}: limit {limit // KIB} KiB: {'ok' if good else r.describe()}")
        return good

    lo, hi = 64 * KIB, 64 * MIB
    if not ok(hi):
        return None, "fails even with a 64 MiB limit"
    if ok(lo):
        return lo, "works at the lower bound (64 KiB); the floor may be lower"
    # Invariant: ok(hi), not ok(lo). Limits stay page aligned.
    while hi - lo > resolution:
        mid = (lo + hi) // 2 // 4096 * 4096
        if mid in (lo, hi):
            break
        if ok(mid):
            hi = mid
        else:
            lo = mid
    # Memory use varies a little from run to run, so near the floor a limit
    # may work once and fail the next time. Report the smallest limit, at or
    # above the bisection's answer, that works 3 times in a row.
    first = hi
    for _ in range(32):
        if ok(hi) and ok(hi):
            break
        hi = min(64 * MIB, hi + resolution)
    else:
        return hi, f"no stable limit found above {first // KIB} KiB (flaky)"
    msg = f"fails at {lo // KIB} KiB"
    if hi != first:
        msg += f"; {first // KIB} KiB worked once but not reliably"
    return hi, msg


# --------------------------------------------------------------------------


def make_bundles(workdir, runtimes, spec_pref):
    """Both bundles come from one runtime's `spec`, so every runtime runs the
    very same config. runc's is the reference; crun's differs only in hostname
    and ociVersion."""
    order = [spec_pref] if spec_pref else ["runc", "crun", "puncker"]
    by_name = {rt.name: rt.path for rt in runtimes}
    for name in order:
        path = by_name.get(name) or shutil.which(name)
        if not path:
            continue
        b_true = os.path.join(workdir, "bundle-true")
        b_sleep = os.path.join(workdir, "bundle-sleep")
        try:
            subprocess.run([MKBUNDLE, b_true, path], check=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL)
            env = dict(os.environ, ARGS='["sleep","1000"]')
            subprocess.run([MKBUNDLE, b_sleep, path], check=True, env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        except subprocess.CalledProcessError:
            log(f"note: could not make the bundle with `{name} spec`")
            continue
        return name, b_true, b_sleep
    raise SystemExit("bench: no runtime could produce a config.json with `spec`")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/bench.sh",
                                description="Side-by-side benchmark of puncker, runc and crun.")
    p.add_argument("--quick", action="store_true",
                   help="5 iterations, 1 warm-up (for CI); fails if puncker cannot do the lifecycle")
    p.add_argument("--iterations", type=int, help="measured iterations (default 100; 5 with --quick)")
    p.add_argument("--warmup", type=int, help="warm-up iterations (default 10; 1 with --quick)")
    p.add_argument("--runtimes", default="puncker,runc,crun",
                   help="comma-separated names, or NAME=PATH (default puncker,runc,crun)")
    p.add_argument("--puncker", default="./target/release/puncker", help="puncker binary")
    p.add_argument("--spec-from", help="runtime whose `spec` makes config.json (default runc, then crun, then puncker)")
    p.add_argument("--no-exec", action="store_true", help="skip the exec measurement")
    p.add_argument("--memory-floor", action="store_true",
                   help="after the timings, bisect the smallest memory limit that runs `echo ok`")
    p.add_argument("--memory-floor-only", action="store_true", help="only the memory-floor check")
    p.add_argument("--memory-resolution", type=int, default=16,
                   help="bisection resolution in KiB (default 16)")
    p.add_argument("--json", help="also write all samples and summaries to this file")
    p.add_argument("--no-wrapper", action="store_true",
                   help="diagnosis only: run without the private mount namespace that hides "
                        "/sys/fs/cgroup/unified (crun fails on hybrid cgroups without it)")
    p.add_argument("--workdir", required=True, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.iterations is None:
        a.iterations = 5 if a.quick else 100
    if a.warmup is None:
        a.warmup = 1 if a.quick else 10
    if a.iterations < 1 or a.warmup < 0:
        p.error("--iterations must be >= 1 and --warmup >= 0")
    a.progress = not a.quick
    return a


def main(argv):
    a = parse_args(argv)
    workdir = a.workdir
    names = [n.strip() for n in a.runtimes.split(",") if n.strip()]
    if not names:
        raise SystemExit("bench: --runtimes is empty")
    runtimes, skipped = resolve_runtimes(names, a.puncker, workdir)
    subject = "puncker" if "puncker" in [n.partition("=")[0] for n in names] else names[0].partition("=")[0]

    # For bench.sh's exit trap, in case this process is killed outright.
    with open(os.path.join(workdir, "runtimes.tsv"), "w") as f:
        for rt in runtimes:
            f.write(f"{rt.name}\t{rt.path}\t{rt.root}\n")

    if subject in skipped:
        log(f"FAILED: {subject} {skipped[subject]}")
        if a.quick or subject == "puncker":
            return 1
    if not runtimes:
        log("bench: no runtime to measure")
        return 1

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        log("note: could not become a child subreaper; container exit codes go unchecked")
    # Turn SIGTERM/SIGHUP into SystemExit so that the finally: below cleans up.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))

    spec_name, b_true, b_sleep = make_bundles(workdir, runtimes, a.spec_from)
    bench = Bench(a, runtimes, workdir, b_true, b_sleep)

    log(f"bench: runtimes: " + ", ".join(f"{rt.name}={rt.path}" for rt in runtimes)
        + (f"; skipped: {', '.join(skipped)}" if skipped else ""))
    log(f"bench: config.json from `{spec_name} spec`, args [\"true\"] / [\"sleep\",\"1000\"]; "
        f"wrapper: {'private mount ns without /sys/fs/cgroup/unified' if not a.no_wrapper else 'NONE (--no-wrapper)'}")
    if not a.memory_floor_only:
        log(f"bench: {a.warmup} warm-up + {a.iterations} iterations")

    status = 0
    mem = {}
    try:
        if not a.memory_floor_only:
            bench.run_all()
            bench.report(subject, skipped)
            lc = bench.data.get("lifecycle", {}).get(subject)
            if lc is None or lc.error or not lc.samples:
                why = lc.error if lc and lc.error else "no samples"
                print(f"\nFAILED: {subject} could not complete the create/start/delete "
                      f"lifecycle: {why}", flush=True)
                status = 1
        if a.memory_floor or a.memory_floor_only:
            print("\nMemory floor: smallest linux.resources.memory.limit under which "
                  "`run` of `echo ok` succeeds (bisection 64 KiB..64 MiB, "
                  f"resolution {a.memory_resolution} KiB)", flush=True)
            for rt in runtimes:
                val, msg = memory_floor(bench, rt, a.memory_resolution * KIB)
                mem[rt.name] = {"bytes": val, "note": msg}
                shown = f"{val // KIB} KiB" if val is not None else "-"
                print(f"  {rt.name:10} {shown:>10}  {msg}", flush=True)
    finally:
        bench.cleanup()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"subject": subject, "spec_from": spec_name,
                       "iterations": a.iterations, "warmup": a.warmup,
                       "runtimes": {rt.name: rt.path for rt in runtimes},
                       "skipped": skipped, "results": bench.as_json(),
                       "memory_floor": mem}, f, indent=1)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
