"""The apps suite's workloads: real servers (and a build, and Docker's own operations) in
containers, each result checked for correctness.

An App opens one container per runner (a server, or an idle container), then is asked for one
round at a time; a round returns a Result per row (redis gives three rows: SET, GET,
LRANGE_100) or raises CheckError / LoadError / DockerError, which fail the round's rows for that
runner. A sandbox that breaks the app shows as a failed row, never as a fast number:

  redis       a value of our own SET and read back before and after the load; the benchmark's
              own key and list read back; redis-benchmark reports no error
  nginx       both files fetched and compared byte for byte before and after; ab counts every
              response of another length, or not 2xx, as failed, and any failure fails the row
  postgres    pgbench reports 0 failed transactions; TPC-B's invariant holds afterwards (the
              accounts', tellers' and branches' balances sum to the same total, which moved by
              exactly the sum of this run's history), and the history has one row per
              transaction pgbench counted
  python-web  responses recomputed here (files/pyweb.py) and compared; ab as for nginx
  build       make -j2 of Lua exits 0, the built interpreter computes what it must, and the
              binaries are bit-identical to the ones built under runc
  docker-*    every `docker exec` / `docker run` exits 0
  density     every container is running when it is measured
"""
from __future__ import annotations

import hashlib
import http.client
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench.apps import image as img
from bench.apps import loadgen as lg
from bench.apps import procs as pr
from bench.apps.docker import DENSITY_LIMITS, REFERENCE, AppRunner, Docker, DockerError, wait_ready
from bench.apps.loadgen import LoadError, Result
from bench.apps.resp import Redis, RespError

HOST = "127.0.0.1"      # every server listens on the loopback only (--network host)


class CheckError(RuntimeError):
    """The app answered wrongly: the sandbox broke it."""


@dataclass
class Row:
    name: str
    title: str
    unit: str
    higher_is_better: bool = True
    cpu_unit: str = ""      # the CPU-time table's unit for this row ("" : no CPU column)


@dataclass
class Ctx:
    """What an app needs from the harness run."""
    docker: Docker
    image: str
    work: Path
    quick: bool = False
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run
    proc: pr.Proc = field(default_factory=pr.Proc)
    tools: dict[str, str] = field(default_factory=dict)
    references: dict[str, list[str]] = field(default_factory=dict)   # runc's outputs

    def size(self, quick, full):
        return quick if self.quick else full

    def tool(self, name: str) -> str:
        path = self.tools.get(name) or shutil.which(name)
        if not path:
            raise LoadError(f"{name} is not installed on the host: apt-get install -y "
                            f"{lg.TOOLS.get(name, name)}")
        return path

    def load(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        """Run a load generator; a timeout or a non-zero exit is a LoadError."""
        try:
            r = self.run(argv, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise LoadError(f"{Path(argv[0]).name} timed out after {timeout:.0f} s") from None
        if r.returncode != 0:
            err = (r.stderr or b"").decode(errors="replace").strip() or \
                  (r.stdout or b"").decode(errors="replace").strip()
            raise LoadError(f"{Path(argv[0]).name} exited {r.returncode}: {err[-200:]}")
        return r


@dataclass
class Handle:
    runner: AppRunner
    cid: str | None = None
    port: int = 0
    state: dict = field(default_factory=dict)


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's choice), for a host-network server."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def tcp_probe(port: int) -> str | None:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return None
    except OSError as e:
        return f"connect to {HOST}:{port}: {e.strerror or e}"


class App:
    name = ""
    title = ""
    rows: tuple[Row, ...] = ()
    runners: str = "all"          # "all" or "density" (runc, runsc, lxbrand, lxbrand-limits)
    server = True                 # a server container per runner, hit by a load generator
    warmup = True                 # a short round first, checked, not counted
    tools: tuple[str, ...] = ()   # load generators it needs on the host
    ready_timeout = 120.0         # gVisor on ptrace starts postgres in tens of seconds

    def applies(self, runner: AppRunner) -> bool:
        return self.runners == "all" or runner.density

    def open(self, runner: AppRunner, ctx: Ctx) -> Handle:
        """Start the app's container for RUNNER (not waiting for it)."""
        h = Handle(runner)
        if self.server:
            h.port = free_port()
            h.cid = ctx.docker.start(runner, ctx.image, ["lxbench-start", self.name,
                                                         str(h.port)],
                                     f"lxbench-{self.name}-{runner.name}-{os.getpid()}")
        return h

    def ready(self, h: Handle, ctx: Ctx) -> None:
        """Wait until the app answers, then prepare it (not timed)."""
        if h.cid:
            wait_ready(ctx.docker, h.cid, lambda: self.probe(h), self.ready_timeout)
            h.state["members"] = lambda: ctx.proc.members(h.cid, ctx.docker.pid(h.cid))

    def probe(self, h: Handle) -> str | None:
        return tcp_probe(h.port)

    def round(self, h: Handle, ctx: Ctx, warmup: bool) -> dict[str, Result]:
        raise NotImplementedError

    def close(self, h: Handle, ctx: Ctx) -> None:
        if h.cid:
            ctx.docker.remove(h.runner, h.cid)

    def cpu(self, h: Handle, ctx: Ctx, fn: Callable[[], Result]) -> tuple[Result, float | None]:
        """FN's result and the CPU seconds the container's processes spent during it."""
        members = h.state.get("members")
        if not members:
            return fn(), None
        before = pr.cpu_total(ctx.proc, members())
        res = fn()
        return res, pr.cpu_delta(before, pr.cpu_total(ctx.proc, members()))


def _per_request(res: Result, cpu: float | None, count: float) -> Result:
    if cpu is not None and count > 0:
        res.extra["cpu_us_per_op"] = cpu / count * 1e6
    return res


# --- redis ------------------------------------------------------------------------------------

class RedisApp(App):
    name, title = "redis", "redis-server 7, redis-benchmark -c 50 (requests/s)"
    rows = (Row("redis-set", "redis SET", "req/s", cpu_unit="µs/req"),
            Row("redis-get", "redis GET", "req/s", cpu_unit="µs/req"),
            Row("redis-lrange", "redis LRANGE_100 (LPUSH to fill it counted in CPU)", "req/s",
                cpu_unit="µs/req"))
    DATA_SIZE = 3            # redis-benchmark's default -d, passed explicitly
    tools = ("redis-benchmark",)

    def probe(self, h):
        try:
            with Redis(HOST, h.port, timeout=2) as r:
                return None if r.call("PING") == b"PONG" else "PING not answered PONG"
        except (OSError, RespError) as e:
            return f"redis PING: {e}"

    def _check(self, h: Handle, after: bool) -> None:
        key = f"lxbench:check:{h.runner.name}".encode()
        try:
            with Redis(HOST, h.port) as r:
                if not after:
                    h.state["value"] = os.urandom(48) + b"\r\n\0 end"
                    if r.call("SET", key, h.state["value"]) != b"OK":
                        raise CheckError("redis: SET did not answer OK")
                got = r.call("GET", key)
                if got != h.state["value"]:
                    raise CheckError(f"redis: GET returned {got!r:.60}, not what SET stored")
                if after:
                    # redis-benchmark's own writes: SET key:__rand_int__ and LPUSH mylist of
                    # the same -d DATA_SIZE-byte value (its content is redis-benchmark's choice)
                    value = r.call("GET", "key:__rand_int__")
                    if value is None or len(value) != self.DATA_SIZE:
                        raise CheckError(f"redis: the benchmark's SET value reads back as "
                                         f"{value!r:.40}, not {self.DATA_SIZE} bytes")
                    if r.call("LRANGE", "mylist", 0, 2) != [value] * 3:
                        raise CheckError("redis: the benchmark's list does not read back")
        except (OSError, RespError) as e:
            raise CheckError(f"redis: {e}") from None

    def round(self, h, ctx, warmup):
        self._check(h, after=False)
        n = ctx.size(10_000, 50_000) if not warmup else 5_000
        out = {}
        for row, test in zip(self.rows, ("set", "get", "lrange_100")):
            def bench():
                r = ctx.load([ctx.tool("redis-benchmark"), "-h", HOST, "-p", str(h.port),
                              "-c", "50", "-n", str(n), "-d", str(self.DATA_SIZE), "-t", test,
                              "--csv"], timeout=300)
                res = lg.parse_redis_csv(r.stdout.decode(errors="replace"),
                                         (test.upper(),))[test.upper()]
                if r.stderr.strip():
                    raise LoadError("redis-benchmark: " + r.stderr.decode(errors="replace")
                                    .strip().splitlines()[-1][:200])
                return res
            res, cpu = self.cpu(h, ctx, bench)
            out[row.name] = _per_request(res, cpu, n * (2 if test == "lrange_100" else 1))
        self._check(h, after=True)
        return out


# --- nginx / ab -------------------------------------------------------------------------------

def http_get(port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def ab(ctx: Ctx, port: int, path: str, conc: int, seconds: int, length: int) -> Result:
    """ab for SECONDS (-t, whole seconds; -n after it lifts ab's implied 50000-request cap) at
    CONC connections, no keep-alive (each request a new connection, as ab does by default)."""
    with tempfile.NamedTemporaryFile(dir=ctx.work, suffix=".csv") as pct:
        r = ctx.load([ctx.tool("ab"), "-q", "-t", str(int(seconds)), "-n", "10000000",
                      "-c", str(conc), "-s", "10", "-e", pct.name,
                      f"http://{HOST}:{port}{path}"], timeout=seconds * 4 + 60)
        return lg.parse_ab(r.stdout.decode(errors="replace"), Path(pct.name).read_text(),
                           length)


class NginxApp(App):
    name, title = "nginx", "nginx (2 workers), ab without keep-alive (requests/s)"
    CASES = (("4k.bin", 1), ("4k.bin", 16), ("1m.bin", 1), ("1m.bin", 16))
    rows = tuple(Row(f"nginx-{f.split('.')[0]}-c{c}",
                     f"nginx {f.split('.')[0].upper().replace('K', ' KiB').replace('M', ' MiB')}"
                     f" file, {c} connection{'s' if c > 1 else ''}", "req/s", cpu_unit="µs/req")
                 for f, c in CASES)
    tools = ("ab",)

    def probe(self, h):
        # Up once it answers HTTP at all: whether the answer is right is the round's check.
        try:
            http_get(h.port, "/4k.bin", timeout=2)
            return None
        except (OSError, http.client.HTTPException) as e:
            return f"GET /4k.bin: {e}"

    def _check(self, h: Handle) -> None:
        for name in img.WWW:
            try:
                status, body = http_get(h.port, f"/{name}")
            except (OSError, http.client.HTTPException) as e:
                raise CheckError(f"nginx: GET /{name}: {e}") from None
            if status != 200 or body != img.www_bytes(name):
                raise CheckError(f"nginx: GET /{name}: HTTP {status}, {len(body)} bytes, "
                                 "not the file's bytes")

    def round(self, h, ctx, warmup):
        self._check(h)
        secs = 1 if warmup else ctx.size(1, 5)
        out = {}
        for row, (f, c) in zip(self.rows, self.CASES):
            res, cpu = self.cpu(h, ctx, lambda: ab(ctx, h.port, f"/{f}", c, secs, img.WWW[f]))
            out[row.name] = _per_request(res, cpu, res.extra["requests"])
        self._check(h)
        return out


# --- python-web -------------------------------------------------------------------------------

def _pyweb():
    spec = importlib.util.spec_from_file_location("lxbench_pyweb", img.FILES / "pyweb.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pyweb_body(n: int) -> bytes:
    """What the app must answer for /item?n=N (the app's own function, run here)."""
    return _pyweb().body(n)


class PyWebApp(App):
    name, title = "python-web", "gunicorn (2 sync workers), a WSGI app, ab -c 16 (requests/s)"
    rows = (Row("python-web", "python WSGI app (gunicorn, 2 workers), 16 connections",
                "req/s", cpu_unit="µs/req"),)
    N = 4242
    tools = ("ab",)

    def probe(self, h):
        try:
            http_get(h.port, f"/item?n={self.N}", timeout=2)
            return None
        except (OSError, http.client.HTTPException) as e:
            return f"GET /item: {e}"

    def _check(self, h: Handle) -> None:
        for n in (self.N, 7, 123456):
            try:
                status, body = http_get(h.port, f"/item?n={n}")
            except (OSError, http.client.HTTPException) as e:
                raise CheckError(f"python-web: GET /item?n={n}: {e}") from None
            if status != 200 or body != pyweb_body(n):
                raise CheckError(f"python-web: GET /item?n={n}: HTTP {status}, "
                                 f"{body[:60]!r}: not the app's answer")

    def round(self, h, ctx, warmup):
        self._check(h)
        secs = 1 if warmup else ctx.size(2, 8)
        res, cpu = self.cpu(h, ctx, lambda: ab(ctx, h.port, f"/item?n={self.N}", 16, secs,
                                               len(pyweb_body(self.N))))
        self._check(h)
        return {"python-web": _per_request(res, cpu, res.extra["requests"])}


# --- postgres ---------------------------------------------------------------------------------

TPCB_SUMS = ("select (select sum(abalance) from pgbench_accounts), "
             "(select sum(tbalance) from pgbench_tellers), "
             "(select sum(bbalance) from pgbench_branches), "
             "(select coalesce(sum(delta), 0) from pgbench_history), "
             "(select count(*) from pgbench_history)")


class PostgresApp(App):
    name, title = "postgres", "PostgreSQL 15, pgbench TPC-B-like, 8 clients (tps)"
    rows = (Row("postgres", "postgres pgbench TPC-B-like, 8 clients", "tps",
                cpu_unit="µs/txn"),)
    ready_timeout = 300.0
    tools = ("pgbench", "psql", "pg_isready")

    def _psql(self, ctx: Ctx, h: Handle, sql: str) -> str:
        r = ctx.load([ctx.tool("psql"), "-h", HOST, "-p", str(h.port), "-U", "postgres",
                      "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql, "postgres"],
                     timeout=300)
        return r.stdout.decode(errors="replace").strip()

    def probe(self, h):
        try:
            with socket.create_connection((HOST, h.port), timeout=1):
                pass
        except OSError as e:
            return f"connect to {HOST}:{h.port}: {e}"
        r = subprocess.run([shutil.which("pg_isready") or "pg_isready", "-h", HOST,
                            "-p", str(h.port), "-U", "postgres"], capture_output=True,
                           timeout=10, check=False)
        return None if r.returncode == 0 else f"pg_isready: {r.stdout.decode().strip()}"

    def ready(self, h, ctx):
        super().ready(h, ctx)
        scale = ctx.size(2, 10)
        ctx.load([ctx.tool("pgbench"), "-h", HOST, "-p", str(h.port), "-U", "postgres",
                  "-i", "-q", "-s", str(scale), "postgres"], timeout=900)
        self._psql(ctx, h, "checkpoint")
        h.state["total"] = self._sums(ctx, h)[0]

    def _sums(self, ctx: Ctx, h: Handle) -> tuple[int, int, int]:
        text = self._psql(ctx, h, TPCB_SUMS)
        try:
            acc, tel, br, hist, count = (int(x) for x in text.split("|"))
        except ValueError:
            raise CheckError(f"postgres: unreadable balances {text!r:.100}") from None
        if not acc == tel == br:
            raise CheckError(f"postgres: TPC-B invariant broken: accounts {acc}, tellers {tel},"
                             f" branches {br}")
        return acc, hist, count

    def round(self, h, ctx, warmup):
        secs = 2 if warmup else ctx.size(5, 30)
        logdir = Path(tempfile.mkdtemp(dir=ctx.work, prefix="pgbench-"))
        try:
            def bench():
                r = ctx.load([ctx.tool("pgbench"), "-h", HOST, "-p", str(h.port), "-U",
                              "postgres", "-c", "8", "-j", "2", "-T", str(secs), "-l",
                              "--log-prefix", str(logdir / "txn"), "postgres"],
                             timeout=secs * 10 + 120)
                lines = [ln for f in sorted(logdir.iterdir())
                         for ln in f.read_text().splitlines()]
                return lg.parse_pgbench(r.stdout.decode(errors="replace"), lines)
            res, cpu = self.cpu(h, ctx, bench)
        finally:
            shutil.rmtree(logdir, ignore_errors=True)
        total, hist, count = self._sums(ctx, h)
        if total - h.state["total"] != hist:
            raise CheckError(f"postgres: balances moved by {total - h.state['total']}, the "
                             f"history by {hist}")
        if count != int(res.extra["transactions"]):
            raise CheckError(f"postgres: {count} history rows for "
                             f"{int(res.extra['transactions'])} transactions")
        h.state["total"] = total
        # Quiet until its next round: no checkpoint writing while another runner is measured.
        self._psql(ctx, h, "checkpoint")
        return {"postgres": _per_request(res, cpu, res.extra["transactions"])}


# --- build ------------------------------------------------------------------------------------

LUA_SAYS = "lua says 333833500 Lua 5.4"


class BuildApp(App):
    name, title = "build", "make -j2 of Lua 5.4, -O2 (quick: -O0) (seconds)"
    rows = (Row("build", "build: make -j2 of Lua 5.4 (34 C files; quick: -O0)", "s",
                higher_is_better=False),)
    server = False
    warmup = False               # each round is a fresh container: nothing to warm

    def round(self, h, ctx, warmup):
        t0 = time.perf_counter()
        try:
            r = ctx.docker.run_rm(h.runner, ctx.image,
                                  ["lxbench-start", "build", ctx.size("-O0", "-O2")], timeout=1200)
        except DockerError as e:
            raise CheckError(f"build: {e}") from None
        wall = time.perf_counter() - t0
        lines = r.stdout.decode(errors="replace").splitlines()
        timing = [ln for ln in lines if ln.startswith("LXBENCH build_s=")]
        rest = [ln for ln in lines if not ln.startswith("LXBENCH ")]
        if not timing:
            raise CheckError("build: no `LXBENCH build_s=` line: "
                             + " | ".join(lines)[-200:])
        if LUA_SAYS not in rest:
            raise CheckError(f"build: the built lua printed {rest[:1]!r}, not {LUA_SAYS!r}")
        ref = ctx.references.get("build")
        if ref is None and h.runner.name == REFERENCE:
            ctx.references["build"] = rest
        elif ref is not None and rest != ref:
            raise CheckError("build: the binaries differ from the ones built under runc: "
                             + " | ".join(set(rest) - set(ref))[:160])
        return {"build": Result(float(timing[-1].split("=", 1)[1]), {"container_s": wall})}


# --- docker exec / docker run -----------------------------------------------------------------

def _timed(n: int, what: str, fn: Callable[[], object]) -> Result:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            fn()
        except DockerError as e:
            raise CheckError(f"{what}: {e}") from None
        times.append(time.perf_counter() - t0)
    return Result(statistics.median(times), {"min_s": min(times), "max_s": max(times)})


class ExecApp(App):
    name, title = "docker-exec", "`docker exec C true` (seconds, median of the round)"
    rows = (Row("docker-exec", "`docker exec C true`", "s", higher_is_better=False),)

    def open(self, runner, ctx):
        h = Handle(runner)
        h.cid = ctx.docker.start(runner, ctx.image, ["lxbench-start", "idle"],
                                 f"lxbench-exec-{runner.name}-{os.getpid()}")
        return h

    def probe(self, h):
        return None

    def round(self, h, ctx, warmup):
        return {"docker-exec": _timed(1 if warmup else ctx.size(3, 10), "docker exec",
                                      lambda: ctx.docker("exec", h.cid, "true"))}


class RunApp(App):
    name, title = "docker-run", "`docker run --rm IMAGE true` (seconds, median of the round)"
    rows = (Row("docker-run", "`docker run --rm IMAGE true`", "s", higher_is_better=False),)
    server = False

    def round(self, h, ctx, warmup):
        return {"docker-run": _timed(1 if warmup else ctx.size(3, 10), "docker run",
                                     # as users run it: Docker's default network
                                     lambda: ctx.docker.run_rm(h.runner, ctx.image, ["true"],
                                                               network=None))}


# --- density ----------------------------------------------------------------------------------

def drop_caches() -> None:
    """sync, then drop the page cache, dentries and inodes (proc(5), /proc/sys/vm/drop_caches):
    MemAvailable then moves with what the containers hold, not with what was read to start
    them (gVisor's density method)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


class DensityApp(App):
    name, title = "density", "idle `sleep` containers: memory per container (MiB)"
    rows = (Row("density", "density: summed PSS per idle container (shim, runtime, "
                "supervisor, container)", "MiB", higher_is_better=False),
            Row("density-memavail", "density: MemAvailable drop per idle container", "MiB",
                higher_is_better=False))
    runners = "density"
    server = False
    warmup = False
    settle_s = 2.0

    def round(self, h, ctx, warmup):
        n = 2 if warmup else ctx.size(10, 20)
        limits = DENSITY_LIMITS if h.runner.args else None
        cids: list[str] = []
        try:
            drop_caches()
            before = ctx.proc.meminfo_kib()
            for i in range(n):
                cids.append(ctx.docker.start(h.runner, ctx.image, ["sleep", "infinity"],
                                             f"lxbench-density-{h.runner.name}-{os.getpid()}-{i}",
                                             args=limits))
            time.sleep(self.settle_s)
            fps = []
            for cid in cids:
                alive, why = ctx.docker.running(cid)
                if not alive:
                    raise CheckError(f"density: a container is not running: {why}")
                fps.append(pr.footprint(ctx.proc, cid, ctx.docker.pid(cid)))
            drop_caches()
            after = ctx.proc.meminfo_kib()
        finally:
            ctx.docker.remove(h.runner, *cids)
        per = [fp.total_kib / 1024 for fp in fps]
        extra = {"supervisor_rss_mib": statistics.median(fp.runtime_rss_kib for fp in fps) / 1024,
                 "processes": statistics.median(fp.processes for fp in fps)}
        for r in ("shim", "runtime", "container"):
            extra[f"{r}_pss_mib"] = statistics.median(fp.pss_kib.get(r, 0) for fp in fps) / 1024
        return {"density": Result(statistics.median(per), extra),
                "density-memavail": Result((before - after) / 1024 / n, {"containers": n})}


APPS: list[App] = [RedisApp(), NginxApp(), PostgresApp(), PyWebApp(), BuildApp(),
                   DensityApp(), ExecApp(), RunApp()]
ROWS = {row.name: (app, row) for app in APPS for row in app.rows}


def select(names: list[str] | None) -> list[App]:
    """Apps by app or row name (`redis`, `nginx-4k-c16`), in the suite's order."""
    if not names:
        return list(APPS)
    known = {a.name for a in APPS} | set(ROWS)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown apps workload(s) {', '.join(unknown)}; "
                         f"known: {', '.join(a.name for a in APPS)}")
    return [a for a in APPS if a.name in names or any(r.name in names for r in a.rows)]
