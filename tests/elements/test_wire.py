"""Wire: every packet leaves on output 0, bytes and annotations untouched."""

import numpy as np
from scapy.layers.inet import IP, UDP

from elements.batch import load_frames, make_batch
from elements.element import lookup
from elements.standard.wire import Wire
from msh import graph as G
from msh.runtime import Program, run


class Feed:
    """Frames fed to a graph's ``in`` by ``msh.runtime.run``."""

    def __init__(self, frames):
        self.frames = frames

    def fill(self, b, n):
        take, self.frames = self.frames[:n], self.frames[n:]
        return load_frames(b, take) if take else 0


def test_wire_in_a_graph_passes_everything_unchanged():
    frames = [bytes(IP(dst=f"10.0.0.{k}") / UDP(dport=k)) for k in range(1, 40)] + [b"", b"x"]
    g = G.new_graph("wire")
    G.add_element(g, Wire("w"))
    G.connect(g, G.IN, 0, "w", 0)
    G.connect(g, "w", 0, G.OUT, 0)
    prog = Program(g, batch_size=16)
    seen = []
    c = run(prog, feed=Feed(list(frames)), on_batch=lambda b: seen.extend(
        bytes(b.data[i, b.head[i]: b.head[i] + b.length[i]]) for i in range(b.meta[0])
        if b.port[i] == 0))
    assert seen == frames
    assert c.exits[0] == len(frames) and c.total_dropped() == 0


def test_wire_kernel_and_reference():
    b = make_batch(1)
    load_frames(b, [b"abc"])
    before = b.data.copy()
    assert Wire.kernel(b, 0, Wire("w").make_state(1), 0) == 0
    assert np.array_equal(before, b.data)
    assert lookup("Wire") is Wire


def test_docstring_example_and_graph_file():
    from pathlib import Path

    from elementkit import example_yaml, run_graph

    from msh.yamlgraph import load

    frames = [b"", b"abc", bytes(IP() / UDP())]
    for g in (load("<example>", text=example_yaml(Wire)),
              load(Path(__file__).resolve().parents[2] / "graphs" / "wire.yaml")):
        seen, _ = run_graph(g, frames)
        assert seen == [(0, f) for f in frames]
