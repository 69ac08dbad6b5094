"""Tests of the benchmark harness itself (bench/): fast, and none needs strace, proot, Docker or
lxrun; the harness package lives at the repo root, so put the root on sys.path."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
