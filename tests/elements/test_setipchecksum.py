"""SetIPChecksum: scapy's checksum after corruption, Click's length checks."""

from elementkit import any_frames, compare, example_yaml, make, mark, outcome, run_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, IPOption_RR
from scapy.layers.l2 import Ether

from elements.batch import HEADROOM
from elements.ip.setipchecksum import SetIPChecksum
from msh.yamlgraph import load


def scapy_sum(data: bytes) -> int:
    ip = Ether(data)[IP].copy()
    del ip.chksum
    return IP(bytes(ip)).chksum


@settings(max_examples=150)
@given(st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
       st.sampled_from([[], [IPOption_RR(routers=["1.1.1.1", "2.2.2.2"])]]))
def test_corrupted_checksum_is_restored_to_scapys(ttl, ident, garbage, options):
    good = bytes(Ether() / IP(ttl=ttl, id=ident, options=options) / TCP())
    bad = good[:24] + garbage.to_bytes(2, "big") + good[26:]
    r = compare(make("SetIPChecksum"), [bad], annotations=mark([bad]))
    assert r.results == [0]
    assert r.frames[0] == good
    assert int.from_bytes(r.frames[0][24:26], "big") == scapy_sum(bad)


def test_bad_lengths_as_click():
    el = make("SetIPChecksum")
    data = bytes(Ether() / IP() / TCP())
    ihl15 = data[:14] + b"\x4f" + data[15:]  # 60-byte header, only 40 IP bytes present
    ihl4 = data[:14] + b"\x44" + data[15:]
    frames = [ihl15, ihl4, data[:30], data]
    l3 = {"l3": HEADROOM + 14}
    r = compare(el, frames, annotations=[l3, l3, l3, {}])
    assert [outcome(el, x) for x in r.results] == [
        "drop:bad_lengths", "drop:bad_lengths", "drop:bad_lengths", "drop:no_ip_header"]


@settings(max_examples=150)
@given(st.lists(any_frames(), min_size=1, max_size=8))
def test_kernel_matches_reference(frames):
    compare(make("SetIPChecksum"), frames, annotations=mark(frames))


def test_example_runs():
    g = load("<example>", text=example_yaml(SetIPChecksum))
    good = bytes(Ether() / IP() / TCP())
    seen, _ = run_graph(g, [good[:24] + b"\0\0" + good[26:]])
    assert seen == [(0, good)]
