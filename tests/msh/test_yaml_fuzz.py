"""The loader under generated input: any text gives a graph or a GraphError, never a
crash; generated chains load to exactly the graph that was written."""

import itertools
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from msh import graph as G
from msh.errors import GraphError
from msh.yamlgraph import load

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [p.read_text() for p in sorted((ROOT / "tests/msh/golden").glob("*.yaml"))]
DEMO = (ROOT / "graphs/firewall-demo.yaml").read_text()
SEEDS.append(DEMO.replace("include: [lib/common.yaml]\n", ""))
ALPHABET = "abcINout[]{}:-> ,\n\"'$01 9&*!#|?%@`\t~."


@st.composite
def mutated(draw) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 6))
        text = text[:at] + draw(st.text(ALPHABET, max_size=6)) + text[at + cut:]
    return text


@settings(max_examples=200)
@given(mutated())
def test_mutated_files_give_a_graph_or_located_errors(tmp_path_factory, text):
    path = tmp_path_factory.getbasetemp() / "fuzz.yaml"
    try:
        g = load(path, text=text)
    except GraphError as exc:
        assert exc.problems
        for p in exc.problems:
            assert p.where.file == str(path) and p.message
            assert str(p).startswith(f"{path}")
        return
    assert G.elements(g) is not None


NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: s not in ("in", "out"))


@settings(max_examples=50)
@given(st.lists(NAMES, min_size=1, max_size=8, unique=True), st.booleans())
def test_generated_chains_load_exactly(tmp_path_factory, names, flow_style):
    if flow_style:
        body = "elements: {" + ", ".join(f"{n}: Counter" for n in names) + "}\n"
    else:
        body = "elements:\n" + "".join(f"  {n}: {{kind: Counter}}\n" for n in names)
    line = " -> ".join(["in", *names, "out"])
    text = body + f"connections:\n  - {line}\n"
    path = tmp_path_factory.getbasetemp() / "chain.yaml"
    g = load(path, text=text)
    assert [n for n, _ in G.elements(g)] == names
    chain = ["in", *names, "out"]
    assert sorted((u, v) for u, v in g.edges()) == sorted(itertools.pairwise(chain))
    last = 1 if flow_style else len(names) + 1
    cols = {}
    col = 5
    for name in chain[:-1]:
        cols[name] = col
        col += len(name) + 4
    for u, _, d in g.edges(data=True):
        assert (d["where"].line, d["where"].col) == (last + 2, cols[u])
    if not flow_style:
        for k, n in enumerate(names):
            assert (g.nodes[n]["where"].line, g.nodes[n]["where"].col) == (k + 2, 3)
