"""Unstrip: the stripped bytes come back; no headroom is a counted drop."""

from elementkit import any_frames, compare, example_yaml, make, outcome, run_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from elements.batch import HEADROOM
from elements.standard.unstrip import Unstrip
from msh.yamlgraph import load


def test_head_moves_back_over_the_headroom():
    data = bytes(Ether() / IP())
    r = compare(make("Unstrip", length=14), [data[14:]],
                annotations={"head": HEADROOM + 14, "l3": HEADROOM + 14})
    assert r.results == [0]
    # the slot held zeros before the head: those bytes come back
    assert r.frames[0] == b"\0" * 14 + data[14:] and r.packets[0].l3 == HEADROOM + 14


def test_no_headroom():
    el = make("Unstrip", length=14)
    r = compare(el, [b"x", b"x"], annotations=[{"head": 13}, {"head": 14}])
    assert [outcome(el, x) for x in r.results] == ["drop:no_headroom", "out0"]
    assert r.packets[0].length == 1 and r.packets[1].length == 15


@settings(max_examples=100)
@given(st.lists(any_frames(), min_size=1, max_size=6), st.integers(0, 200),
       st.integers(0, HEADROOM))
def test_kernel_matches_reference(frames, length, head):
    compare(make("Unstrip", length=length), frames, annotations={"head": head})


def test_example_runs():
    data = bytes(Ether() / IP())
    seen, _ = run_graph(load("<example>", text=example_yaml(Unstrip)), [data])
    assert seen == [(0, data)]
