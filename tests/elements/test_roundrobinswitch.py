"""RoundRobinSwitch: outputs in turn, across batches, kernel == reference."""

from hypothesis import given, settings
from hypothesis import strategies as st

from elements.batch import load_frames, make_batch
from elements.lb.roundrobinswitch import RoundRobinSwitch
from elements.reference import from_batch
from msh import graph as G
from msh.runtime import Program


def test_turns():
    el = RoundRobinSwitch("rr")
    s = el.make_state(3)
    b = make_batch(1)
    load_frames(b, [b"x"])
    assert [el.kernel(b, 0, s, 0) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert el.counters(s) == {"next": 1}


def test_one_output():
    el = RoundRobinSwitch("rr")
    s = el.make_state(1)
    b = make_batch(1)
    assert [el.kernel(b, 0, s, 0) for _ in range(3)] == [0, 0, 0]


def test_in_a_graph_across_batches():
    g = G.new_graph("rr")
    G.add_element(g, RoundRobinSwitch("rr"))
    G.connect(g, G.IN, 0, "rr", 0)
    for k in range(3):
        G.connect(g, "rr", k, G.OUT, k)
    prog = Program(g, batch_size=4)
    ports = []
    for _ in range(3):  # 3 batches of 4 packets: the turn carries over
        load_frames(prog.batch, [b"p"] * 4)
        b = prog.push(4, prog.entry(G.IN))
        ports += [int(x) for x in b.port[:4]]
    assert ports == [0, 1, 2] * 4
    assert list(prog.finish().exits) == [4, 4, 4]


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 9), st.integers(1, 40))
def test_kernel_matches_reference(n, count):
    el = RoundRobinSwitch("rr")
    s = el.make_state(n)
    b = make_batch(1)
    load_frames(b, [b"x"])
    pkt = from_batch(b, 0)
    for _ in range(count):
        assert el.kernel(b, 0, s, 0) == el.reference(pkt, 0)


def test_docstring_example_runs():
    from elementkit import example_yaml, run_graph

    from msh.yamlgraph import load

    seen, _ = run_graph(load("<example>", text=example_yaml(RoundRobinSwitch)), [b"x"] * 5)
    assert [port for port, _ in seen] == [0, 1, 0, 1, 0]
