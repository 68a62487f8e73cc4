"""SetTCPChecksum: scapy's checksum (source routes included), Click's length checks,
FIXOFF."""

import pytest
from elementkit import any_frames, compare, example_yaml, make, mark, outcome, run_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scapy.layers.inet import IP, TCP, IPOption_LSRR, IPOption_NOP, IPOption_SSRR, in4_chksum
from scapy.layers.l2 import Ether

from elements.ip.settcpchecksum import SetTCPChecksum
from msh.yamlgraph import load

ROUTES = [[], [IPOption_NOP(), IPOption_LSRR(routers=["1.2.3.4", "9.8.7.6"])],
          [IPOption_SSRR(routers=["4.4.4.4"])]]


def scapy_tcp_sum(data: bytes) -> int:
    p = Ether(data)
    del p[TCP].chksum
    return Ether(bytes(p))[TCP].chksum


@settings(max_examples=150)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=40),
       st.sampled_from(ROUTES), st.integers(0, 0xFFFF))
def test_corrupted_checksum_is_restored_to_scapys(sport, dport, payload, options, garbage):
    good = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2", options=options)
                 / TCP(sport=sport, dport=dport) / payload)
    at = 14 + (good[14] & 15) * 4 + 16
    bad = good[:at] + garbage.to_bytes(2, "big") + good[at + 2:]
    r = compare(make("SetTCPChecksum"), [bad], annotations=mark([bad]))
    assert r.results == [0] and r.frames[0] == good
    assert int.from_bytes(good[at : at + 2], "big") == scapy_tcp_sum(bad)


def test_bad_lengths_as_click():
    el = make("SetTCPChecksum")
    data = bytes(Ether() / IP() / TCP() / b"abc")
    short_seg = bytes(Ether() / IP(proto=6) / (b"\0" * 19))  # 19-byte segment
    long_len = data[:16] + (len(data) - 13).to_bytes(2, "big") + data[18:]  # past the end
    frames = [short_seg, long_len, data[:30], data]
    ann = mark(frames)
    ann[3] = {}
    r = compare(el, frames, annotations=ann)
    assert [outcome(el, x) for x in r.results] == [
        "drop:bad_lengths", "drop:bad_lengths", "drop:no_ip_header", "drop:no_ip_header"]


def test_fixoff_repairs_data_offset_as_click():
    data = bytes(Ether() / IP() / TCP() / (b"x" * 8))  # 28-byte segment
    low = data[:46] + b"\x20" + data[47:]  # offset 2 -> 5
    high = data[:46] + b"\xf0" + data[47:]  # offset 15 (60 bytes) -> 28 // 4 = 7
    frag = bytes(Ether() / IP(flags=1) / TCP(dataofs=15) / (b"x" * 8))
    frames = [low, high, frag]
    r = compare(make("SetTCPChecksum", fixoff=True), frames, annotations=mark(frames))
    assert [f[46] >> 4 for f in r.frames] == [5, 7, 15]
    for f in r.frames:  # scapy would re-encode the odd options: verify the raw bytes
        assert in4_chksum(6, Ether(f)[IP], f[34:]) == 0
    plain = compare(make("SetTCPChecksum"), frames, annotations=mark(frames))
    assert [f[46] >> 4 for f in plain.frames] == [2, 15, 15]


def test_fixoff_declares_its_write():
    assert make("SetTCPChecksum").writes == ("tcp.sum",)
    assert make("SetTCPChecksum", fixoff=True).writes == ("tcp",)


@settings(max_examples=150)
@given(st.lists(any_frames(), min_size=1, max_size=8), st.booleans())
def test_kernel_matches_reference(frames, fixoff):
    compare(make("SetTCPChecksum", fixoff=fixoff), frames, annotations=mark(frames))


def test_bad_config():
    with pytest.raises(ValidationError, match="Extra inputs"):
        SetTCPChecksum.Config(fix_off=True)


def test_example_runs():
    g = load("<example>", text=example_yaml(SetTCPChecksum))
    good = bytes(Ether() / IP() / TCP() / b"hi")
    seen, _ = run_graph(g, [good[:50] + b"\0\0" + good[52:]])
    assert seen == [(0, good)]
