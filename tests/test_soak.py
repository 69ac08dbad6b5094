"""Supervisor resources stay flat under load: memory and fds after many traps."""
import subprocess
import time

import pytest

from conftest import lxrun_cmd


def _rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


@pytest.mark.parametrize("backend, n", [("unotify", 1_000_000), ("ptrace", 200_000)])
def test_supervisor_memory_and_fds_flat(backend, n, progs, tmp_path):
    pol = tmp_path / "p.toml"
    pol.write_text('[[rule]]\nsyscalls = ["getppid"]\naction = "emulate"\nreturn = 1\n')
    p = subprocess.Popen(lxrun_cmd("--backend", backend, "--policy", str(pol), "--", progs["getppid_loop"], str(n)),
                         stdout=subprocess.PIPE, text=True)
    samples = []
    while p.poll() is None:
        try:
            # only once the program runs: before that the supervisor is still starting up
            # (Python imports, the listener not taken yet), slowly on a loaded machine
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                running = bool(f.read().split())
            if running:
                samples.append((_rss_kb(p.pid), len(__import__("os").listdir(f"/proc/{p.pid}/fd"))))
        except (OSError, TypeError):
            break
        time.sleep(0.2)
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0 and out.strip() == "1"
    samples = [s for s in samples if s[0]]
    assert len(samples) >= 3, "run too short to sample"
    first, last = samples[1], samples[-1]
    assert last[0] - first[0] < 2048, f"RSS grew from {first[0]} to {last[0]} kB"
    assert max(s[0] for s in samples) < 30 * 1024, "supervisor RSS above 30 MiB"
    assert last[1] == first[1], "supervisor fd count changed"
