"""The apps suite without Docker: load-generator parsers, each app's correctness checks against
fake servers (a broken server must fail its row), the rounds, the process accounting on a
fake /proc, the report and --compare."""
import http.server
import json
import socket
import socketserver
import subprocess
import threading
from pathlib import Path

import pytest

from bench import compare as C
from bench.__main__ import parse
from bench.apps import docker as D
from bench.apps import image as I
from bench.apps import loadgen as L
from bench.apps import method as M
from bench.apps import procs as P
from bench.apps import report as R
from bench.apps import workloads as W
from bench.runners import Availability

MACHINE = {"cpu": "Test CPU", "cores": 2, "mem_gib": 4.0, "kernel": "6.18.0", "os": "Debian",
           "lxbrand_commit": "abc1234", "versions": {}}

# --- load generators ------------------------------------------------------------------------

REDIS_CSV = ('"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",'
             '"p99_latency_ms","max_latency_ms"\n'
             '"SET","80000.00","0.361","0.088","0.311","0.575","1.343","4.871"\n'
             '"LPUSH (needed to benchmark LRANGE)","70000.00","0.3","0.1","0.3","0.5","0.9","2"\n'
             '"LRANGE_100 (first 100 elements)","40000.00","0.4","0.1","0.5","0.7","1.1","3"\n')


def test_redis_csv_rows_and_missing_test():
    out = L.parse_redis_csv(REDIS_CSV, ("SET", "LRANGE_100"))
    assert out["SET"].value == 80000.0 and out["SET"].extra == {"p50_ms": 0.311, "p99_ms": 1.343}
    assert out["LRANGE_100"].value == 40000.0
    with pytest.raises(L.LoadError, match="no result for GET"):
        L.parse_redis_csv(REDIS_CSV, ("GET",))
    with pytest.raises(L.LoadError, match="no CSV header"):
        L.parse_redis_csv("Could not connect to Redis at 127.0.0.1:1: Connection refused\n")


AB_OK = """Server Software:        nginx/1.22.1
Document Path:          /4k.bin
Document Length:        4096 bytes

Concurrency Level:      16
Time taken for tests:   1.000 seconds
Complete requests:      15497
Failed requests:        0
Total transferred:      67000000 bytes
Requests per second:    15496.57 [#/sec] (mean)
"""
AB_PCT = "Percentage served,Time in ms\n0,0.1\n50,0.882\n99,2.385\n100,7.0\n"


def test_ab_report_and_every_kind_of_failure():
    res = L.parse_ab(AB_OK, AB_PCT, 4096)
    assert res.value == 15496.57 and res.extra == {"p50_ms": 0.882, "p99_ms": 2.385,
                                                   "requests": 15497.0}
    failed = AB_OK.replace("Failed requests:        0",
                           "Failed requests:        12\n   (Connect: 0, Receive: 0, Length: 12,"
                           " Exceptions: 0)")
    with pytest.raises(L.LoadError, match=r"12 of 15497 requests failed \(Connect: 0, Receive: 0, "
                                          r"Length: 12"):
        L.parse_ab(failed, AB_PCT, 4096)
    with pytest.raises(L.LoadError, match="3 of 15497 responses were not 2xx"):
        L.parse_ab(AB_OK + "Non-2xx responses:      3\n", AB_PCT, 4096)
    with pytest.raises(L.LoadError, match="document length '9 bytes', expected 4096"):
        L.parse_ab(AB_OK.replace("4096 bytes", "9 bytes"), AB_PCT, 4096)
    with pytest.raises(L.LoadError, match="no report"):
        L.parse_ab("apr_socket_recv: Connection reset by peer (104)\n", AB_PCT, 4096)
    with pytest.raises(L.LoadError, match="no percentiles"):
        L.parse_ab(AB_OK, "Percentage served,Time in ms\n", 4096)


PGBENCH = """transaction type: <builtin: TPC-B (sort of)>
scaling factor: 10
number of clients: 8
number of transactions actually processed: 400
number of failed transactions: 0 (0.000%)
latency average = 19.4 ms
tps = 411.2 (without initial connection time)
"""


def test_pgbench_summary_log_percentiles_and_failures():
    log = [f"{i % 8} {i} {1000 * (i + 1)} 0 1700000000 {i}" for i in range(100)]
    res = L.parse_pgbench(PGBENCH, log)
    assert res.value == 411.2 and res.extra["transactions"] == 400
    assert res.extra["p50_ms"] == pytest.approx(50.5) and res.extra["p99_ms"] == pytest.approx(99.01)
    with pytest.raises(L.LoadError, match="3 failed transactions"):
        L.parse_pgbench(PGBENCH.replace("transactions: 0 (0.000%)", "transactions: 3 (0.7%)"))
    with pytest.raises(L.LoadError, match="a transaction failed"):
        L.parse_pgbench(PGBENCH, ["0 1 failed 0 1700000000 1"])
    with pytest.raises(L.LoadError, match="no summary"):
        L.parse_pgbench("pgbench: error: connection to server failed\n")


def test_missing_tools_name_debian_packages():
    assert L.missing_tools({"ab", "pgbench", "redis-benchmark"}, lambda t: None) == [
        "apache2-utils", "postgresql-client", "redis-tools"]
    assert L.missing_tools({"ab"}, lambda t: "/usr/bin/" + t) == []


# --- fake servers: a broken server fails its row ---------------------------------------------

def serve(handler_cls):
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler_cls)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class FakeRedis(socketserver.StreamRequestHandler):
    """SET stores, GET answers what the test's `mangle` makes of it."""
    store: dict = {}
    mangle = staticmethod(lambda v: v)

    def handle(self):
        while True:
            line = self.rfile.readline()
            if not line:
                return
            n = int(line[1:])
            args = []
            for _ in range(n):
                size = int(self.rfile.readline()[1:])
                args.append(self.rfile.read(size + 2)[:-2])
            cmd = args[0].upper()
            if cmd == b"SET":
                self.store[args[1]] = args[2]
                self.wfile.write(b"+OK\r\n")
            elif cmd == b"GET":
                v = self.mangle(self.store.get(args[1]))
                self.wfile.write(b"$-1\r\n" if v is None else b"$%d\r\n%s\r\n" % (len(v), v))
            elif cmd == b"PING":
                self.wfile.write(b"+PONG\r\n")
            else:
                self.wfile.write(b"-ERR unknown\r\n")


def handle_on(port, runner="lxbrand"):
    return W.Handle(D.AppRunner(runner, runner, "", ""), None, port)


def test_redis_check_catches_a_server_that_returns_other_bytes():
    srv = serve(FakeRedis)
    try:
        app, h = W.RedisApp(), handle_on(srv.server_address[1])
        assert app.probe(h) is None
        app._check(h, after=False)                     # an honest server passes
        FakeRedis.mangle = staticmethod(lambda v: v[:-1] if v else v)
        with pytest.raises(W.CheckError, match="not what SET stored"):
            app._check(h, after=False)
    finally:
        FakeRedis.mangle = staticmethod(lambda v: v)
        srv.shutdown()


def test_redis_probe_reports_a_dead_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert "redis PING" in W.RedisApp().probe(handle_on(port))


def http_server(body_for):
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, body = body_for(self.path)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_nginx_check_compares_every_byte_of_both_files():
    good = {f"/{n}": I.www_bytes(n) for n in I.WWW}
    srv = http_server(lambda p: (200, good[p]) if p in good else (404, b""))
    try:
        W.NginxApp()._check(handle_on(srv.server_address[1]))
    finally:
        srv.shutdown()
    flipped = dict(good)
    b = bytearray(good["/1m.bin"])
    b[500_000] ^= 1                                    # one bit, deep in the big file
    flipped["/1m.bin"] = bytes(b)
    srv = http_server(lambda p: (200, flipped[p]))
    try:
        with pytest.raises(W.CheckError, match=r"GET /1m.bin: HTTP 200, 1048576 bytes, not the"):
            W.NginxApp()._check(handle_on(srv.server_address[1]))
    finally:
        srv.shutdown()


def test_python_web_check_recomputes_the_answers():
    assert json.loads(W.pyweb_body(7))["n"] == 7
    srv = http_server(lambda p: (200, W.pyweb_body(int(p.split("=")[1]))))
    try:
        W.PyWebApp()._check(handle_on(srv.server_address[1]))
    finally:
        srv.shutdown()
    srv = http_server(lambda p: (200, W.pyweb_body(int(p.split("=")[1]) + 1)))
    try:
        with pytest.raises(W.CheckError, match="not the app's answer"):
            W.PyWebApp()._check(handle_on(srv.server_address[1]))
    finally:
        srv.shutdown()


def test_ab_rejects_a_server_that_serves_a_short_file(tmp_path):
    """The real ab against a server that answers 4 KiB requests with 4000 bytes."""
    import shutil
    if not shutil.which("ab"):
        pytest.skip("ab not installed: apt-get install -y apache2-utils")
    srv = http_server(lambda p: (200, b"x" * 4000))
    try:
        ctx = W.Ctx(D.Docker(), "img", tmp_path)
        with pytest.raises(L.LoadError, match="document length|requests failed"):
            W.ab(ctx, srv.server_address[1], "/4k.bin", 4, 1, 4096)
    finally:
        srv.shutdown()


class FakeRun:
    """Stands in for subprocess.run: answers by the tool's name."""

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def __call__(self, argv, **kw):
        self.calls.append(argv)
        name = Path(argv[0]).name
        if name == "pgbench" and "--log-prefix" in argv:
            prefix = Path(argv[argv.index("--log-prefix") + 1])
            (prefix.parent / (prefix.name + ".1")).write_text(
                "\n".join(f"0 {i} {2000 + i} 0 1700000000 0" for i in range(400)) + "\n")
        rc, out = self.answers[name] if not callable(self.answers[name]) else \
            self.answers[name](argv)
        return subprocess.CompletedProcess(argv, rc, out.encode(), b"")


def pg_ctx(tmp_path, sums):
    it = iter(sums)
    run = FakeRun({"pgbench": (0, PGBENCH), "psql": lambda argv: (0, next(it) if "select"
                                                                  in argv[-2] else "")})
    return W.Ctx(D.Docker(), "img", tmp_path, quick=True, run=run,
                 tools={"pgbench": "/usr/bin/pgbench", "psql": "/usr/bin/psql"}), run


def test_postgres_round_checks_tpcb_invariant_and_history(tmp_path):
    app, h = W.PostgresApp(), handle_on(5432)
    h.state["total"] = 0
    ctx, run = pg_ctx(tmp_path, ["1000|1000|1000|1000|400"])
    out = app.round(h, ctx, warmup=False)
    assert out["postgres"].value == 411.2 and out["postgres"].extra["p50_ms"] == pytest.approx(2.1995)
    assert any("checkpoint" in c for c in run.calls)   # quiet until its next round
    h.state["total"] = 0
    ctx, _ = pg_ctx(tmp_path, ["1000|1000|999|1000|400"])
    with pytest.raises(W.CheckError, match="TPC-B invariant broken"):
        app.round(h, ctx, warmup=False)
    ctx, _ = pg_ctx(tmp_path, ["1000|1000|1000|990|400"])
    with pytest.raises(W.CheckError, match="balances moved by 1000, the history by 990"):
        app.round(h, ctx, warmup=False)
    ctx, _ = pg_ctx(tmp_path, ["1000|1000|1000|1000|399"])
    with pytest.raises(W.CheckError, match="399 history rows for 400 transactions"):
        app.round(h, ctx, warmup=False)


class FakeDocker(D.Docker):
    def __init__(self, answer):
        super().__init__(path="docker", run=self._run)
        self.answer, self.calls = answer, []

    def _run(self, argv, timeout=60, input=None):
        self.calls.append(argv)
        rc, out, err = self.answer(argv)
        return subprocess.CompletedProcess(argv, rc, out.encode(), err.encode())


BUILD_OUT = ("LXBENCH build_s=8.25\n" + W.LUA_SAYS + "\naaaa lua\nbbbb liblua.a\n")


def test_build_checks_the_interpreter_and_runc_identical_binaries(tmp_path):
    app = W.BuildApp()
    ctx = W.Ctx(FakeDocker(lambda a: (0, BUILD_OUT, "")), "img", tmp_path)
    res = app.round(handle_on(0, "runc"), ctx, warmup=False)
    assert res["build"].value == 8.25 and ctx.references["build"][1] == "aaaa lua"
    assert app.round(handle_on(0), ctx, warmup=False)["build"].value == 8.25
    ctx.docker = FakeDocker(lambda a: (0, BUILD_OUT.replace("aaaa", "cccc"), ""))
    with pytest.raises(W.CheckError, match="differ from the ones built under runc"):
        app.round(handle_on(0), ctx, warmup=False)
    ctx.docker = FakeDocker(lambda a: (0, BUILD_OUT.replace("333833500", "1"), ""))
    with pytest.raises(W.CheckError, match="the built lua printed"):
        app.round(handle_on(0), ctx, warmup=False)
    ctx.docker = FakeDocker(lambda a: (1, "", "make: *** [Makefile:12: lvm.o] Error 1"))
    with pytest.raises(W.CheckError, match="lvm.o"):
        app.round(handle_on(0), ctx, warmup=False)


def test_docker_exec_failure_fails_the_row(tmp_path):
    ctx = W.Ctx(FakeDocker(lambda a: (126, "", "OCI runtime exec failed: EPERM")), "img", tmp_path)
    h = handle_on(0)
    h.cid = "c" * 64
    with pytest.raises(W.CheckError, match="docker exec: .*EPERM"):
        W.ExecApp().round(h, ctx, warmup=False)


def test_a_failed_start_leaves_no_container_and_traces_are_removed(tmp_path):
    def answer(argv):
        if argv[1] == "run" and "-d" in argv:
            return 125, "", ("docker: Error response from daemon: failed to create shim task: "
                             "OCI runtime create failed: init exited\nRun 'docker run --help' "
                             "for more information\n")
        return 0, "", ""
    d = FakeDocker(answer)
    tr = D.AppRunner("lxbrand-trace", "lxbrand-trace", "", "")
    tr.runtime = "lxbrand-trace"
    tr.runtime_args = ["--trace", "--trace-dir", str(tmp_path)]
    with pytest.raises(D.DockerError) as e:
        d.start(tr, "img", ["sleep", "infinity"], "lxbench-x")
    assert str(e.value) == ("`docker run --runtime lxbrand-trace` failed: Error response from "
                            "daemon: failed to create shim task: OCI runtime create failed: "
                            "init exited")
    assert d.calls[-1] == ["docker", "rm", "-f", "lxbench-x"]
    (tmp_path / f"{CID}.trace").write_text("x")
    d.remove(tr, CID)
    assert d.calls[-1] == ["docker", "rm", "-f", CID] and not (tmp_path / f"{CID}.trace").exists()


def test_wait_ready_reports_an_exited_container_with_its_logs():
    def answer(argv):
        if argv[1] == "inspect":
            return 0, "false 1 ", ""
        return 0, "", "redis: Can't open the log file\n"
    d = FakeDocker(answer)
    with pytest.raises(D.DockerError, match="exited with status 1: redis: Can't open"):
        D.wait_ready(d, "c" * 64, lambda: "connection refused", 10, sleep=lambda s: None)
    alive = FakeDocker(lambda a: (0, "true 0 ", ""))
    t = iter(range(100))
    with pytest.raises(D.DockerError, match="not ready after 5 s: connection refused"):
        D.wait_ready(alive, "c" * 64, lambda: "connection refused", 5, sleep=lambda s: None,
                     clock=lambda: next(t))


# --- the rounds -------------------------------------------------------------------------------

class Toy(W.App):
    name, title = "toy", "toy"
    rows = (W.Row("toy-a", "a", "req/s"), W.Row("toy-b", "b", "req/s"))
    server = False

    def __init__(self, broken=(), warm_broken=()):
        self.broken, self.warm_broken, self.order, self.closed = broken, warm_broken, [], []

    def round(self, h, ctx, warmup):
        self.order.append((h.runner.name, warmup))
        if h.runner.name in self.broken or (warmup and h.runner.name in self.warm_broken):
            raise W.CheckError("toy: wrong answer")
        return {"toy-a": L.Result(100.0), "toy-b": L.Result(50.0, {"p50_ms": 1.0})}

    def close(self, h, ctx):
        self.closed.append(h.runner.name)


def runners(*names):
    out = []
    for n in names:
        r = D.AppRunner(n, n, n, "")
        r.avail = Availability(True)
        out.append(r)
    return out


def test_rounds_rotate_check_every_round_and_close_every_container(tmp_path):
    app = Toy(broken={"b"}, warm_broken={"c"})
    rs = runners("runc", "b", "c", "d")
    samples, notes = M.measure([app], rs, W.Ctx(D.Docker(), "img", tmp_path), rounds=3)
    measured = [n for n, w in app.order if not w]
    assert measured == ["runc", "d", "d", "runc", "runc", "d"]        # b, c dropped at warm-up
    assert sorted(app.closed) == ["b", "c", "d", "runc"]
    bad = [s for s in samples if not s.ok]
    assert {(s.workload, s.runner) for s in bad} == {("toy-a", "b"), ("toy-b", "b"),
                                                     ("toy-a", "c"), ("toy-b", "c")}
    assert all(s.reason == "toy: wrong answer" for s in bad)
    doc = R.build_doc(config={"quick": True, "rounds": 3}, machine=MACHINE, runners=rs,
                      apps=[app], samples=samples, notes=notes, started="2026-12-04T10:00:00",
                      finished="2026-12-04T10:01:00", image="lxbench-apps:x")
    md = R.markdown(doc)
    assert "| **toy-a** a | req/s | 100 | FAIL | FAIL | 100 (1.00×) |" in md
    assert "- toy-a, toy-b / b: 1 failed: toy: wrong answer" in md       # an app's rows fold


# --- processes of a container -----------------------------------------------------------------

CID = "ab" * 32


def fake_proc(tmp_path):
    proc, cg = tmp_path / "proc", tmp_path / "cgroup"
    procs = {  # pid: (cmdline, cgroup file, pss, rss)
        10: ("/usr/bin/containerd-shim-runc-v2\0-namespace\0moby\0-id\0" + CID, "4:memory:/\n",
             3000, 9000),
        11: ("python3\0-IS\0/usr/local/lib/lxbrand/lxbrand-runtime.py\0" + CID,
             f"4:memory:/docker/{CID}\n", 8000, 12000),
        12: ("sleep\0infinity", f"4:memory:/docker/{CID}\n", 250, 600),
        13: ("dockerd", "4:memory:/\n", 50000, 60000),
    }
    for pid, (cmd, cgroup, pss, rss) in procs.items():
        d = proc / str(pid)
        d.mkdir(parents=True)
        (d / "cmdline").write_bytes(cmd.encode() + b"\0")
        (d / "cgroup").write_text(cgroup)
        (d / "smaps_rollup").write_text(f"Rss: {rss} kB\nPss:    {pss} kB\n")
        (d / "status").write_text(f"Name: x\nVmRSS:\t{rss} kB\n")
        (d / "stat").write_text(f"{pid} (a b) S 1 " + " ".join(["0"] * 9) + f" {pid} 2 3 4 0\n")
    (cg / "memory" / "docker" / CID).mkdir(parents=True)
    (cg / "memory" / "docker" / CID / "cgroup.procs").write_text("11\n12\n")
    (cg / "memory" / "cgroup.procs").write_text("10\n13\n")
    (proc / "meminfo").write_text("MemTotal: 100 kB\nMemAvailable:   4096 kB\n")
    return P.Proc(proc, cg)


def test_members_are_the_cgroup_plus_processes_naming_the_id(tmp_path):
    p = fake_proc(tmp_path)
    assert p.members(CID, 12) == {10, 11, 12}
    fp = P.footprint(p, CID, 12)
    assert fp.pss_kib == {"shim": 3000, "runtime": 8000, "container": 250}
    assert fp.total_kib == 11250 and fp.runtime_rss_kib == 12000 and fp.processes == 3
    assert p.meminfo_kib() == 4096
    assert p.cpu_s(12) == pytest.approx((12 + 2 + 3 + 4) / P.CLK_TCK)


def test_a_cgroup_that_does_not_name_the_container_is_not_its_own(tmp_path):
    """gVisor with --ignore-cgroups: the sandbox sits in the shim's cgroup (here the root, with
    dockerd in it): only the processes naming the id count."""
    p = fake_proc(tmp_path)
    assert p.members(CID, 10) == {10, 11}
    assert P.role("runsc-sandbox --root=/x boot " + CID) == "runtime"
    assert P.role("nginx: worker process") == "container"


def test_cpu_delta_counts_new_processes_from_zero():
    assert P.cpu_delta({1: 1.0, 2: 5.0}, {1: 1.5, 3: 0.25}) == pytest.approx(0.75)


# --- runners, image, CLI ----------------------------------------------------------------------

def test_runsc_prefers_the_ptrace_platform_and_runc_is_always_selected():
    rs = {r.name: r for r in D.all_runners()}
    runtimes = {"runsc": {"runtimeArgs": ["--platform=systrap"]},
                "runsc-p": {"runtimeArgs": ["--platform=ptrace"]}, "runc": {}}
    assert rs["runsc"].pick_runtime(runtimes, {}) == "runsc-p"
    assert rs["lxbrand"].pick_runtime(runtimes, {}) is None
    assert rs["lxbrand"].pick_runtime({"lxbrand": {}, "x": {}},
                                      {"LXBENCH_LXBRAND_RUNTIME": "x"}) == "x"
    assert [r.name for r in D.select(["lxbrand-*"])] == ["runc", "lxbrand-strict",
                                                         "lxbrand-limits", "lxbrand-paths", "lxbrand-trace"]
    with pytest.raises(ValueError, match="unknown apps runner.*nope"):
        D.select(["nope"])
    lim = rs["lxbrand-limits"]
    lim.runtime = "lxbrand"
    assert lim.run_args() == ["--runtime", "lxbrand", "--memory", "1g", "--cpus", "2"]
    assert lim.run_args(D.DENSITY_LIMITS)[-4:] == ["--memory", "256m", "--cpus", "1"]
    paths = rs["lxbrand-paths"]
    assert paths.run_args() == ["--runtime", "lxbrand-paths"]  # registered with --policy PATHS_POLICY
    from lxbrand.policy import load_policy
    assert load_policy(D.PATHS_POLICY).paths is not None  # a valid [[path]] policy
    tr = rs["lxbrand-trace"]
    tr.runtime_args = ["--policy", "trace-all", "--trace", "--trace-dir", "/var/log/lxbrand"]
    assert tr.trace_file(CID) == Path(f"/var/log/lxbrand/{CID}.trace")
    assert rs["lxbrand"].trace_file(CID) is None


def test_image_is_keyed_by_its_recipe_and_reused(monkeypatch):
    assert I.tag() == f"lxbench-apps:{I.recipe_key()}" and len(I.recipe_key()) == 12
    assert len(I.www_bytes("4k.bin")) == 4096 and len(I.www_bytes("1m.bin")) == 1 << 20
    key = I.recipe_key()
    monkeypatch.setattr(I, "PACKAGES", I.PACKAGES + ("curl",))
    assert I.recipe_key() != key
    calls = []
    have = I.Builder(run=lambda argv, **kw: calls.append(argv) or
                     subprocess.CompletedProcess(argv, 0, b"", b""))
    assert I.build(have) == I.tag() and calls == [["docker", "image", "inspect", I.tag()]]
    bare = I.Builder(run=lambda argv, **kw: subprocess.CompletedProcess(argv, 1, b"", b""),
                     which=lambda t: None)
    with pytest.raises(I.ImageError, match="needs debootstrap"):
        I.build(bare)


def test_older_recipes_images_are_pruned_and_only_ours():
    calls = []

    def run(argv, **kw):
        calls.append(argv)
        out = b"lxbench-apps:old1\nlxbench-apps:new\nlxbench-apps:old2\n" if "ls" in argv else b""
        return subprocess.CompletedProcess(argv, 0, out, b"")
    I._prune(I.Builder(run=run), "lxbench-apps:new")
    assert calls[-1] == ["docker", "rmi", "lxbench-apps:old1", "lxbench-apps:old2"]


def test_suite_from_only_and_apps_output_dir():
    ns, opts = parse(["--only", "redis,nginx-4k-c16", "--quick"])
    assert opts.suite == "apps" and opts.out.name == "apps"
    ns, opts = parse(["--suite", "apps", "--rebuild-image"])
    assert opts.suite == "apps" and opts.rebuild_image and opts.only is None
    assert parse(["--only", "getpid"])[1].suite == "micro"
    with pytest.raises(SystemExit):
        parse(["--only", "redis,getpid"])
    with pytest.raises(SystemExit):
        parse(["--suite", "micro", "--only", "redis"])
    with pytest.raises(ValueError, match="unknown apps workload.*nope"):
        W.select(["nope"])
    assert [a.name for a in W.select(["nginx-1m-c1", "density"])] == ["nginx", "density"]


# --- report and --compare --------------------------------------------------------------------

def apps_doc(lx_factor=1.0):
    rs = runners("runc", "lxbrand", "runsc")
    rs.append(D.AppRunner("lxbrand-trace", "lxbrand-trace", "t", "install it"))
    rs[-1].avail = Availability(False, reason="Docker has no lxbrand-trace runtime")
    apps = [W.RedisApp(), W.DensityApp()]
    samples = []
    for k in range(-1, 3):
        for r, f in (("runc", 1.0), ("lxbrand", lx_factor), ("runsc", 0.2)):
            for row in apps[0].rows:
                samples.append(M.AppSample(row.name, r, k, 1000 * f * (1 + 0.01 * k), True,
                                           extra={"p50_ms": 0.3 / f, "p99_ms": 1 / f,
                                                  "cpu_us_per_op": 10 / f}))
            if k >= 0:
                samples.append(M.AppSample("density", r, k, 4.0 / f, True,
                                           extra={"supervisor_rss_mib": 0, "processes": 2,
                                                  "shim_pss_mib": 3.3}))
    samples.append(M.AppSample("redis-get", "runsc", 3, None, False, "redis: GET returned b''"))
    return R.build_doc(config={"quick": False, "rounds": 3}, machine=MACHINE, runners=rs,
                       apps=apps, samples=samples, notes=[], started="2026-12-04T10:00:00+00:00",
                       finished="2026-12-04T10:30:00+00:00", image="lxbench-apps:x")


def test_apps_markdown_tables():
    md = R.markdown(apps_doc(0.5))
    assert "| workload | unit | runc | lxbrand | runsc |" in md
    assert "| **redis-set** redis SET | req/s | 1010 | 505 (0.50×) | 202 (0.20×) |" in md
    assert "202 (0.20×) [1 failed]" in md
    assert "- redis-get / runsc: 1 failed: redis: GET returned b''" in md
    assert "## Latency (p50 / p99 ms" in md and "| redis-get | 0.300 / 1.00 | 0.600 / 2.00 |" in md
    assert "| redis-set (µs/req) | 10.0 | 20.0 (2.00×) | 50.0 (5.00×) |" in md
    assert "## Density detail" in md and "| lxbrand | 8.00 |" in md
    assert "lxbrand-trace: Docker has no lxbrand-trace runtime. Install: install it" in md
    assert "0.99×–1.01×" in md.split("## Spread")[1]


def test_apps_chart_and_render_roundtrip(tmp_path):
    pytest.importorskip("matplotlib")
    from bench import harness
    doc = apps_doc()
    (tmp_path / "results.json").write_text(json.dumps(doc))
    import io
    out = io.StringIO()
    harness.render(tmp_path / "results.json", tmp_path / "again", stdout=out)
    assert (tmp_path / "again" / "results.png").stat().st_size > 10_000
    assert "lxbrand apps bench" in out.getvalue()


def test_compare_knows_throughput_is_better_higher():
    old, new = apps_doc(1.0), apps_doc(0.5)
    rows = {(r["workload"], r["runner"]): r for r in C.compare(old, new)}
    assert rows[("redis-set", "lxbrand")]["verdict"] == "slower"      # req/s halved
    assert rows[("density", "lxbrand")]["verdict"] == "larger"        # MiB doubled
    back = {(r["workload"], r["runner"]): r for r in C.compare(new, old)}
    assert back[("redis-set", "lxbrand")]["verdict"] == "faster"
    assert back[("density", "lxbrand")]["verdict"] == "smaller"
    text = C.render(C.compare(new, old), "old.json")
    assert "smaller" in text and "in memory" in text
