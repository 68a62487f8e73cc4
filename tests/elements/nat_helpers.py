"""Shared by the NAT tests: run a rewriter's kernel and its reference over a timed packet
sequence (each packet on its own input), and check a frame's checksums with scapy."""

from __future__ import annotations

from elementkit import Run, assert_same, mark
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

from elements.batch import load_frames, make_batch
from elements.reference import Packet, from_batch

S = 1_000_000_000  # ns per second


def marked_batch(frames: list[bytes], times):
    """A batch of ``frames`` at ``times`` ns with MarkIPHeader's annotations (offset 14)."""
    b = make_batch(max(len(frames), 1))
    load_frames(b, frames, list(times))
    for i, a in enumerate(mark(frames, offset=14)):
        for key, value in a.items():
            getattr(b, key)[i] = value
    return b


def run_timed(el, frames, inputs, times, n_outputs=2, compare=True) -> Run:
    """Kernel over ``frames`` (packet k on input ``inputs[k]`` at ``times[k]`` ns, with
    MarkIPHeader's annotations at offset 14); when ``compare``, the reference must agree
    on every result, byte and annotation."""
    frames = [bytes(f) for f in frames]
    ann = mark(frames, offset=14)
    b = marked_batch(frames, times)
    state = el.make_state(n_outputs)
    results = [int(el.kernel(b, i, state, inp)) for i, inp in enumerate(inputs)]
    got = Run(results, [from_batch(b, i) for i in range(len(frames))], state)
    if compare:
        packets, want = [], []
        for frame, a, t, inp in zip(frames, ann, times, inputs):
            pkt = Packet.of(frame, **a)
            pkt.timestamp = t
            want.append(int(el.reference(pkt, inp)))
            packets.append(pkt)
        assert_same(el, got, Run(want, packets))
    return got


def checksums_ok(frame: bytes) -> bool:
    """scapy recomputes the IP and transport checksums and finds the ones in ``frame``
    (a UDP checksum of 0, "none", must stay 0)."""
    p = Ether(frame)
    q = Ether(frame)
    del q[IP].chksum
    for layer in (TCP, UDP, ICMP):
        if layer in q and not (layer is UDP and q[UDP].chksum == 0):
            del q[layer].chksum
    q = Ether(bytes(q))
    return bytes(p) == bytes(q)


def tcp(src, dst, sport, dport, flags="A", payload=b"", **ip):
    return Ether() / IP(src=src, dst=dst, **ip) / TCP(sport=sport, dport=dport, flags=flags) / payload


def udp(src, dst, sport, dport, payload=b"x", chksum=None):
    layer = UDP(sport=sport, dport=dport) if chksum is None else UDP(sport=sport, dport=dport,
                                                                     chksum=chksum)
    return Ether() / IP(src=src, dst=dst) / layer / payload
