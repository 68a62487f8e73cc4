"""Malformed input never crashes an IP/Ethernet element and gets the right counted drop.

Truncated frames, bad checksums and lengths, IP options, fragments, IPv6, ARP, VLAN
tags, random bytes, and nonsense annotations (``l3``/``l4`` anywhere in or out of the
packet). tests/test_modes.py runs these tests again with NUMBA_BOUNDSCHECK=1 (its own
numba cache), so any read or write outside a slot fails loudly there.
"""


import pytest
from elementkit import any_frames, compare, make, mark, outcome, run_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether

from elements.batch import HEADROOM, SLOT_SIZE
from msh.graph import add_element, connect, new_graph

ETH = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
# (kind, config, outputs): every element of this task, in each port arrangement
ELEMENTS = [
    ("CheckIPHeader", {"offset": 14}, 1), ("CheckIPHeader", {"offset": 14}, 2),
    ("CheckIPHeader", {"offset": 0, "checksum": False, "interfaces": ["10.0.0.1/8"]}, 1),
    ("MarkIPHeader", {"offset": 14}, 1), ("DecIPTTL", {}, 1), ("DecIPTTL", {}, 2),
    ("SetIPChecksum", {}, 1), ("SetTCPChecksum", {}, 1), ("SetTCPChecksum", {"fixoff": True}, 1),
    ("SetUDPChecksum", {}, 1), ("SetUDPChecksum", {}, 2), ("PaintSwitch", {}, 3),
    ("Unstrip", {"length": 14}, 1), ("EtherEncap", {"ethertype": 0x86DD, **ETH}, 1),
    ("EtherRewrite", ETH, 1),
]

TCP_FRAME = bytes(Ether() / IP(src="10.0.0.9", dst="10.0.0.1") / TCP() / b"0123456789")


def reasons(kind, config, frames, n_outputs=1, annotations=None):
    el = make(kind, **config)
    return [outcome(el, r) for r in compare(el, frames, n_outputs=n_outputs,
                                            annotations=annotations).results]


def with_byte(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + bytes([value]) + data[at + 1:]


def test_checkipheader_truncated_at_every_length():
    frames = [TCP_FRAME[:n] for n in range(len(TCP_FRAME) + 1)]
    got = reasons("CheckIPHeader", {"offset": 14}, frames)
    assert got == (["drop:tiny_packet"] * 34 + ["drop:bad_ip_len"] * (len(TCP_FRAME) - 34)
                   + ["out0"])


def test_checkipheader_malformed_headers():
    ipv6 = bytes(Ether() / IPv6() / UDP())
    arp = bytes(Ether() / ARP())
    vlan = bytes(Ether() / Dot1Q(vlan=7) / IP() / TCP())
    big_ihl = with_byte(TCP_FRAME, 14, 0x4F)  # a 60-byte header in a 50-byte packet
    cases = {
        "drop:bad_version": [ipv6, arp, vlan, with_byte(TCP_FRAME, 14, 0x05)],
        "drop:bad_hlen": [with_byte(TCP_FRAME, 14, 0x40), with_byte(TCP_FRAME, 14, 0x43)],
        "drop:bad_ip_len": [big_ihl, TCP_FRAME[:16] + b"\xff\xff" + TCP_FRAME[18:],
                            TCP_FRAME[:16] + b"\x00\x00" + TCP_FRAME[18:]],
        "drop:bad_checksum": [with_byte(TCP_FRAME, 25, TCP_FRAME[25] ^ 1),
                              with_byte(TCP_FRAME, 22, 9)],  # TTL changed, sum not
    }
    frames = [f for fs in cases.values() for f in fs]
    want = [r for r, fs in cases.items() for _ in fs]
    assert reasons("CheckIPHeader", {"offset": 14}, frames) == want
    # the VLAN-tagged packet is fine 4 bytes further in
    assert reasons("CheckIPHeader", {"offset": 18}, [vlan]) == ["out0"]


def test_checkipheader_fragments_and_options_pass():
    frames = [bytes(Ether() / IP(flags=1) / UDP() / (b"a" * 16)),
              bytes(Ether() / IP(frag=2) / (b"b" * 8)),
              bytes(Ether() / IP(options=[b"\x01\x01\x01\x00"]) / ICMP())]
    assert reasons("CheckIPHeader", {"offset": 14}, frames) == ["out0"] * 3


def test_checksum_elements_on_fragments_and_truncations():
    later = bytes(Ether() / IP(frag=2, proto=6) / (b"b" * 8))
    udp_first = bytes(Ether() / IP(flags=1) / UDP() / (b"a" * 16))
    tcp = TCP_FRAME
    frames = [later, udp_first, tcp[:40], tcp]
    ann = mark(frames)
    assert reasons("SetTCPChecksum", {}, frames, annotations=ann) == [
        "drop:bad_lengths", "out0", "drop:bad_lengths", "out0"]  # 24-byte UDP: as Click
    assert reasons("SetUDPChecksum", {}, frames, annotations=ann) == [
        "drop:fragment", "drop:fragment", "drop:short", "drop:short"]  # TCP seq 0 as ulen
    assert reasons("SetIPChecksum", {}, frames[:3], annotations=ann[:3]) == ["out0"] * 3
    assert reasons("DecIPTTL", {}, [tcp[:33]], annotations=[{"l3": HEADROOM + 14}]) == [
        "drop:no_ip_header"]


def test_drops_are_counted_by_the_runtime_under_their_reason():
    g = new_graph("check")
    add_element(g, make("CheckIPHeader", "check", offset=14))
    connect(g, "in", 0, "check", 0)
    connect(g, "check", 0, "out", 0)
    frames = [TCP_FRAME, TCP_FRAME[:20], TCP_FRAME[:40], with_byte(TCP_FRAME, 14, 0x65),
              bytes(Ether() / ARP())]
    seen, counters = run_graph(g, frames)
    assert [port for port, _ in seen] == [0, -1, -1, -1, -1]
    assert counters.element("check")["drops"] == {"tiny_packet": 1, "bad_ip_len": 1,
                                                  "bad_version": 2}
    assert counters.element("check")["bad_packets"] == 4


annotation = st.fixed_dictionaries({
    "l3": st.integers(-1, SLOT_SIZE + 64), "l4": st.integers(-1, SLOT_SIZE + 64),
    "head": st.integers(0, HEADROOM), "paint": st.integers(0, 255)})


@pytest.mark.parametrize("kind, config, n_outputs", ELEMENTS)
@settings(max_examples=60)
@given(frames=st.lists(any_frames(), min_size=1, max_size=6), data=st.data())
def test_never_crashes_and_matches_reference(kind, config, n_outputs, frames, data):
    """Parsed (MarkIPHeader's annotations) or nonsense annotations: a valid port or a
    named drop, kernel == reference, nothing written outside the slot."""
    if data.draw(st.booleans()):
        ann = mark(frames)
        for a in ann:
            a["head"] = HEADROOM
    else:
        ann = [data.draw(annotation) for _ in frames]
    el = make(kind, **config)
    run = compare(el, frames, n_outputs=n_outputs, annotations=ann)
    for r in run.results:
        assert 0 <= r < n_outputs or 0 <= -1 - r < len(el.drops)
