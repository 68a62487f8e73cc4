"""IPRewriter kernel == the plain-Python reference NAT on random flow sequences: small
address and port pools so that port collisions, exhaustion, replies, capacity
eviction and expiry all happen; malformed and truncated packets mixed in. Every
rewritten packet keeps valid checksums (scapy)."""

from elementkit import junk_frames, make
from hypothesis import given, settings
from hypothesis import strategies as st
from nat_helpers import checksums_ok, run_timed
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

PUB = "10.9.9.1"
INSIDE = ["10.0.0.1", "10.0.0.2"]
OUTSIDE = ["8.8.8.8", "9.9.9.9"]
PORTS = [1000, 1001, 1002, 5]

forward_specs = st.sampled_from([
    f"pattern {PUB} 1000-1002 - - 0 1", f"pattern {PUB} 1000-1002# - - 0 1",
    f"pattern {PUB} 1000-1002? - - 0 1", f"pattern {PUB} 1000 - - 0 1",
    f"pattern {PUB} - - 80 0 1", "pattern 10.9.9.1-10.9.9.2 - 0 1", "keep 0 1",
    f"roundrobin {PUB} 1000-1001# - - 0 1 | 10.9.9.2 1000-1001 - - 1 0"])
reply_specs = st.sampled_from(["drop", "pass 1", "keep 1 0", f"pattern {PUB} 1000-1001# - - 1 0"])

configs = st.fixed_dictionaries({
    "inputs": st.tuples(forward_specs, reply_specs).map(list),
    "capacity": st.sampled_from([1, 2, 3, 16]),
    "seed": st.integers(0, 3),
    "tcp_nodata_timeout": st.just(5), "tcp_timeout": st.just(20),
    "tcp_done_timeout": st.just(2), "tcp_guarantee": st.sampled_from([0, 1, 3]),
    "udp_timeout": st.just(4), "udp_streaming_timeout": st.sampled_from([None, 9]),
    "udp_guarantee": st.sampled_from([0, 2]),
})


@st.composite
def packet(draw):
    if draw(st.integers(0, 15)) == 0:
        return draw(junk_frames()), draw(st.integers(0, 1)), False
    inbound = draw(st.booleans())
    proto = draw(st.sampled_from(["tcp", "udp", "udp0", "icmp"]))
    here, there = draw(st.sampled_from(INSIDE)), draw(st.sampled_from(OUTSIDE))
    if inbound:
        src, dst = there, draw(st.sampled_from([PUB, "10.9.9.2", INSIDE[0]]))
        sport, dport = draw(st.sampled_from([80, 81])), draw(st.sampled_from(PORTS))
    else:
        src, dst = here, there
        sport, dport = draw(st.sampled_from(PORTS)), draw(st.sampled_from([80, 81]))
    payload = draw(st.sampled_from([b"", b"data"]))
    frag = draw(st.sampled_from([0, 0, 0, 0, 3]))
    ip = IP(src=src, dst=dst, frag=frag)
    if proto == "tcp":
        l4 = TCP(sport=sport, dport=dport, flags=draw(st.sampled_from(["S", "SA", "A", "PA",
                                                                        "FA", "R"])))
    elif proto == "icmp":
        l4 = b"\x08\x00\x00\x00\x00\x01\x00\x01"
    else:
        l4 = UDP(sport=sport, dport=dport, chksum=0) if proto == "udp0" else UDP(sport=sport,
                                                                                dport=dport)
    frame = bytes(Ether() / ip / l4 / payload)
    cut = draw(st.sampled_from([None] * 6 + [30, 38, 42, 46, 50]))
    whole = not cut and not frag and proto != "icmp"
    return (frame[:cut] if cut else frame), int(inbound), whole


@settings(max_examples=120)
@given(configs, st.lists(st.tuples(packet(), st.integers(0, 3_500_000_000)), max_size=40))
def test_kernel_matches_reference(config, events):
    el = make("IPRewriter", **config)
    frames = [f for (f, _, _), _ in events]
    inputs = [inp for (_, inp, _), _ in events]
    times, now = [], 0
    for _, dt in events:
        now += dt
        times.append(now)
    got = run_timed(el, frames, inputs, times)  # asserts kernel == reference
    for ((_, _, whole), _), result, out in zip(events, got.results, got.frames):
        if result >= 0 and whole:
            assert checksums_ok(out)
