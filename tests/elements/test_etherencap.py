"""EtherEncap: the header scapy expects, pushed into the headroom."""

import pytest
from elementkit import any_frames, compare, example_yaml, make, outcome, run_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from elements.batch import HEADROOM
from elements.ethernet.etherencap import EtherEncap
from msh.yamlgraph import load

CONFIG = {"ethertype": 0x0800, "src": "00:11:22:33:44:55", "dst": "66-77-88-99-AA-BB"}


def test_header_matches_scapy():
    ip = bytes(IP(dst="1.2.3.4") / UDP() / b"x")
    r = compare(make("EtherEncap", **CONFIG), [ip], annotations={"l3": HEADROOM})
    assert r.results == [0]
    assert r.frames[0] == bytes(Ether(src="00:11:22:33:44:55", dst="66:77:88:99:aa:bb") / IP(ip))
    assert (r.packets[0].head, r.packets[0].l3) == (HEADROOM - 14, HEADROOM)


def test_no_headroom_is_dropped():
    el = make("EtherEncap", **CONFIG)
    r = compare(el, [b"abc", b"abc"], annotations=[{"head": 13}, {"head": 14}])
    assert [outcome(el, x) for x in r.results] == ["drop:no_headroom", "out0"]
    assert r.packets[1].head == 0


@settings(max_examples=100)
@given(st.lists(any_frames(), min_size=1, max_size=6), st.integers(0, 0xFFFF))
def test_kernel_matches_reference(frames, ethertype):
    compare(make("EtherEncap", **{**CONFIG, "ethertype": ethertype}), frames)


@pytest.mark.parametrize("config, message", [
    ({**CONFIG, "src": "00:11:22:33:44"}, "expected an Ethernet address"),
    ({**CONFIG, "dst": "00:11:22:33:44:zz"}, "expected an Ethernet address"),
    ({**CONFIG, "ethertype": 0x10000}, "less than or equal to 65535"),
    ({"src": "00:11:22:33:44:55", "dst": "00:11:22:33:44:55"}, "ethertype"),
])
def test_bad_config(config, message):
    with pytest.raises(ValidationError, match=message):
        EtherEncap.Config(**config)


def test_example_runs():
    g = load("<example>", text=example_yaml(EtherEncap))
    seen, _ = run_graph(g, [bytes(Ether() / IP() / UDP())])
    assert Ether(seen[0][1]).src == "00:11:22:33:44:55" and seen[0][0] == 0
