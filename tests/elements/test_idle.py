"""Idle: never sends a packet; one pushed to it is dropped as ``discarded``."""

import pytest
from elementkit import any_frames, compare, example_yaml, make, outcome, run_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from elements.element import lookup
from elements.ports import UNBOUNDED
from elements.standard.idle import Idle
from msh import graph as G
from msh.errors import GraphError
from msh.validate import check_graph
from msh.yamlgraph import load

FRAME = bytes(Ether() / IP(dst="10.0.0.100") / TCP(dport=80))
TO_VIP = bytes(IP(src="10.1.0.1", dst="10.0.0.100") / TCP(sport=4000, dport=80))


def test_lookup_ports_and_no_config():
    assert lookup("Idle") is Idle
    spec = Idle.port_spec()
    assert (spec.inputs.low, spec.inputs.high) == (0, UNBOUNDED)
    assert (spec.outputs.low, spec.outputs.high) == (0, UNBOUNDED)
    with pytest.raises(ValidationError, match="Extra inputs"):
        Idle.Config(count=1)


@pytest.mark.parametrize("inp", [0, 1, 7])
def test_a_packet_pushed_to_any_input_is_discarded(inp):
    el = make("Idle")
    r = compare(el, [FRAME, b"", b"x"], inp=inp, n_outputs=3)
    assert [outcome(el, x) for x in r.results] == ["drop:discarded"] * 3
    assert r.frames == [FRAME, b"", b"x"]  # bytes and annotations untouched


@settings(max_examples=50)
@given(st.lists(any_frames(), min_size=1, max_size=6), st.integers(0, 4))
def test_kernel_matches_reference(frames, inp):
    compare(make("Idle"), frames, inp=inp)


def test_unconnected_idle_is_a_valid_element():
    """No port of Idle needs a connection, on either side."""
    g = G.new_graph("lonely")
    G.add_element(g, Idle("idle"))
    G.add_element(g, lookup("Wire")("w"))
    G.connect(g, G.IN, 0, "w", 0)
    G.connect(g, "w", 0, G.OUT, 0)
    assert not check_graph(g)


def test_example_feeds_the_reply_input_and_sends_nothing():
    text = example_yaml(Idle)
    g = load("<example>", text=text)
    seen, counters = run_graph(g, [TO_VIP, TO_VIP, b"junk"])
    assert [port for port, _ in seen] == [0, 0, -1]
    idle = counters.element("idle")
    assert not any(idle["out"]) and not idle["drops"]
    # without the Idle the balancer's reply input is unconnected, which the loader rejects
    bare = "\n".join(line for line in text.splitlines() if "idle" not in line)
    with pytest.raises(GraphError, match="input 1 of 'lb :: MaglevLB' is not connected"):
        load("<example>", text=bare + "\n  - lb[1] -> [1]out\n")


def test_packets_sent_to_idle_are_counted_drops():
    """Idle's input takes a Tee's copy: the runtime's accounting still balances."""
    g = G.new_graph("tee-idle")
    for el in (lookup("Tee")("t"), Idle("idle")):
        G.add_element(g, el)
    G.connect(g, G.IN, 0, "t", 0)
    G.connect(g, "t", 0, G.OUT, 0)
    G.connect(g, "t", 1, "idle", 0)
    seen, counters = run_graph(g, [FRAME, b"ab"])  # finish() checks the accounting
    assert sorted(port for port, _ in seen if port >= 0) == [0, 0]
    assert counters.element("idle")["drops"] == {"discarded": 2}
