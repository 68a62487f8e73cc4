"""Golden error texts: each ``golden/<case>.yaml`` must fail with exactly ``<case>.err``.

One case per kind of error, and ``multi_error`` for many at once. Paths in the texts
are relative to the golden directory. ``MSH_UPDATE_GOLDEN=1`` rewrites the ``.err``
files (then read the diff before committing).
"""

import os
from pathlib import Path

import pytest

from msh.errors import GraphError
from msh.yamlgraph import load

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.yaml"))


def error_text(case: str) -> str:
    try:
        load(f"{case}.yaml")
    except GraphError as exc:
        return str(exc) + "\n"
    return "no error\n"


@pytest.mark.parametrize("case", CASES)
def test_golden_error(case, monkeypatch):
    monkeypatch.chdir(GOLDEN)
    text = error_text(case)
    expected = GOLDEN / f"{case}.err"
    if os.environ.get("MSH_UPDATE_GOLDEN"):
        expected.write_text(text)
    assert text == expected.read_text()


def test_every_case_has_golden_text():
    assert CASES and all((GOLDEN / f"{c}.err").exists() for c in CASES)


def test_multi_error_reports_every_problem(monkeypatch):
    monkeypatch.chdir(GOLDEN)
    with pytest.raises(GraphError) as info:
        load("multi_error.yaml")
    assert len(info.value.problems) >= 7
    lines = [(p.where.line, p.where.col) for p in info.value.problems]
    assert lines == sorted(lines)
