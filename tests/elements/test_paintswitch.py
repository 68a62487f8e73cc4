"""PaintSwitch: output = paint; too high or "all" (255) is a counted drop."""

from elementkit import compare, example_yaml, make, outcome, run_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from elements.standard.paintswitch import PaintSwitch
from msh.yamlgraph import load


def test_routes_by_paint():
    el = make("PaintSwitch")
    paints = [0, 2, 3, 255, 1]
    r = compare(el, [b"p"] * 5, n_outputs=3, annotations=[{"paint": p} for p in paints])
    assert [outcome(el, x) for x in r.results] == [
        "out0", "out2", "drop:no_output", "drop:paint_all", "out1"]


@settings(max_examples=100)
@given(st.lists(st.integers(0, 255), min_size=1, max_size=10), st.integers(0, 300))
def test_kernel_matches_reference(paints, n_outputs):
    compare(make("PaintSwitch"), [b"x"] * len(paints), n_outputs=n_outputs,
            annotations=[{"paint": p} for p in paints])


def test_example_runs():
    g = load("<example>", text=example_yaml(PaintSwitch))
    seen, counters = run_graph(g, [bytes(Ether() / IP())])
    assert seen[0][0] == 0 and counters.element("a")["count"] == 1
