"""EtherRewrite: new addresses, the rest of the frame untouched."""

from elementkit import any_frames, compare, example_yaml, make, outcome, run_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Dot1Q, Ether

from elements.ethernet.etherrewrite import EtherRewrite
from msh.yamlgraph import load

CONFIG = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}


def test_rewrites_addresses_only():
    frames = [bytes(Ether() / IP() / TCP()), bytes(Ether() / Dot1Q(vlan=5) / IP())]
    r = compare(make("EtherRewrite", **CONFIG), frames)
    for before, after in zip(frames, r.frames):
        e = Ether(after)
        assert (e.src, e.dst) == ("02:00:00:00:00:01", "02:00:00:00:00:02")
        assert after[12:] == before[12:]


def test_too_short():
    el = make("EtherRewrite", **CONFIG)
    r = compare(el, [b"\1" * 11, b"\1" * 12])
    assert [outcome(el, x) for x in r.results] == ["drop:too_short", "out0"]
    assert r.frames[0] == b"\1" * 11


@settings(max_examples=100)
@given(st.lists(any_frames(), min_size=1, max_size=6))
def test_kernel_matches_reference(frames):
    compare(make("EtherRewrite", **CONFIG), frames)


def test_example_runs():
    g = load("<example>", text=example_yaml(EtherRewrite))
    seen, _ = run_graph(g, [bytes(Ether() / IP())])
    assert Ether(seen[0][1]).dst == "66:77:88:99:aa:bb"
