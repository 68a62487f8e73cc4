"""MarkIPHeader: the annotations CheckIPHeader sets, no checks, never past the packet."""

import pytest
from elementkit import any_frames, compare, example_yaml, make, run_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

from elements.batch import F_FRAG, F_IP, F_L4FULL, F_NONFIRST, F_PORTS, HEADROOM
from elements.ip.markipheader import MarkIPHeader
from elements.net import flow_hash5
from msh.yamlgraph import load


def test_known_annotations():
    data = bytes(Ether() / IP(src="1.2.3.4", dst="5.6.7.8") / UDP(sport=53, dport=5353) / b"q")
    p = compare(make("MarkIPHeader", offset=14), [data]).packets[0]
    assert (p.l3, p.l4, p.proto, p.sport, p.dport) == (HEADROOM + 14, HEADROOM + 34, 17, 53, 5353)
    assert (p.saddr, p.daddr) == (0x01020304, 0x05060708)
    assert p.flags == F_IP | F_PORTS | F_L4FULL
    assert p.flow_hash == flow_hash5(0x01020304, 0x05060708, 53, 5353, 17)
    assert p.dst_anno == 0 and p.length == len(data)  # no dst_anno, no trimming


def test_no_checks_unlike_checkipheader():
    bad = bytearray(bytes(Ether() / IP(dst="9.9.9.9", len=20) / TCP()))
    bad[14] = 0x65  # version 6, IHL 5
    bad[24:26] = b"\0\0"  # wrong checksum
    run = compare(make("MarkIPHeader", offset=14), [bytes(bad)])
    assert run.results == [0] and run.packets[0].daddr == 0x09090909
    # ip.len = 20 ends the IP packet before the TCP header: no ports, not full
    assert run.packets[0].flags == F_IP


def test_fragments_and_transport_presence():
    el = make("MarkIPHeader", offset=14)
    first = bytes(Ether() / IP(flags=1) / TCP(sport=7, dport=8))
    later = bytes(Ether() / IP(frag=3) / TCP(sport=7, dport=8))
    icmp = bytes(Ether() / IP() / ICMP())
    gre = bytes(Ether() / IP(proto=47) / (b"\0" * 30))
    short_tcp = bytes(Ether() / IP(proto=6) / b"\0\x07\0\x08")
    flags = [p.flags for p in compare(el, [first, later, icmp, gre, short_tcp]).packets]
    assert flags == [F_IP | F_FRAG | F_PORTS | F_L4FULL, F_IP | F_FRAG | F_NONFIRST,
                     F_IP | F_L4FULL, F_IP, F_IP | F_PORTS]


def test_too_short_is_dropped_not_read():
    el = make("MarkIPHeader", offset=14)
    data = bytes(Ether() / IP() / TCP())
    run = compare(el, [data[:33], data[:34], b""])
    assert run.results == [-1, 0, -1]
    assert run.packets[0].l3 == -1


@settings(max_examples=200)
@given(st.lists(any_frames(), min_size=1, max_size=8), st.sampled_from([0, 12, 14, 18]))
def test_kernel_matches_reference(frames, offset):
    compare(make("MarkIPHeader", offset=offset), frames)


def test_bad_config():
    with pytest.raises(ValidationError, match="less than or equal to 1024"):
        MarkIPHeader.Config(offset=5000)


def test_example_runs():
    g = load("<example>", text=example_yaml(MarkIPHeader))
    seen, _ = run_graph(g, [bytes(Ether() / IP() / TCP()), b"\0" * 20])
    assert [port for port, _ in seen] == [0, -1]
