"""graphs/vpn-encap.yaml -> graphs/vpn-decap.yaml restores the inner packets."""

from pathlib import Path

from elementkit import run_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import GRE, Ether

from msh.yamlgraph import load

ROOT = Path(__file__).resolve().parents[2]
ENCAP = load(ROOT / "graphs" / "vpn-encap.yaml", params={"mtu": 600})
DECAP = load(ROOT / "graphs" / "vpn-decap.yaml")

frames = st.lists(st.builds(
    lambda data, udp: bytes(Ether() / IP(src="10.1.0.1", dst="10.2.0.2")
                            / (UDP(sport=9, dport=9) if udp else TCP()) / data),
    st.binary(max_size=700), st.booleans()), min_size=1, max_size=6)


@settings(max_examples=30, deadline=None)
@given(frames)
def test_encap_then_decap_restores_inner_packets(inner):
    tunnel, _ = run_graph(ENCAP, inner)
    for (port, frame), original in zip(tunnel, inner):
        too_big = len(original) - 14 + 20 > 600
        assert port == (-1 if too_big else 0)
        if port == 0:
            outer = Ether(frame)[IP]
            assert (outer.src, outer.dst, outer.proto, outer.ttl) == (
                "192.0.2.1", "198.51.100.7", 4, 250)
            assert bytes(outer.payload) == original[14:]
    sent = [frame for port, frame in tunnel if port == 0]
    back, _ = run_graph(DECAP, sent)
    want = [o for o in inner if len(o) - 14 + 20 <= 600]
    assert [port for port, _ in back] == [0] * len(want)
    assert [frame[14:] for _, frame in back] == [o[14:] for o in want]


def test_decap_graph_takes_gre_and_passes_other_traffic():
    inner = bytes(IP(src="10.1.0.1", dst="10.2.0.2") / UDP() / b"hi")
    gre = bytes(Ether() / IP(src="192.0.2.1", dst="198.51.100.7") / GRE(proto=0x0800)
                / IP(inner))
    spoofed = bytes(Ether() / IP(src="6.6.6.6", dst="198.51.100.7") / GRE(proto=0x0800) / IP(inner))
    plain = bytes(Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / UDP())
    seen, counters = run_graph(DECAP, [gre, spoofed, plain])
    assert [port for port, _ in seen] == [0, -1, 0]
    assert seen[0][1][14:] == inner and seen[2][1][14:] == plain[14:]
    assert counters.element("gre")["drops"] == {"wrong_endpoint": 1}
