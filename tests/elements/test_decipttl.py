"""DecIPTTL: Click's expiry rule, RFC 1624 checksum update (checked against scapy)."""

import pytest
from elementkit import any_frames, compare, example_yaml, make, mark, outcome, run_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from elements.ip.decipttl import DecIPTTL
from msh.yamlgraph import load


def frame(ttl: int, dst: str = "10.0.0.2", **kw) -> bytes:
    return bytes(Ether() / IP(dst=dst, ttl=ttl, **kw) / UDP() / b"data")


def run(frames, n_outputs=1, **config):
    el = make("DecIPTTL", **config)
    return el, compare(el, frames, n_outputs=n_outputs, annotations=mark(frames))


@pytest.mark.parametrize("ttl", [2, 64, 255])
def test_decrement_keeps_the_checksum_right(ttl):
    _, r = run([frame(ttl)])
    out = Ether(r.frames[0])
    assert r.results == [0] and out[IP].ttl == ttl - 1
    fresh = out[IP].copy()
    del fresh.chksum
    assert IP(bytes(fresh)).chksum == out[IP].chksum  # scapy recomputes the same value


@settings(max_examples=100)
@given(st.integers(2, 255), st.integers(0, 0xFFFF), st.integers(0, 255), st.binary(max_size=8))
def test_incremental_update_equals_scapy_recompute(ttl, ident, tos, opt):
    opts = [opt + b"\0" * (-len(opt) % 4)] if opt else []
    _, r = run([frame(ttl, id=ident, tos=tos, options=opts)])
    ip = Ether(r.frames[0])[IP]
    fresh = ip.copy()
    del fresh.chksum
    assert IP(bytes(fresh)).chksum == ip.chksum


def test_expired_goes_to_output_1_or_is_dropped_and_counted():
    frames = [frame(1), frame(0), frame(2)]
    el, r = run(frames, n_outputs=2)
    assert r.results == [1, 1, 0] and el.counters(r.state) == {"expired": 2}
    assert r.frames[:2] == frames[:2]  # expired packets are untouched
    el, r = run(frames, n_outputs=1)
    assert [outcome(el, x) for x in r.results] == ["drop:expired", "drop:expired", "out0"]
    assert el.counters(r.state) == {"expired": 2}


def test_multicast_and_active():
    frames = [frame(9, "224.0.0.5"), frame(1, "239.1.1.1"), frame(9, "10.0.0.1")]
    _, r = run(frames, multicast=False)
    assert r.results == [0, 0, 0] and r.frames[:2] == frames[:2]
    assert Ether(r.frames[2])[IP].ttl == 8
    _, r = run(frames, active=False)
    assert r.results == [0, 0, 0] and r.frames == frames
    _, r = run(frames)
    assert r.results == [0, -1, 0] and Ether(r.frames[0])[IP].ttl == 8


def test_without_ip_header():
    el = make("DecIPTTL")
    data = frame(5)
    r = compare(el, [data, data[:30]], annotations=[{}, {"l3": 128 + 14}])
    assert [outcome(el, x) for x in r.results] == ["drop:no_ip_header"] * 2
    r = compare(el, [data], annotations={"l3": 100})  # l3 before the head: stripped away
    assert r.results == [-2]


@settings(max_examples=150)
@given(st.lists(any_frames(), min_size=1, max_size=8), st.sampled_from([1, 2]), st.booleans())
def test_kernel_matches_reference(frames, n_outputs, multicast):
    el = make("DecIPTTL", multicast=multicast)
    compare(el, frames, n_outputs=n_outputs, annotations=mark(frames))


def test_bad_config():
    with pytest.raises(ValidationError, match="valid boolean"):
        DecIPTTL.Config(multicast=3)


def test_example_runs():
    g = load("<example>", text=example_yaml(DecIPTTL))
    seen, counters = run_graph(g, [frame(1), frame(3)])
    assert [port for port, _ in seen] == [-1, 0]
    assert counters.element("ttl")["expired"] == 1
