"""Shared plumbing for the datafleet benchmark drivers in tests/bench/.

Standard library only (runs on any Python 3.9+). What it does:
  * cleanup that always runs (atexit + SIGINT/SIGTERM/SIGHUP), in reverse
    order of registration, and only ever for processes this driver started,
    each by its pid;
  * a stack: a private one (deploy/local/stack on free ports, its own
    DATAFLEET_HOME, 'down --purge' at exit) or the one already named by the
    DATAFLEET_* variables (--stack env);
  * starting datafleet workers and following their partition assignment;
  * following the <prefix>events topic with kcat into a file, counting
    terminal states cheaply while the run goes, parsing it all at the end;
  * /proc readings (VmRSS, VmHWM, CPU time) and percentiles.

Benchmarks print figures; they never assert timing.
"""

import argparse
import atexit
import datetime as _dt
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(BENCH_DIR, "..", ".."))
STACK = os.path.join(REPO, "deploy", "local", "stack")
FREE_PORTS = os.path.join(REPO, "tests", "free-ports")

_T0 = time.monotonic()


def log(msg):
    sys.stderr.write("[%7.2fs] %s\n" % (time.monotonic() - _T0, msg))
    sys.stderr.flush()


def die(msg, code=1):
    log("error: " + msg)
    sys.exit(code)


def now_ms():
    return time.time() * 1000.0


def rand_suffix(n=8):
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


# ---------------------------------------------------------------- cleanup

_cleanups = []
_cleaning = False


def on_exit(fn, what):
    """Register fn() to run at exit (last registered runs first)."""
    _cleanups.append((fn, what))


def run_cleanups():
    global _cleaning
    if _cleaning:
        return
    _cleaning = True
    for p in ALL_PROCS:  # everyone at once first; each is then waited for below
        try:
            p.term()
        except Exception:
            pass
    while _cleanups:
        fn, what = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep going: everything else must stop too
            log("cleanup (%s) failed: %s" % (what, e))


def _on_signal(signum, _frame):
    if _cleaning:  # already stopping: finish that (a half-done 'stack down' would leak servers)
        log("signal %d: already stopping everything; please wait" % signum)
        return
    log("signal %d: stopping everything this benchmark started" % signum)
    # Leave through the normal path so 'finally' blocks and atexit run.
    raise SystemExit(128 + signum)


def install_cleanup():
    atexit.register(run_cleanups)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)


# ---------------------------------------------------------------- processes


ALL_PROCS = []


def live_procs():
    return [p for p in ALL_PROCS if p.alive()]


class Proc:
    """A child process started by this driver, stopped at exit by its pid."""

    def __init__(self, name, argv, logdir, env=None, stdin=None, stdout=None, cwd=None):
        self.name = name
        self.argv = argv
        self.log_path = os.path.join(logdir, name + ".log")
        self._log = open(self.log_path, "ab")
        out = stdout if stdout is not None else self._log
        self.started_ms = now_ms()
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=self._log, env=env,
                                  cwd=cwd, start_new_session=True)
        self.pid = self.p.pid
        self._kids = None
        ALL_PROCS.append(self)
        on_exit(self.stop, "stop " + name)

    def alive(self):
        return self.p.poll() is None

    def tree_pids(self):
        """This process and its descendants (e.g. Celery's prefork children)."""
        return proc_tree(self.pid)

    def term(self):
        """Ask it to stop (SIGTERM) without waiting; stop() waits. Its
        descendants are noted first (with their start times, so a pid reused
        later is never touched). One signal only: a second one would make a
        datafleet program exit at once instead of draining."""
        if getattr(self, "_termed", False):
            return
        self._termed = True
        if self._kids is None:
            self._kids = [(p, proc_start(p)) for p in self.tree_pids() if p != self.pid]
        if self.p.poll() is None:
            try:
                self.p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout=15.0):
        if self.p.poll() is None:
            self.term()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                log("%s (pid %d) did not stop within %.0fs: SIGKILL" % (self.name, self.pid, timeout))
                self.p.kill()
                self.p.wait()
        for k, started in self._kids or []:  # left behind: by pid, never by name
            if pid_alive(k) and proc_start(k) == started:
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._kids = []
        try:
            self._log.close()
        except Exception:
            pass
        return self.p.returncode


def proc_start(pid):
    """A process's start time in clock ticks since boot (None if gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(") ", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st.rsplit(") ", 1)[1][:1] != "Z"


def proc_tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, tid)) as f:
                    todo.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def proc_status_kb(pid, field):
    """VmRSS / VmHWM of a process in kB (None if gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


_CLK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    """User + system CPU seconds of a live process (its own threads)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(") ", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK
    except OSError:
        return None


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


def mb(kb):
    return "n/a" if kb is None else "%.1f MB" % (kb / 1024.0)


# ---------------------------------------------------------------- machine


def machine_info():
    info = {"nproc": os.cpu_count()}
    try:
        info["nproc"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["mem"] = "%.1f GiB" % (int(line.split()[1]) / 1048576.0)
    except OSError:
        pass
    info["kernel"] = os.uname().release
    try:
        info["load"] = "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        pass
    return info


def print_machine():
    m = machine_info()
    print("machine: %s CPU(s), %s, %s, kernel %s, load avg %s at start" % (
        m.get("nproc"), m.get("mem", "?"), m.get("cpu", "?"), m.get("kernel"), m.get("load", "?")))


class CpuWatch:
    """How busy the machine was during a window, and how much of that was
    someone else: benchmarks on a shared machine should say so.

    ours = this driver and the children it waited for (getrusage), the live
    processes it started (with their descendants, e.g. Celery's pool), and
    the private stack's servers (found by their working directory under
    DATAFLEET_HOME). other = all CPU time in /proc/stat minus ours."""

    def __init__(self, procs_fn, stack_home=None):
        self.procs_fn = procs_fn
        self.stack_home = stack_home
        self.t0 = time.monotonic()
        self.busy0 = self._busy()
        self.ours0 = self._ours()

    @staticmethod
    def _busy():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal (guest is in user)
        return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / _CLK

    def _stack_pids(self):
        if not self.stack_home:
            return []
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    if os.readlink("/proc/%s/cwd" % d).startswith(self.stack_home):
                        out.append(int(d))
                except OSError:
                    pass
        return out

    def _ours(self):
        import resource
        r = resource.getrusage(resource.RUSAGE_SELF)
        c = resource.getrusage(resource.RUSAGE_CHILDREN)
        per = {}
        for pr in self.procs_fn():
            for pid in pr.tree_pids():
                per[pid] = (proc_cpu_s(pid) or 0.0, _comm(pid))
        for pid in self._stack_pids():
            per[pid] = (proc_cpu_s(pid) or 0.0, _comm(pid))
        return (r.ru_utime + r.ru_stime, c.ru_utime + c.ru_stime), per

    def stop(self):
        wall = time.monotonic() - self.t0
        busy = self._busy() - self.busy0
        (self1, kids1), per1 = self._ours()
        (self0, kids0), per0 = self.ours0
        by = {"bench driver": self1 - self0, "exited children (submit...)": kids1 - kids0}
        for pid, (v, comm) in per1.items():
            by[comm] = by.get(comm, 0.0) + v - per0.get(pid, (0.0, ""))[0]
        ours = sum(by.values())
        ncpu = machine_info()["nproc"] or 1
        self.result = {
            "wall": wall,
            "busy_pct": 100.0 * busy / (wall * ncpu) if wall else None,
            "other_pct": 100.0 * max(0.0, busy - ours) / (wall * ncpu) if wall else None,
            "by": {k: 100.0 * v / wall for k, v in by.items() if wall and v > 0.005 * wall},
        }
        return self.result

    def line(self, what="the run"):
        r = self.result
        by = ", ".join("%s %.0f%%" % (k, v) for k, v in sorted(r["by"].items(), key=lambda kv: -kv[1]))
        return ("machine CPU during %s (%.1f s): %s%% of all %d CPUs busy, %s%% by processes not ours; "
                "ours in %% of one CPU: %s" % (
                    what, r["wall"], fmt(r["busy_pct"], "", 0), machine_info()["nproc"],
                    fmt(r["other_pct"], "", 0), by))


# ---------------------------------------------------------------- stats


def percentile(sorted_vals, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def fmt(v, unit="", prec=1):
    if v is None:
        return "n/a"
    return ("%." + str(prec) + "f%s") % (v, unit)


def parse_at(s):
    """RFC 3339 (as the fleet writes it, ms and Z) -> epoch ms."""
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return _dt.datetime.fromisoformat(s).timestamp() * 1000.0


# ---------------------------------------------------------------- options


def common_args(parser):
    g = parser.add_argument_group("environment")
    g.add_argument("--build-dir", default=None,
                   help="where datafleet-worker and datafleet-submit are (default: $DF_BUILD_DIR, "
                        "else build/release, else build/dev; build/release is built if none has them)")
    g.add_argument("--stack", choices=("private", "env"), default="private",
                   help="private: start a stack on free ports and stop+purge it at the end "
                        "(default); env: use the stack named by DATAFLEET_KAFKA_BROKERS and "
                        "DATAFLEET_REDIS_URL (e.g. tests/run's), leaving it running")
    g.add_argument("--worker-args", default=None, metavar="'ARGS'",
                   help="extra datafleet-worker flags for every worker of the measured load, one "
                        "shell-quoted string (experiments: e.g. '--types export' or "
                        "'--kafka-props fetch.wait.max.ms=100')")
    g.add_argument("--keep-logs", action="store_true",
                   help="keep the run directory (process logs, events) even when all went well")
    g.add_argument("--timeout", type=float, default=300.0,
                   help="seconds to wait for all tasks to end before reporting what did (default 300)")
    g.add_argument("--warmup", type=int, default=None, metavar="N",
                   help="first run N noop tasks on a throwaway prefix so a fresh broker's JIT is warm "
                        "(default 20000; --quick 0)")
    g.add_argument("--quick", action="store_true",
                   help="a small load for a CI smoke run (< 30 s with a private stack); "
                        "still prints every figure")


def find_build_dir(arg):
    cands = [arg] if arg else [os.environ.get("DF_BUILD_DIR"), os.path.join(REPO, "build", "release"),
                               os.path.join(REPO, "build", "dev")]
    for d in cands:
        if d and all(os.access(os.path.join(d, b), os.X_OK)
                     for b in ("datafleet-worker", "datafleet-submit")):
            return os.path.abspath(d)
    if arg:
        die("--build-dir %s has no datafleet-worker and datafleet-submit" % arg, 2)
    log("no built programs found: building the release preset (worker and submit only)")
    subprocess.run(["cmake", "--preset", "release"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", "--preset", "release", "--target", "datafleet-worker",
                    "datafleet-submit"], cwd=REPO, check=True)
    return os.path.join(REPO, "build", "release")


class RunDir:
    """Where logs and event dumps go; removed at exit unless kept."""

    def __init__(self, name, keep):
        base = os.path.join(REPO, "build", "bench-runs")
        os.makedirs(base, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix=name + "-" + time.strftime("%Y%m%dT%H%M%S-"), dir=base)
        self.keep = keep
        self.ok = False
        on_exit(self._done, "run directory")

    def _done(self):
        if self.keep or not self.ok:
            log("logs kept in %s" % self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)

    def file(self, name):
        return os.path.join(self.path, name)


# ---------------------------------------------------------------- stack


class Stack:
    def __init__(self, mode, rundir):
        self.mode = mode
        self.env = dict(os.environ)
        self.home = None
        if mode == "env":
            for v in ("DATAFLEET_KAFKA_BROKERS", "DATAFLEET_REDIS_URL"):
                if not os.environ.get(v):
                    die("--stack env needs %s (eval \"$(deploy/local/stack env)\")" % v, 2)
            return
        ports = subprocess.run([FREE_PORTS, "4"], check=True, capture_output=True,
                               text=True).stdout.split()
        home = tempfile.mkdtemp(prefix="df-bench.", dir="/tmp")
        os.chmod(home, 0o755)  # PostgreSQL runs as 'postgres' when we are root
        self.env.update({
            "DATAFLEET_HOME": home,
            "DATAFLEET_KAFKA_PORT": ports[0],
            "DATAFLEET_KAFKA_CONTROLLER_PORT": ports[1],
            "DATAFLEET_REDIS_PORT": ports[2],
            "DATAFLEET_PG_PORT": ports[3],
        })
        self.home = home
        on_exit(self._down, "stack down")
        log("starting a private stack in %s (kafka %s, redis %s, postgres %s)" % (
            home, ports[0], ports[2], ports[3]))
        with open(rundir.file("stack.log"), "ab") as out:
            r = subprocess.run([STACK, "up"], env=self.env, stdout=out, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            sys.stderr.write(open(rundir.file("stack.log")).read()[-3000:])
            die("deploy/local/stack up failed (log above)")
        envline = subprocess.run([STACK, "env"], env=self.env, check=True, capture_output=True,
                                 text=True).stdout
        for m in re.finditer(r"(DATAFLEET_[A-Z_]+)=(\S+)", envline):
            self.env[m.group(1)] = m.group(2)

    def _down(self):
        log("stopping the private stack (down --purge)")
        # Its own session: a Ctrl-C at the terminal must not cut it short.
        subprocess.run([STACK, "down", "--purge"], env=self.env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, start_new_session=True)
        shutil.rmtree(self.home, ignore_errors=True)

    @property
    def brokers(self):
        return self.env["DATAFLEET_KAFKA_BROKERS"]

    @property
    def redis_url(self):
        return self.env["DATAFLEET_REDIS_URL"]


# ---------------------------------------------------------------- datafleet


class Fleet:
    """The datafleet programs of one run, all on one fresh topic prefix."""

    def __init__(self, build_dir, stack, rundir, partitions=12, prefix=None, worker_args=None,
                 label=""):
        self.label = label
        self.bin = build_dir
        self.worker_args = shlex.split(worker_args) if worker_args else []
        self.stack = stack
        self.rundir = rundir
        self.partitions = partitions
        tag = rand_suffix()
        self.prefix = prefix or "bench%s%s." % (label, tag)
        self.group = "bench-%s" % tag
        self.workers = []
        self.env = dict(stack.env)
        for v in ("DATAFLEET_TOPIC_PREFIX", "DATAFLEET_PARTITIONS", "DATAFLEET_GROUP",
                  "DATAFLEET_KAFKA_PROPS", "DATAFLEET_CONCURRENCY", "DATAFLEET_WORKER_ID"):
            self.env.pop(v, None)

    def common_flags(self):
        return ["--topic-prefix", self.prefix, "--partitions", str(self.partitions)]

    def submit_argv(self, src="-"):
        return [os.path.join(self.bin, "datafleet-submit"), "--ndjson", src] + self.common_flags()

    def create_topics(self):
        """Create the prefix's topics (an empty submit does), so nothing
        timed later pays for it and kcat can follow the events topic."""
        r = subprocess.run(self.submit_argv("/dev/null"), env=self.env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stderr)
            die("datafleet-submit could not create the topics (exit %d)" % r.returncode)

    def submit_file(self, path, name="submit"):
        """Submit an NDJSON file; returns (accepted, wall seconds, exit code)."""
        name = self.label + name
        ids = self.rundir.file(name + ".ids")
        with open(path, "rb") as inp, open(ids, "wb") as out:
            t0 = time.monotonic()
            p = Proc(name, self.submit_argv("-"), self.rundir.path, env=self.env, stdin=inp, stdout=out)
            rc = p.p.wait()
            wall = time.monotonic() - t0
        with open(ids, "rb") as f:
            accepted = sum(1 for _ in f)
        if rc != 0:
            log("%s exited %d (see %s)" % (name, rc, p.log_path))
        return accepted, wall, rc

    def start_worker(self, index, concurrency, extra=()):
        wid = "%sw%d" % (self.prefix, index)
        argv = [os.path.join(self.bin, "datafleet-worker"), "--concurrency", str(concurrency),
                "--worker-id", wid, "--group", self.group] + self.common_flags() + list(extra)
        argv += self.worker_args
        w = Proc("%sworker%d" % (self.label, index), argv, self.rundir.path, env=self.env)
        self.workers.append(w)
        return w

    def assigned_partitions(self, w):
        """Partitions a worker holds, from its log (assigned - revoked - lost)."""
        n = 0
        try:
            with open(w.log_path, errors="replace") as f:
                for line in f:
                    m = re.search(r'"msg":"rebalance: (assigned|revoked|lost) (\d+) partition', line)
                    if m:
                        n += int(m.group(2)) * (1 if m.group(1) == "assigned" else -1)
        except OSError:
            pass
        return n

    def n_types(self):
        a = self.worker_args
        for i, x in enumerate(a):
            if x == "--types" and i + 1 < len(a):
                return len([t for t in a[i + 1].split(",") if t])
            if x.startswith("--types="):
                return len([t for t in x[8:].split(",") if t])
        return 3

    def wait_assigned(self, timeout=60.0):
        """Wait until the workers together hold every task partition."""
        want = self.n_types() * self.partitions
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for w in self.workers:
                if not w.alive():
                    die("%s exited %s during start-up; its log:\n%s" % (
                        w.name, w.p.returncode, tail(w.log_path)))
            held = [self.assigned_partitions(w) for w in self.workers]
            if sum(held) >= want and (len(self.workers) == 1 or all(h > 0 for h in held)):
                return held
            time.sleep(0.1)
        log("warning: workers hold %s of %d partitions after %.0fs; going on" % (
            [self.assigned_partitions(w) for w in self.workers], want, timeout))
        return None

    def early_exits(self):
        """Workers that died before the benchmark stopped them, with their log's end."""
        return ["%s exited %s before the end; last log lines:\n%s" % (
            w.name, w.p.returncode, tail(w.log_path, 8)) for w in self.workers if not w.alive()]

    def stop_workers(self):
        for w in self.workers:
            w.term()
        for w in self.workers:
            rc = w.stop(timeout=40.0)
            if rc not in (0, None):
                log("warning: %s exited %s (see %s)" % (w.name, rc, w.log_path))

    def worker_log_problems(self, limit=8):
        """warn/error lines from the workers' logs, for the report."""
        out = []
        for w in self.workers:
            try:
                with open(w.log_path, errors="replace") as f:
                    for line in f:
                        if '"level":"warn"' in line or '"level":"error"' in line:
                            out.append("%s: %s" % (w.name, line.rstrip()[:300]))
            except OSError:
                pass
        return out[:limit], len(out)


def warm_up(build_dir, stack, rundir, n, timeout=180.0):
    """Run n noop tasks through two workers on a throwaway prefix first, so
    a freshly started broker (JVM JIT), Redis and page cache are warm when
    the measured load comes. Returns the seconds it took."""
    if n <= 0:
        return 0.0
    t0 = time.monotonic()
    f = Fleet(build_dir, stack, rundir, label="warmup")
    log("warm-up: %d tasks on %s" % (n, f.prefix))
    src = rundir.file("warmup.ndjson")
    with open(src, "w") as out:
        out.write((noop_line(0, "warmup") + "\n") * n)
    f.create_topics()
    ev = EventTail(f, "warmup-events")
    for i in range(2):
        f.start_worker(i + 1, 64)
    f.wait_assigned()
    acc, _wall, _rc = f.submit_file(src, "submit")
    if not ev.wait_terminal(acc, timeout, f.workers):
        log("warning: warm-up tasks did not all end (%d of %d)" % (ev.terminal(), acc))
    f.stop_workers()
    ev.stop()
    return time.monotonic() - t0


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


class EventTail:
    """kcat following <prefix>events from the beginning into a file. While
    the run goes, only terminal states are counted (a byte count on whole
    lines: cheap, so the measurement takes little CPU from the fleet)."""

    TERMINAL = (b'"state":"succeeded"', b'"state":"failed"', b'"state":"dead"',
                b'"state":"cancelled"')

    def __init__(self, fleet, name="events"):
        if not shutil.which("kcat"):
            die("kcat not found (Debian package kcat)", 1)
        self.path = fleet.rundir.file(name + ".ndjson")
        self._out = open(self.path, "wb")
        argv = ["kcat", "-C", "-q", "-u", "-b", fleet.stack.brokers, "-t", fleet.prefix + "events",
                "-o", "beginning", "-f", "%s\n",
                # Few, large fetches: the measurement must take little from
                # the broker (times come from the events, not from kcat).
                "-X", "fetch.wait.max.ms=200", "-X", "fetch.min.bytes=1000000"]
        self.proc = Proc("kcat-" + name, argv, fleet.rundir.path, env=fleet.env, stdout=self._out)
        self._rd = open(self.path, "rb")
        self._rest = b""
        self.counts = {s: 0 for s in self.TERMINAL}

    def poll(self):
        chunk = self._rd.read()
        if chunk:
            data = self._rest + chunk
            cut = data.rfind(b"\n") + 1
            whole, self._rest = data[:cut], data[cut:]
            for s in self.TERMINAL:
                self.counts[s] += whole.count(s)
        return self.terminal()

    def terminal(self):
        return sum(self.counts.values())

    def succeeded(self):
        return self.counts[self.TERMINAL[0]]

    def wait_terminal(self, n, timeout, proc_check=()):
        """Wait until at least n terminal events are in; False on timeout."""
        deadline = time.monotonic() + timeout
        last, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            got = self.poll()
            if got >= n:
                return True
            if got != last:
                last, last_change = got, time.monotonic()
            elif time.monotonic() - last_change > 15:
                log("  %d of %d tasks ended; no progress for %.0fs" % (
                    got, n, time.monotonic() - last_change))
                last_change = time.monotonic()
            for p in proc_check:
                if not p.alive():
                    log("warning: %s exited %s while tasks were pending" % (p.name, p.p.returncode))
                    return False
            time.sleep(0.05)
        return False

    def stop(self):
        time.sleep(0.3)  # let kcat write what it has
        self.proc.stop(timeout=5)
        self._out.close()

    def events(self):
        """All events, in stream order per partition, with 'ms' and 'pos'."""
        out = []
        with open(self.path, "rb") as f:
            for pos, line in enumerate(f):
                line = line.strip()
                if not line:
                    continue
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                e["ms"] = parse_at(e["at"])
                e["pos"] = pos
                out.append(e)
        return out


class Tasks:
    """Per-task view of an event list: queued/running/terminal times."""

    def __init__(self, events):
        self.t = {}
        self.runs = 0
        self.duplicate_runs = 0
        for e in events:
            d = self.t.setdefault(e["task_id"], {})
            st = e["state"]
            if st == "queued":
                task = e.get("task") or {}
                d["queued"] = e["ms"]
                d["task"] = task
                sub = task.get("submitted_at")
                d["submitted"] = parse_at(sub) if sub else e["ms"]
            elif st == "running":
                self.runs += 1
                if "running" in d:
                    self.duplicate_runs += 1
                    continue
                d["running"] = e["ms"]
                d["running_pos"] = e["pos"]
                d["worker"] = e.get("worker")
            elif st in ("succeeded", "failed", "dead", "cancelled"):
                if "end" in d:
                    continue
                d["end"] = e["ms"]
                d["end_pos"] = e["pos"]
                d["state"] = st

    def select(self, label_value, label="bench"):
        return {k: v for k, v in self.t.items()
                if (v.get("task", {}).get("labels") or {}).get(label) == label_value}


def per_worker(tasks):
    """'w1 25000, w2 25000': which worker ran how many of these tasks."""
    c = {}
    for v in tasks.values():
        w = v.get("worker")
        if w:
            w = w.rsplit(".", 1)[-1]
            c[w] = c.get(w, 0) + 1
    return ", ".join("%s %d" % kv for kv in sorted(c.items())) or "none"


def states(tasks):
    c = {}
    for v in tasks.values():
        s = v.get("state", "unfinished")
        c[s] = c.get(s, 0) + 1
    return c


# ---------------------------------------------------------------- RESP (Redis)


class Redis:
    """A minimal Redis client (RESP2), enough for LLEN/HLEN/DEL/FLUSHDB."""

    def __init__(self, url, db=None):
        m = re.match(r"redis://(?:[^@]*@)?([^:/]+)(?::(\d+))?(?:/(\d+))?", url)
        if not m:
            die("cannot parse Redis URL %s" % url, 2)
        self.addr = (m.group(1), int(m.group(2) or 6379))
        self.db = db if db is not None else int(m.group(3) or 0)
        self.s = socket.create_connection(self.addr, timeout=10)
        self.f = self.s.makefile("rb")
        if self.db:
            self.cmd("SELECT", str(self.db))

    @staticmethod
    def _encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def cmd(self, *args):
        self.s.sendall(self._encode(args))
        return self._read()

    def pipeline(self, *cmds):
        """Several commands in one round trip; their replies in order."""
        self.s.sendall(b"".join(self._encode(c) for c in cmds))
        return [self._read() for _ in cmds]

    def _read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError("bad RESP reply %r" % line)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def noop_line(sleep_ms, label, extra=None):
    task = {"type": "export", "connector": "noop", "params": {"sleep_ms": sleep_ms},
            "labels": {"bench": label}}
    if extra:
        task.update(extra)
    return json.dumps(task, separators=(",", ":"))


def parser(prog, description, epilog):
    p = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    return p


# ---------------------------------------------------------------- PostgreSQL (psql)


def redact_url(url):
    """A libpq URL with its password replaced, for printing."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url or "")


def psql_argv(url, *extra):
    """psql with no ~/.psqlrc, quiet, stopping at the first error."""
    return ["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1"] + list(extra)


def psql(url, sql, env=None, what=None):
    """Run sql (one -c string) through psql; returns (stdout, wall seconds).
    Dies naming what failed, with psql's own message."""
    if not shutil.which("psql"):
        die("psql not found (Debian package postgresql-client)", 1)
    t0 = time.monotonic()
    r = subprocess.run(psql_argv(url, "-At", "-c", sql), env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        die("psql failed (%s, exit %d): %s" % (what or sql[:80], r.returncode, r.stderr.strip()))
    return r.stdout, wall


# ---------------------------------------------------------------- datafleet-sandbox


def find_sandbox(build_dir):
    """The datafleet-sandbox binary: <build>/tools, else build/dev or
    build/release (it is built with the test suite, not installed). None
    when none is built."""
    for d in (build_dir, os.path.join(REPO, "build", "dev"), os.path.join(REPO, "build", "release")):
        b = os.path.join(d, "tools", "datafleet-sandbox") if d else None
        if b and os.access(b, os.X_OK):
            return b
    return None


class Sandbox:
    """A datafleet-sandbox on a free loopback port (docs/SANDBOX.md),
    stopped at exit like every Proc. call() speaks its JSON control API
    (and any other route) with urllib."""

    def __init__(self, binary, rundir, args=(), name="sandbox", env=None, timeout=15.0):
        import urllib.request  # noqa: F401 (imported here: only drivers with a sandbox need it)
        self.out_path = rundir.file(name + ".out")
        self._out = open(self.out_path, "wb")
        self.proc = Proc(name, [binary, "--port", "0"] + list(args), rundir.path, env=env,
                         stdout=self._out)
        self.url = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.url is None:
            if not self.proc.alive():
                die("datafleet-sandbox exited %s at start; its log:\n%s" % (
                    self.proc.p.returncode, tail(self.proc.log_path)))
            try:
                with open(self.out_path) as f:
                    first = f.readline()
                if first.endswith("\n"):
                    self.url = json.loads(first)["listening"]
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        if self.url is None:
            die("datafleet-sandbox printed no address within %.0fs" % timeout)

    def call(self, method, path, body=None, timeout=60.0):
        """(HTTP status, decoded JSON body or text or None)."""
        import urllib.error
        import urllib.request
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def must(self, method, path, body=None, ok=(200, 201)):
        status, doc = self.call(method, path, body)
        if status not in ok:
            die("sandbox %s %s: HTTP %d: %s" % (method, path, status, doc))
        return doc


# ---------------------------------------------------------------- more process helpers


def stop_gracefully(procs, timeout=40.0):
    """Stop processes with ONE SIGTERM each and wait for them (a second
    signal makes a datafleet program exit at once, exit 143, without its
    graceful shutdown); SIGKILL only after timeout. Returns exit codes."""
    for p in procs:
        if p.alive():
            try:
                p.p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log("%s (pid %d) did not stop within %.0fs of SIGTERM" % (p.name, p.pid, timeout))
    return [p.stop(timeout=5.0) for p in procs]


class SampledCpuWatch(CpuWatch):
    """A CpuWatch that also reads, every interval seconds, the CPU time of
    the private stack's server processes and their descendants, so a
    process that ended inside the window still counts as ours with its last
    reading: a PostgreSQL backend lives only as long as its connection, and
    CpuWatch alone would book its work (a COPY, the query an export
    streams) as 'other'. Sampling is cheap: /proc is scanned for the stack's
    servers once, at the start; then only the children of their main
    threads are followed (PostgreSQL forks its backends from there), and a
    process's name is read once."""

    def __init__(self, procs_fn, stack_home=None, interval=0.2):
        import threading
        self._seen = {}
        self._lock = threading.Lock()
        self._halt = threading.Event()
        CpuWatch.__init__(self, procs_fn, stack_home)
        self._roots = CpuWatch._stack_pids(self)
        self._thread = threading.Thread(target=self._loop, args=(interval,), daemon=True)
        self._thread.start()

    @staticmethod
    def _main_children(pid):
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def _loop(self, interval):
        while not self._halt.wait(interval):
            todo = list(self._roots)
            while todo:
                pid = todo.pop()
                todo.extend(self._main_children(pid))
                v = proc_cpu_s(pid)
                if v is None:
                    continue
                with self._lock:
                    old_v, comm = self._seen.get(pid, (0.0, None))
                    if comm is None or comm == "?":
                        comm = _comm(pid)
                    if v >= old_v:
                        self._seen[pid] = (v, comm)

    def _ours(self):
        totals, per = CpuWatch._ours(self)
        with self._lock:
            for pid, (v, comm) in self._seen.items():
                if pid not in per:  # ended since it was last seen: its last reading
                    per[pid] = (v, comm)
                elif per[pid][1] == "?":
                    per[pid] = (per[pid][0], comm)
        return totals, per

    def stop(self):
        self._halt.set()
        self._thread.join()
        return CpuWatch.stop(self)
