"""Tunnels: IPEncap/IPDecap (IP-in-IP) and GREEncap/GREDecap, with scapy as the oracle
for the outer headers and exact round trips."""

import pytest
from elementkit import any_frames, compare, example_yaml, make, mark, outcome, run_graph, run_kernel
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import GRE

from elements.batch import F_IP, HEADROOM, load_frames, make_batch, packet_bytes
from elements.net import mark_ip
from elements.tunnel.gredecap import GREDecap
from elements.tunnel.greencap import GREEncap
from elements.tunnel.ipdecap import IPDecap
from elements.tunnel.ipencap import IPEncap
from msh.yamlgraph import load

LOCAL, REMOTE = "192.0.2.1", "198.51.100.7"


def inner(payload=b"hello", **kw):
    return bytes(IP(src="10.1.1.1", dst="10.2.2.2", **kw) / TCP(sport=1, dport=2) / payload)


def encap(el, frames):
    """Run an encapsulating kernel on raw IP frames (l3 marked at the head)."""
    return run_kernel(el, frames, annotations=mark(frames, offset=0))


def test_ipencap_matches_click_and_scapy():
    el = make("IPEncap", proto=4, src=LOCAL, dst=REMOTE, df=True, tos=0x10)
    frames = [inner(), inner(b"x" * 100)]
    got = encap(el, frames)
    assert got.results == [0, 0]
    for k, (pkt, frame) in enumerate(zip(got.packets, frames)):
        outer = IP(pkt.frame)
        assert (outer.version, outer.ihl, outer.tos, outer.len) == (4, 5, 0x10, len(frame) + 20)
        assert (outer.id, outer.flags, outer.frag, outer.ttl, outer.proto) == (k, 2, 0, 250, 4)
        assert (outer.src, outer.dst) == (LOCAL, REMOTE)
        want = outer.chksum
        del outer.chksum
        assert IP(bytes(outer)).chksum == want
        assert bytes(outer.payload) == frame
        assert pkt.head == HEADROOM - 20 and pkt.l3 == pkt.head and pkt.l4 == HEADROOM
        assert pkt.proto == 4 and pkt.dst_anno == 0xC6336407 and pkt.flags & F_IP


@pytest.mark.parametrize("key,checksum,seq", [(None, False, False), (7, True, True),
                                              (0xFFFFFFFF, False, True), (None, True, False)])
def test_greencap_matches_scapy(key, checksum, seq):
    el = make("GREEncap", src=LOCAL, dst=REMOTE, key=key, checksum=checksum, seq=seq)
    frames = [inner(), inner(b"odd")]
    got = encap(el, frames)
    for k, (pkt, frame) in enumerate(zip(got.packets, frames)):
        outer = IP(pkt.frame)
        assert outer.proto == 47 and outer.len == len(pkt.frame)
        gre = outer[GRE]
        assert gre.proto == 0x0800 and gre.version == 0 and gre.routing_present == 0
        assert gre.chksum_present == checksum and gre.key_present == (key is not None)
        assert gre.seqnum_present == seq
        if key is not None:
            assert gre.key == key
        if seq:
            assert gre.sequence_number == k
        if checksum:
            want = gre.chksum
            rebuilt = GRE(bytes(gre))
            del rebuilt.chksum
            assert GRE(bytes(rebuilt)).chksum == want
        assert bytes(gre.payload) == frame


def roundtrip(enc, dec, frames):
    b = make_batch(len(frames))
    load_frames(b, frames)
    results = []
    s_enc, s_dec = enc.make_state(1), dec.make_state(1)
    for i in range(len(frames)):
        mark_ip(b, i, HEADROOM)
        r = enc.kernel(b, i, s_enc, 0)
        if r == 0:
            r = dec.kernel(b, i, s_dec, 0)
        results.append((int(r), packet_bytes(b, i), int(b.l3[i]), int(b.proto[i])))
    return results


inner_packets = st.builds(
    lambda payload, proto, opts, pad: bytes(
        IP(src="10.0.0.1", dst="10.0.0.2", options=[b"\x01"] * opts)
        / (TCP() if proto else UDP()) / payload),
    st.binary(max_size=1400), st.booleans(), st.sampled_from([0, 4]), st.booleans())


@settings(max_examples=100, deadline=None)
@given(st.lists(inner_packets, min_size=1, max_size=8),
       st.sampled_from(["ipip", "gre", "gre-key", "gre-all"]))
def test_encap_decap_restores_the_exact_bytes(frames, kind):
    if kind == "ipip":
        enc = make("IPEncap", proto=4, src=LOCAL, dst=REMOTE)
        dec = make("IPDecap", src=LOCAL, dst=REMOTE)
    else:
        opts = {"gre": {}, "gre-key": {"key": 9}, "gre-all": {"key": 9, "checksum": True,
                                                               "seq": True}}[kind]
        enc = make("GREEncap", src=LOCAL, dst=REMOTE, **opts)
        dec = make("GREDecap", src=LOCAL, **({"key": 9} if "key" in opts else {}))
    for (r, data, l3, proto), frame in zip(roundtrip(enc, dec, frames), frames):
        assert (r, data) == (0, frame)
        assert l3 == HEADROOM and proto == frame[9]


def test_mtu_drops_and_counts():
    el = make("IPEncap", proto=4, src=LOCAL, dst=REMOTE, mtu=100)
    got = encap(el, [inner(b"x" * 40), inner(b"x" * 41)])  # 80 + 20 = 100 fits; 101 not
    assert [outcome(el, r) for r in got.results] == ["out0", "drop:too_big"]
    gre = make("GREEncap", src=LOCAL, dst=REMOTE, key=1, mtu=108)
    got = encap(gre, [inner(b"x" * 40), inner(b"x" * 41)])
    assert [outcome(gre, r) for r in got.results] == ["out0", "drop:too_big"]


def decap(el, frames):
    return [outcome(el, r) for r in run_kernel(el, frames, annotations=mark(frames, 0)).results]


def test_gredecap_known_drops():
    body = inner()
    ok = IP(src=REMOTE, dst=LOCAL) / GRE(proto=0x0800, key_present=1, key=5, chksum_present=1) / body
    good = bytes(ok)
    bad_sum = bytearray(good)
    bad_sum[24] ^= 0xFF
    routing = bytearray(bytes(IP(src=REMOTE, dst=LOCAL) / GRE(proto=0x0800) / body))
    routing[20] |= 0x40
    version = bytearray(bytes(IP(src=REMOTE, dst=LOCAL) / GRE(proto=0x0800) / body))
    version[21] |= 0x01
    frames = [good, bytes(bad_sum), bytes(IP(src=REMOTE, dst=LOCAL) / GRE(proto=0x0800, key_present=1, key=6)
                                         / body),
              bytes(IP(src=REMOTE, dst=LOCAL) / GRE(proto=0x0800) / body), bytes(routing), bytes(version),
              bytes(IP(src=REMOTE, dst=LOCAL) / GRE(proto=0x86DD) / body),
              bytes(IP(src=REMOTE, dst=LOCAL, proto=47) / b"\x00\x00"),
              bytes(IP(src="1.1.1.1", dst=LOCAL) / GRE(proto=0x0800, key_present=1, key=5) / body),
              bytes(IP(src=REMOTE, dst=LOCAL) / UDP()),
              bytes(IP(src=REMOTE, dst=LOCAL, flags=1) / GRE(proto=0x0800, key_present=1, key=5) / body),
              bytes(IP(src=REMOTE, dst=LOCAL) / GRE(proto=0x0800, key_present=1, key=5) / body[:19]),
              b"\x45" + bytes(10)]
    el = make("GREDecap", src=REMOTE, dst=LOCAL, key=5)
    assert decap(el, frames) == [
        "out0", "drop:bad_checksum", "drop:wrong_key", "drop:wrong_key", "drop:bad_gre",
        "drop:bad_gre", "drop:not_ipv4_payload", "drop:bad_gre", "drop:wrong_endpoint",
        "drop:not_gre", "drop:fragment", "drop:bad_inner", "drop:not_ip"]


def test_scapy_built_ipip_is_decapsulated():
    body = inner(b"payload")
    frames = [bytes(IP(src=REMOTE, dst=LOCAL) / IP(body)) + b"\0" * 6,  # outer padding goes
              bytes(IP(src=REMOTE, dst=LOCAL) / UDP()),
              bytes(IP(src=REMOTE, dst=LOCAL, proto=4) / body[:30])]
    el = make("IPDecap")
    got = run_kernel(el, frames, annotations=mark(frames, 0))
    assert [outcome(el, r) for r in got.results] == ["out0", "drop:not_ipip", "drop:bad_inner"]
    pkt = got.packets[0]
    assert pkt.frame == body
    assert (pkt.saddr, pkt.sport, pkt.dport, pkt.dst_anno) == (0x0A010101, 1, 2, 0x0A020202)


@settings(max_examples=200, deadline=None)
@given(st.lists(any_frames(ether=False), min_size=1, max_size=10))
def test_malformed_packets_never_crash(frames):
    frames = [f for f in frames if len(f) <= 1900]
    for el in (make("IPDecap"), make("GREDecap"), make("GREDecap", key=3)):
        got = run_kernel(el, frames, annotations=mark(frames, 0))
        for r, pkt in zip(got.results, got.packets):
            if r == 0:
                assert pkt.frame[0] >> 4 == 4 and len(pkt.frame) >= 20
    for el in (make("IPEncap", proto=4, src=LOCAL, dst=REMOTE),
               make("GREEncap", src=LOCAL, dst=REMOTE, checksum=True)):
        got = run_kernel(el, frames)
        assert all(r == 0 for r in got.results)


@pytest.mark.parametrize("cls,frame,out", [
    (IPEncap, inner(), bytes(IP(src=LOCAL, dst=REMOTE, ttl=250, id=0) / IP(inner()))),
    (IPDecap, bytes(IP(src=REMOTE, dst=LOCAL) / IP(inner())), inner()),
    (GREEncap, inner(), bytes(IP(src=LOCAL, dst=REMOTE, ttl=250, id=0)
                              / GRE(proto=0x0800, key_present=1, key=42, chksum_present=1)
                              / IP(inner()))),
    (GREDecap, bytes(IP(src=REMOTE, dst=LOCAL) / GRE(proto=0x0800, key_present=1, key=42)
                     / IP(inner())), inner()),
])
def test_examples_load_and_run(cls, frame, out):
    g = load("<example>", text=example_yaml(cls))
    seen, _counters = run_graph(g, [frame])
    assert seen == [(0, out)]


@pytest.mark.parametrize("kind,config,message", [
    ("IPEncap", {"src": LOCAL, "dst": REMOTE}, "proto"),
    ("IPEncap", {"proto": 4, "src": "1.2.3", "dst": REMOTE}, "expected an IPv4 address"),
    ("IPEncap", {"proto": 4, "src": LOCAL, "dst": REMOTE, "mtu": 20}, "greater than or equal to 68"),
    ("GREEncap", {"src": LOCAL, "dst": REMOTE, "key": -1}, "greater than or equal to 0"),
    ("GREDecap", {"keys": 1}, "Extra inputs are not permitted"),
])
def test_bad_config(kind, config, message):
    with pytest.raises(ValidationError, match=message):
        make(kind, **config)


@settings(max_examples=100, deadline=None)
@given(st.lists(any_frames(ether=False) | inner_packets, min_size=1, max_size=6),
       st.sampled_from([
           ("IPEncap", {"proto": 4, "src": LOCAL, "dst": REMOTE, "mtu": 600, "df": True}),
           ("GREEncap", {"src": LOCAL, "dst": REMOTE, "key": 5, "checksum": True, "seq": True,
                         "mtu": 700}),
           ("GREEncap", {"src": LOCAL, "dst": REMOTE}),
           ("IPDecap", {}), ("IPDecap", {"src": REMOTE}),
           ("GREDecap", {}), ("GREDecap", {"key": 5, "dst": LOCAL})]))
def test_kernel_equals_reference(frames, kind_config):
    kind, config = kind_config
    frames = [f for f in frames if len(f) <= 1900]
    if kind.endswith("Decap"):  # give the decapsulators some real tunnel packets too
        frames += [bytes(IP(src=REMOTE, dst=LOCAL, proto=4) / f) for f in frames[:2]]
        frames += [bytes(IP(src=REMOTE, dst=LOCAL) / GRE(proto=0x0800, key_present=1, key=5,
                                                       chksum_present=1) / f)
                   for f in frames[:2]]
    compare(make(kind, **config), frames, annotations=mark(frames, 0))
