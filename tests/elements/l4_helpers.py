"""Shared test helpers for the L4 elements: IP batches from scapy packets, running a
kernel row by row, and checksum verification with scapy as the oracle."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP, UDP

from elements.batch import HEADROOM, load_frames, make_batch, packet_bytes
from elements.net import mark_ip
from elements.reference import from_batch


def ip_batch(frames: list[bytes], timestamps_ns: list[int] | None = None):
    """A batch of raw IPv4 frames, each marked as CheckIPHeader would when its header
    is whole (version 4, IHL >= 5, header within the frame)."""
    b = make_batch(max(len(frames), 1))
    load_frames(b, frames, timestamps_ns)
    for i, f in enumerate(frames):
        if len(f) >= 20 and f[0] >> 4 == 4 and 20 <= (f[0] & 15) * 4 <= len(f):
            mark_ip(b, i, HEADROOM)
    return b


def run(el, state, b, inp: int = 0) -> list[int]:
    """The kernel's verdict for each row, in order (as the walk would call it)."""
    return [int(el.kernel(b, i, state, inp)) for i in range(int(b.meta[0]))]


def one(el, state, pkt, inp: int = 0, ts: int = 0):
    """Run one scapy packet through the kernel: (verdict, frame bytes, batch)."""
    b = ip_batch([bytes(pkt)], [ts])
    r = el.kernel(b, 0, state, inp)
    return int(r), packet_bytes(b, 0), b


def checksums_ok(frame: bytes) -> bool:
    """scapy recomputes the IP and TCP/UDP checksums; they must equal the frame's."""
    p = IP(frame)
    fresh = p.copy()
    del fresh[IP].chksum
    layer = TCP if TCP in p else UDP if UDP in p else None
    if layer is not None:
        if layer is UDP and p[UDP].chksum == 0:
            layer = None
        else:
            del fresh[layer].chksum
    fresh = IP(bytes(fresh))
    ok = fresh[IP].chksum == p[IP].chksum
    if layer is not None:
        ok = ok and fresh[layer].chksum == p[layer].chksum
    return ok


def kernel_vs_reference(el, state, frames, inps, timestamps):
    """Run the kernel and ``el.reference`` packet by packet; assert the same verdicts,
    bytes and annotations."""
    b = ip_batch(frames, timestamps)
    for i, inp in enumerate(inps):
        pkt = from_batch(b, i)
        want = el.reference(pkt, inp)
        got = int(el.kernel(b, i, state, inp))
        assert got == want, (i, got, want)
        mine = from_batch(b, i)
        assert mine.frame == pkt.frame, i
        for name in ("saddr", "daddr", "sport", "dport", "flow_hash", "length", "head"):
            assert getattr(mine, name) == getattr(pkt, name), (i, name)



def push(prog, graph_input: int, frames: list[bytes], timestamps_ns: list[int] | None = None):
    """Push one batch of ``frames`` into graph input ``graph_input`` of a
    ``msh.runtime.Program``: each frame's (graph output or -1 if dropped, bytes)."""
    from msh import graph as G

    dst, dport = G.successors(prog.graph, G.IN)[graph_input]
    load_frames(prog.batch, frames, timestamps_ns)
    b = prog.push(len(frames), (prog.index[dst], dport))
    return [(int(b.port[i]), packet_bytes(b, i)) for i in range(len(frames))]
