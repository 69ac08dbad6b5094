"""Real programs from this machine, run natively and under lxrun: same output,
same exit status.  Each runs under the default policy (nothing traps), under
trace-all (everything traps) and under strict (deny by default), on both backends."""
import os
import shutil
import subprocess

import pytest

from conftest import lxrun_cmd

POLICIES = ("default", "trace-all", "strict")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "lx", "GIT_AUTHOR_EMAIL": "lx@example.invalid", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "lx", "GIT_COMMITTER_EMAIL": "lx@example.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z", "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent",
}

PY_THREADS = """
import threading, hashlib, os
out = [None] * 8
def work(i):
    h = hashlib.sha256()
    for j in range(2000):
        h.update(str((i, j, os.getpid() > 0)).encode())
    out[i] = h.hexdigest()[:12]
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print(" ".join(out))
import json, sqlite3, decimal
print(json.dumps({"ok": True}), sqlite3.connect(":memory:").execute("select 1+1").fetchone()[0])
"""

C_SRC = """
#include <stdio.h>
int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
int main(void) { printf("fib(20)=%d\\n", fib(20)); return 3; }
"""


def _workloads(tmp):
    return {
        "sh-pipeline": (["sh", "-c", "printf 'b\\na\\nc\\na\\n' | sort | uniq -c | tr a-z A-Z; exit 7"], None),
        "coreutils": (["sh", "-c", "seq 1 20000 | sha256sum; ls -a / | sort | wc -l; "
                       "head -c 4096 /usr/bin/env | od -An -tx1 | tail -1; stat -c %s /etc/hostname; "
                       "printf '%s\\n' one two | paste -sd,; date -d @0 -u +%F; id -u; env -i A=1 env"], None),
        "python3-threads": (["python3", "-c", PY_THREADS], None),
        "gcc": (["sh", "-c", f"cd {tmp} && gcc -O1 -o prog prog.c && ./prog"], "gcc"),
        "git": (["sh", "-c", f"cd {tmp} && git init -q -b main r && cd r && echo hi > f && git add f && "
                 "git commit -qm first && git log --format='%H %s' && git status --short | wc -l"], "git"),
        "tar": (["sh", "-c", f"cd {tmp} && mkdir -p t/a/b && echo x > t/a/b/c && echo y > t/d && "
                 "tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - t | sha256sum && "
                 "tar -cf t.tar t && tar -tf t.tar | sort"], "tar"),
    }


def _prepare(tmp):
    (tmp / "prog.c").write_text(C_SRC)


def _env():
    env = dict(os.environ, LC_ALL="C", **GIT_ENV)
    return env


@pytest.mark.parametrize("frontend", ["python", "c"])
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", ["sh-pipeline", "coreutils", "python3-threads", "gcc", "git", "tar"])
def test_same_as_native(name, policy, backend, frontend, tmp_path):
    nat_dir, lx_dir = tmp_path / "native", tmp_path / "lx"
    nat_dir.mkdir()
    lx_dir.mkdir()
    _prepare(nat_dir)
    _prepare(lx_dir)
    argv, tool = _workloads(nat_dir)[name]
    if tool and not shutil.which(tool):
        pytest.skip(f"{tool} is not installed (apt-get install {tool})")
    native = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=300)
    argv_lx, _ = _workloads(lx_dir)[name]
    lx = subprocess.run(lxrun_cmd("--backend", backend, "--policy", policy, "--", *argv_lx, frontend=frontend),
                        capture_output=True, text=True, env=_env(), timeout=300)
    assert lx.returncode == native.returncode, lx.stderr
    assert lx.stdout.replace(str(lx_dir), "DIR") == native.stdout.replace(str(nat_dir), "DIR")
    assert lx.stderr.replace(str(lx_dir), "DIR") == native.stderr.replace(str(nat_dir), "DIR")
