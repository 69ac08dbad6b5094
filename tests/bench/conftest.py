"""The harness's tests: bench/ is imported from the repo root (it is not installed), and they
need neither the engine nor any peer (tests/conftest.py skips everything without the engine)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


@pytest.fixture(autouse=True, scope="session")
def _engine_importable():
    """Overrides tests/conftest.py's skip-everything-without-the-engine."""
