"""The element tests again, in the two modes that catch what the JIT hides.

- Without the JIT (``NUMBA_DISABLE_JIT=1``): every kernel runs as plain Python, so a
  kernel that only works because of numba's typing (or a reference that only agrees
  because both share a bug in compiled code) shows up.
- With bounds checking (``NUMBA_BOUNDSCHECK=1``): numba does not check indices; the
  malformed-input tests (truncations, junk, fuzzed frames) must not read or write out
  of the slot. A separate numba cache: cached unchecked code would be reused silently.

Each run caps hypothesis at ``MSH_MAX_EXAMPLES`` examples per test (see conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INNER = os.environ.get("NUMBA_DISABLE_JIT") == "1" or os.environ.get("NUMBA_BOUNDSCHECK") == "1"
FUZZ = "malformed or junk or trunc or crash or fuzz or never or damaged"


def rerun(tmp_path: Path, env: dict[str, str], *args: str) -> None:
    env = {**os.environ, **env, "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
           "MSH_CACHE_DIR": str(tmp_path / "msh")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           *args], check=False, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=3000)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]


@pytest.mark.skipif(INNER, reason="this is a rerun itself")
def test_element_tests_without_the_jit(tmp_path):
    rerun(tmp_path, {"NUMBA_DISABLE_JIT": "1", "MSH_MAX_EXAMPLES": "5"}, "tests/elements")


@pytest.mark.skipif(INNER, reason="this is a rerun itself")
def test_malformed_input_tests_under_bounds_checking(tmp_path):
    rerun(tmp_path, {"NUMBA_BOUNDSCHECK": "1", "MSH_MAX_EXAMPLES": "20"}, "tests/elements",
          "-k", FUZZ)
