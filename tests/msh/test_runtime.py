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
from elements.element import HELD
from elements.io.pcapfile import PcapFeed
from msh import graph as G
from msh.runtime import Program
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


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_walk_equals_python_walk(path):
    generated, oracle = Program(load(path), 512), Program(load(path), 512)
    feeds = [PcapFeed(default_trace()), PcapFeed(default_trace())]
    n = feeds[0].fill(generated.batch, ROWS)
    feeds[1].fill(oracle.batch, ROWS)
    generated.push(n, generated.entry(G.IN))
    oracle.batch.meta[0] = n
    out, drops = python_walk(oracle, n)
    rows = int(generated.batch.meta[0])
    assert rows == int(oracle.batch.meta[0])
    for name in ANNOTATIONS:
        assert np.array_equal(getattr(generated.batch, name)[:rows],
                              getattr(oracle.batch, name)[:rows]), name
    for i in range(rows):
        h, length = generated.batch.head[i], generated.batch.length[i]
        assert bytes(generated.batch.data[i, h:h + length]) == \
            bytes(oracle.batch.data[i, h:h + length]), f"row {i}"
    assert np.array_equal(generated.counters.out, out)
    assert np.array_equal(generated.counters.drops, drops)
