"""Compiler passes on small composed chains: known results, a checker between passes,
and equivalence of the compiled plan with the naive chain on the same traffic."""

from __future__ import annotations

import networkx as nx
import pytest

from elements.batch import load_frames
from elements.element import lookup
from msh import graph as G
from msh.chain import Chain, Middlebox, Parallel
from msh.chainrun import run_chain
from msh.compiler import compile_chain, explain
from msh.passes.hoist_front import HYPERVISOR


def element(kind: str, name: str, **config):
    cls = lookup(kind)
    return cls(name=name, config=cls.Config(**config)) if config else cls(name=name)


def middlebox(name: str, *chain) -> Middlebox:
    """A linear middlebox in -> e1 -> e2 ... -> out."""
    g = G.new_graph(name)
    prev = G.IN
    for el in chain:
        G.add_element(g, el)
        G.connect(g, prev, 0, el.name, 0)
        prev = el.name
    G.connect(g, prev, 0, G.OUT, 0)
    return Middlebox(name, g)


def check(name: str, g: nx.MultiDiGraph) -> None:
    """Between passes: a DAG, every push output connected once, every element fed."""
    assert nx.is_directed_acyclic_graph(g), name
    for node, data in g.nodes(data=True):
        if node in G.INTERFACE:
            continue
        ports = [d["src_port"] for _, _, d in g.out_edges(node, data=True)]
        assert len(ports) == len(set(ports)), f"{name}: {node} output connected twice"
        assert g.in_degree(node) > 0 or data["element"].source, f"{name}: {node} unfed"


class Frames:
    """A feed of fixed frames."""

    def __init__(self, frames):
        self.frames = list(frames)
        self.total = len(self.frames)

    def fill(self, b, n):
        take, self.frames = self.frames[:n], self.frames[n:]
        return load_frames(b, take) if take else 0


def two_painters() -> Chain:
    return Chain("c", [
        middlebox("a", element("Strip", "strip", length=14), element("Paint", "p", color=7),
                  element("Counter", "cnt")),
        middlebox("b", element("Paint", "p", color=7), element("Paint", "q", color=9)),
    ])


def test_repeated_idempotent_element_is_removed_and_says_why():
    plan = compile_chain(two_painters(), check=check)
    names = [n for n, _ in G.elements(plan.graph)]
    # b/p repeats a/p but a/cnt (global state, writes nothing) sits between: still removed
    assert "b/p" not in names and "b/q" in names
    assert plan.removed == [
        ("b/p", "repeats a/p (Paint, same work) and nothing since changes its result")]
    assert "removed b/p" in explain(plan)


def test_write_in_between_keeps_the_repeat():
    chain = Chain("c", [
        middlebox("a", element("Paint", "p", color=7)),
        middlebox("b", element("Paint", "x", color=1), element("Paint", "p", color=7)),
    ])
    plan = compile_chain(chain, check=check)
    assert "b/p" in [n for n, _ in G.elements(plan.graph)]


def test_hoist_stops_at_first_stateful_element():
    plan = compile_chain(two_painters(), check=check)
    stages = plan.stages()
    assert stages[HYPERVISOR] == ["a/strip", "a/p"]
    assert stages["a"] == ["a/cnt"] and stages["b"] == ["b/q"]
    assert plan.boundaries() == [
        {"from": "hypervisor", "to": "a", "annotations": ["length"]},
        {"from": "a", "to": "b", "annotations": []},
    ]


def test_parallel_branch_gets_a_copy_and_its_own_exit():
    chain = Chain("c", [Parallel("par", [
        [middlebox("a", element("Paint", "p", color=1))],
        [middlebox("m", element("Counter", "cnt"))],
    ])])
    plan = compile_chain(chain, check=check)
    assert plan.graph.graph["exits"] == [("chain", 0), ("par", 1)]
    result = run_chain(plan, "msh", Frames([bytes(60)] * 5), capture=True)
    assert sorted(p for p, _ in result.outputs) == [0] * 5 + [1] * 5


@pytest.mark.parametrize("path", ["naive", "msh"])
def test_both_paths_emit_the_same_packets(path):
    frames = [bytes([k]) * (20 + k) for k in range(40)]
    plan = compile_chain(two_painters())
    naive = run_chain(plan, "naive", Frames(frames), batch_size=16, capture=True)
    other = run_chain(plan, path, Frames(frames), batch_size=16, capture=True)
    assert other.outputs == naive.outputs
    assert other.drops_by_middlebox() == naive.drops_by_middlebox()
    assert other.counters.element("a/cnt")["count"] == len(frames)


def test_every_intermediate_dumps_to_yaml_that_loads_back():
    from msh.dump import to_yaml
    from msh.yamlgraph import load

    plan = compile_chain(two_painters(), keep_intermediates=True)
    assert [name for name, _ in plan.intermediates] == [
        "compose_chain", "remove_dead", "cancel_encap", "remove_repeated", "remove_dead",
        "hoist_front", "cache_flows"]
    for name, g in plan.intermediates:
        back = load(f"{name}.yaml", text=to_yaml(g))
        assert set(back.nodes) == set(g.nodes), name
        edges = lambda h: sorted((u, v, d["src_port"], d["dst_port"])
                                 for u, v, d in h.edges(data=True))
        assert edges(back) == edges(g), name
        for node, el in G.elements(g):
            assert back.nodes[node]["element"].config == el.config


def test_dump_connects_every_unconnected_port_to_idle():
    """What the loader would reject -- an output left unconnected, a gap in the graph
    outputs -- the dump connects to Idle (an input feeding one, an output fed by one,
    never the same Idle: no cycle), without touching the graph it is given."""
    from msh.dump import fill_unconnected, to_yaml
    from msh.runtime import Program, run
    from msh.validate import check_graph
    from msh.yamlgraph import load

    g = G.new_graph("gaps")
    for el in (element("Tee", "t"), element("Counter", "c")):
        G.add_element(g, el)
    G.connect(g, G.IN, 0, "t", 0)
    G.connect(g, "t", 0, G.OUT, 0)
    G.connect(g, "t", 2, "c", 0)  # t[1] unconnected
    G.connect(g, "c", 0, G.OUT, 2)  # out[1] unconnected
    assert len(check_graph(g)) == 2
    filled, notes = fill_unconnected(g)
    assert not check_graph(filled) and len(check_graph(g)) == 2
    assert {(u, v, d["src_port"], d["dst_port"]) for u, v, d in filled.edges(data=True)} - {
        (u, v, d["src_port"], d["dst_port"]) for u, v, d in g.edges(data=True)} == {
        ("idle", G.OUT, 0, 1), ("t", "idle_sink", 1, 0)}
    assert [n.split(":")[0] for n in notes] == ["# idle", "# idle_sink"]
    back = load("gaps.yaml", text=to_yaml(g))
    counters = run(Program(back, 16), feed=Frames([bytes(60)] * 5))  # accounting checked
    assert list(counters.exits) == [5, 0, 5]
    assert counters.element("idle_sink")["drops"] == {"discarded": 5}
