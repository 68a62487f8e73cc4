"""Strip, Paint, Counter, Tee, Discard: known answers, kernel == reference, examples."""

import pytest
import yaml
from elementkit import any_frames, compare, example_yaml, make, outcome, run_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from elements.batch import HEADROOM
from elements.element import lookup
from msh.graph import add_element, connect, new_graph
from msh.yamlgraph import load

FRAME = bytes(Ether() / IP() / UDP() / b"data")


def test_strip_moves_the_head_and_clamps_at_the_length():
    el = make("Strip", length=14)
    r = compare(el, [FRAME, b"short"], annotations={"l3": HEADROOM + 14})
    assert r.results == [0, 0]
    assert r.frames == [FRAME[14:], b""]
    assert (r.packets[0].head, r.packets[0].l3) == (HEADROOM + 14, HEADROOM + 14)
    assert r.packets[1].head == HEADROOM + 5


@settings(max_examples=100)
@given(st.lists(any_frames(), min_size=1, max_size=6), st.integers(0, 1024))
def test_strip_kernel_matches_reference(frames, length):
    compare(make("Strip", length=length), frames)


def test_paint_sets_the_annotation_only():
    r = compare(make("Paint", color=7), [FRAME], annotations={"paint": 3})
    assert r.results == [0] and r.packets[0].paint == 7 and r.frames == [FRAME]


@settings(max_examples=50)
@given(st.integers(0, 255), st.integers(0, 255))
def test_paint_kernel_matches_reference(color, before):
    compare(make("Paint", color=color), [FRAME], annotations={"paint": before})


def test_counter_counts_packets_and_bytes():
    el = make("Counter")
    r = compare(el, [FRAME, b"abc", b""])
    assert r.results == [0, 0, 0] and r.frames == [FRAME, b"abc", b""]
    assert el.counters(r.state) == {"count": 3, "byte_count": len(FRAME) + 3}


def test_discard_drops_everything():
    el = make("Discard")
    r = compare(el, [FRAME, b""])
    assert [outcome(el, x) for x in r.results] == ["drop:discarded"] * 2


def test_tee_copies_to_every_output():
    g = new_graph("tee")
    for name, kind in (("t", "Tee"), ("a", "Counter"), ("b", "Counter"), ("c", "Counter")):
        add_element(g, make(kind, name))
    connect(g, "in", 0, "t", 0)
    for port, name in enumerate("abc"):
        connect(g, "t", port, name, 0)
        connect(g, name, 0, "out", port)
    seen, counters = run_graph(g, [FRAME, b"xy"])
    assert sorted(seen) == sorted([(p, f) for p in range(3) for f in (FRAME, b"xy")])
    assert [counters.element(n)["count"] for n in "abc"] == [2, 2, 2]


@pytest.mark.parametrize("kind, config, message", [
    ("Strip", {"length": -1}, "greater than or equal to 0"),
    ("Strip", {}, "Field required"),
    ("Paint", {"color": 256}, "less than or equal to 255"),
    ("Paint", {"colour": 1}, "Extra inputs"),
])
def test_bad_config(kind, config, message):
    with pytest.raises(ValidationError, match=message):
        lookup(kind).Config(**config)


@pytest.mark.parametrize("kind", ["Strip", "Paint", "Counter", "Discard", "Tee"])
def test_examples_load(kind):
    """The docstring examples are fragments for these five: their configs validate."""
    text = example_yaml(lookup(kind))
    for decl in yaml.safe_load(text)["elements"].values():
        lookup(decl["kind"]).Config(**decl.get("config", {}))
    if "in ->" in text:
        load("<example>", text=text)
