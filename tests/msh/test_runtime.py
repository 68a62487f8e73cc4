"""The generated walk against a plain-Python walk of the same graph.

The walk inlines every kernel (and its helpers) and runs without reference counting;
the oracle here calls each element's own compiled kernel from Python, one packet and
one element at a time, following the graph's edges. Both must leave every packet with
the same bytes, annotations and fate, and count the same outputs and drops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from elements.batch import ANNOTATIONS, PORT_HELD, clone_row
from elements.element import HELD, lookup
from elements.io.pcapfile import PcapFeed
from msh import graph as G
from msh.runtime import PASS_ROWS, Program, stages
from msh.trace import default_trace
from msh.yamlgraph import load

ROOT = Path(__file__).resolve().parents[2]
GRAPHS = [p for p in sorted((ROOT / "graphs").glob("*.yaml"))
          if G.IN in load(p)]  # graphs fed at `in` (sources make their own packets)
ROWS = 300


def python_walk(program: Program, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Walk rows 0..n-1 (and their clones) with the elements' own kernels."""
    g, b = program.graph, program.batch
    out = np.zeros_like(program.counters.out)
    drops = np.zeros_like(program.counters.drops)
    entry = program.entry(G.IN)
    pending = [(i, *entry) for i in range(n)]
    while pending:
        i, node, inp = pending.pop(0)
        while node >= 0:
            name = program.order[node]
            el, s = program.elements[node], program.states[node]
            succ = G.successors(g, name)
            if el.fanout:
                for port in sorted(p for p in succ if p > 0):
                    j = clone_row(b, i)
                    out[node, port] += 1
                    dst, dport = succ[port]
                    if dst == G.OUT:
                        b.port[j] = dport
                    else:
                        pending.append((j, program.index[dst], dport))
                r = 0
            else:
                r = el.kernel(b, i, s, inp)
            if r == HELD:  # kept by a queue
                b.port[i] = PORT_HELD
                break
            if r < 0:
                drops[node, -1 - r] += 1
                b.port[i] = -1
                break
            out[node, r] += 1
            dst, dport = succ[r]
            if dst == G.OUT:
                b.port[i] = dport
                break
            node, inp = program.index[dst], dport
    return out, drops


def assert_same_rows(generated: Program, oracle: Program) -> None:
    """Both batches hold the same rows: annotations and packet bytes."""
    rows = int(generated.batch.meta[0])
    assert rows == int(oracle.batch.meta[0])
    for name in ANNOTATIONS:
        assert np.array_equal(getattr(generated.batch, name)[:rows],
                              getattr(oracle.batch, name)[:rows]), name
    for i in range(rows):
        h, length = generated.batch.head[i], generated.batch.length[i]
        assert bytes(generated.batch.data[i, h:h + length]) == \
            bytes(oracle.batch.data[i, h:h + length]), f"row {i}"


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_walk_equals_python_walk(path):
    generated, oracle = Program(load(path), 512), Program(load(path), 512)
    feeds = [PcapFeed(default_trace()), PcapFeed(default_trace())]
    n = feeds[0].fill(generated.batch, ROWS)
    feeds[1].fill(oracle.batch, ROWS)
    generated.push(n, generated.entry(G.IN))
    oracle.batch.meta[0] = n
    out, drops = python_walk(oracle, n)
    assert_same_rows(generated, oracle)
    assert np.array_equal(generated.counters.out, out)
    assert np.array_equal(generated.counters.drops, drops)


STAGED = """\
graph: staged
elements:
  check: {kind: CheckIPHeader, config: {offset: 14}}
  nat_a: {kind: IPRewriter, config: {inputs: ["pattern 198.51.100.1 1024-1100 - - 0 0"]}}
  nat_b: {kind: IPRewriter, config: {inputs: ["pattern 203.0.113.1 2000-2050# - - 0 0"]}}
  lb:
    kind: MaglevLB
    config: {vip: 192.168.1.0, vip_prefix: 24, backends: [{addr: 10.9.0.1}, {addr: 10.9.0.2}]}
  gw: {kind: L4Gateway, config: {vip: 10.9.0.1, vport: 80, backend: 10.8.0.1,
                                 backend_port: 8080, source: 10.8.0.2}}
  tee: {kind: Tee}
  bad: {kind: Discard}
connections:
  - in -> check -> nat_a -> nat_b -> lb -> gw -> tee -> out
  - tee[1] -> [3]out
  - check[1] -> bad
  - in[1] -> [1]lb[1] -> [1]out
  - in[2] -> [1]gw[1] -> [2]out
"""


def test_passes_keep_each_element_in_batch_order(tmp_path):
    """Four stage points in a row (two NATs whose small port ranges run out, a
    balancer, a gateway) and a Tee in the last pass: the walk runs in five passes,
    ``PASS_ROWS`` rows at a time, and every element still sees the rows in batch order
    (the Tee's clones after them) -- the same bytes, fates and counts as one packet at
    a time."""
    path = tmp_path / "staged.yaml"
    path.write_text(STAGED)
    generated, oracle = Program(load(path), 512), Program(load(path), 512)
    phase = stages(generated.graph, generated.order)
    assert [phase[n] for n in ("check", "nat_a", "nat_b", "lb", "gw")] == [0, 1, 2, 3, 4]
    feeds = [PcapFeed(default_trace()), PcapFeed(default_trace())]
    for _ in range(3):  # later batches meet the mappings of earlier ones
        n = feeds[0].fill(generated.batch, ROWS)
        feeds[1].fill(oracle.batch, ROWS)
        generated.push(n, generated.entry(G.IN))
        oracle.batch.meta[0] = n
        out, drops = python_walk(oracle, n)
        oracle.counters.out += out
        oracle.counters.drops += drops
        assert_same_rows(generated, oracle)
    assert np.array_equal(generated.counters.out, oracle.counters.out)
    assert np.array_equal(generated.counters.drops, oracle.counters.drops)
    assert generated.counters.drops.sum() > 0  # port exhaustion and the gateway's VIP
    assert generated.counters.exits[3] > 0 and ROWS > 2 * PASS_ROWS  # clones, chunks


def test_passes_follow_edges_and_skip_fanout():
    """A pass never goes back along an edge; a Tee before the last stage point makes
    the walk one pass (its clones come at the end of the batch)."""
    g = load(ROOT / "graphs" / "nat.yaml")
    order = [n for n, _ in G.elements(g)]
    phase = stages(g, order)
    assert max(phase.values()) == 1
    assert all(phase[u] <= phase[v] for u, v in g.edges() if u in phase and v in phase)
    G.add_element(g, _element("Tee", "tee"))
    for u, v, k, d in list(g.out_edges("check_in", keys=True, data=True)):
        if d["src_port"] == 0:
            g.remove_edge(u, v, k)
    G.connect(g, "check_in", 0, "tee", 0)
    G.connect(g, "tee", 0, "nat", 0)
    G.add_element(g, _element("Discard", "sink"))
    G.connect(g, "tee", 1, "sink", 0)
    order = [n for n, _ in G.elements(g)]
    assert set(stages(g, order).values()) == {0}


def _element(kind: str, name: str):
    cls = lookup(kind)
    return cls(name, cls.Config())
