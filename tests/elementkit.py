"""Shared test kit: run one element's JIT kernel and its plain-Python reference over the
same frames and compare everything -- the whole slot's bytes, every annotation, and the
result (output port, or ``-1 - k`` for a drop under ``drops[k]``).

Usage, from any test under ``tests/`` (``tests/conftest.py`` puts this directory on
``sys.path``)::

    from elementkit import assert_same, make, mark, run_kernel, run_reference

    el = make("CheckIPHeader", offset=14)            # kind + config keys, validated
    got = run_kernel(el, frames, n_outputs=2)         # frames: bytes or scapy packets
    want = run_reference(el, frames, n_outputs=2)
    assert_same(el, got, want)                        # result, slot bytes, annotations
    got = compare(el, frames, n_outputs=2)            # the two lines above in one
    assert got.results == [0, -1 - el.drops.index("bad_checksum")]
    assert el.counters(got.state)["bad_packets"] == 1

    # elements that expect parsed headers: preset annotations as MarkIPHeader would
    got = run_kernel(make("DecIPTTL"), frames, annotations=mark(frames, offset=14))

``annotations`` is one dict for every frame or a list of dicts (one per frame), e.g.
``{"paint": 3}``; they are applied after the frames are loaded, to kernel and reference
alike (a preset ``head`` places the frame there). ``run_kernel`` builds the state with
``el.make_state(n_outputs)`` (elements that route by the number of connected outputs
read it there) and calls the kernel row by row; ``run_reference`` calls
``el.reference(pkt, inp)`` on ``elements.reference.Packet`` rows after its own
``make_state``. ``outcome(el, r)`` names a result ("out0", "drop:bad_checksum") for
readable assertions.

The hypothesis strategies ``ip_frames()`` (scapy-built Ethernet/IPv4 with TCP, UDP or
ICMP and random fields, sometimes with IP options, fragments or a wrong checksum or
length), ``junk_frames()`` (ARP, IPv6, VLAN, truncations, random bytes) and
``any_frames()`` (either) feed the kernel == reference properties. ``example_yaml(cls)``
extracts a docstring's ``Example::`` graph; ``run_graph(g, frames)`` runs a loaded graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_LSRR, IPOption_NOP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether

from elements.batch import HEADROOM, load_frames, make_batch, packet_bytes
from elements.element import Element, lookup
from elements.net import mark_ip
from elements.reference import ANNOTATION_NAMES, Packet, from_batch

__all__ = [
    "Frames", "Run", "any_frames", "assert_same", "compare", "example_yaml", "ip_frames",
    "junk_frames", "make", "mark", "outcome", "run_graph", "run_kernel", "run_reference"
]


@dataclass
class Run:
    """What one element did to a list of frames: a result and the packet per frame."""

    results: list[int]
    packets: list[Packet]
    state: Any = None

    @property
    def frames(self) -> list[bytes]:
        return [p.frame for p in self.packets]


def make(kind: str, name: str = "e", **config: Any) -> Element:
    """An element of ``kind`` configured with ``config`` (validated by its pydantic Config)."""
    cls = lookup(kind)
    return cls(name, cls.Config(**config))


def _per_frame(annotations, n: int) -> list[dict]:
    if annotations is None:
        return [{}] * n
    if isinstance(annotations, dict):
        return [annotations] * n
    if len(annotations) != n:
        raise ValueError(f"{len(annotations)} annotation dicts for {n} frames")
    return list(annotations)


def run_kernel(el: Element, frames, inp: int = 0, n_outputs: int = 1,
               annotations=None) -> Run:
    """Load ``frames`` into a batch and call ``el.kernel`` on each row."""
    frames = [bytes(f) for f in frames]
    b = make_batch(max(len(frames), 1))
    load_frames(b, frames)
    for i, ann in enumerate(_per_frame(annotations, len(frames))):
        for key, value in ann.items():
            getattr(b, key)[i] = value
        if "head" in ann:  # the frame starts there, as in Packet.of
            b.data[i] = 0
            b.data[i, ann["head"] : ann["head"] + len(frames[i])] = np.frombuffer(frames[i],
                                                                                np.uint8)
    state = el.make_state(n_outputs)
    results = [int(el.kernel(b, i, state, inp)) for i in range(len(frames))]
    return Run(results, [from_batch(b, i) for i in range(len(frames))], state)


def run_reference(el: Element, frames, inp: int = 0, n_outputs: int = 1,
                  annotations=None) -> Run:
    """Call ``el.reference`` on a ``Packet`` per frame, set up as ``run_kernel`` does."""
    frames = [bytes(f) for f in frames]
    el.make_state(n_outputs)
    packets = []
    results = []
    for frame, ann in zip(frames, _per_frame(annotations, len(frames))):
        pkt = Packet.of(frame, timestamp=0, **ann)
        results.append(int(el.reference(pkt, inp)))
        packets.append(pkt)
    return Run(results, packets)


def compare(el: Element, frames, inp: int = 0, n_outputs: int = 1, annotations=None) -> Run:
    """Run kernel and reference on ``frames``, assert they agree, return the kernel's run."""
    got = run_kernel(el, frames, inp, n_outputs, annotations)
    assert_same(el, got, run_reference(el, frames, inp, n_outputs, annotations))
    return got


def example_yaml(cls: type[Element]) -> str:
    """The YAML of the ``Example::`` block in ``cls``'s docstring."""
    doc = cls.__doc__ or ""
    if "Example::" not in doc:
        raise AssertionError(f"{cls.kind()} has no Example:: block")
    lines = doc.split("Example::", 1)[1].splitlines()[1:]
    block = []
    for line in lines:
        if line.strip() and not line.startswith(" " * 8):
            break
        block.append(line[8:])
    return "\n".join(block).strip() + "\n"


class Frames:
    """A feed for ``msh.runtime.run``: the given frames, one batch after another."""

    def __init__(self, frames):
        self.frames = [bytes(f) for f in frames]
        self.total = len(self.frames)
        self.done = 0

    def fill(self, b, n: int) -> int:
        chunk = self.frames[self.done : self.done + n]
        self.done += len(chunk)
        return load_frames(b, chunk)


def run_graph(g, frames) -> tuple[list[tuple[int, bytes]], Any]:
    """Run graph ``g`` (packets enter at ``in``) on ``frames``: each frame's (graph
    output or -1 for dropped, bytes) in order, and the run's ``Counters``."""
    from msh.runtime import Program, run

    seen: list[tuple[int, bytes]] = []

    def on_batch(b):
        seen.extend((int(b.port[i]), packet_bytes(b, i)) for i in range(int(b.meta[0])))

    counters = run(Program(g), feed=Frames(frames), on_batch=on_batch)
    return seen, counters


def outcome(el: Element, r: int) -> str:
    """A result in words: ``out1`` or ``drop:<reason>``."""
    if r >= 0:
        return f"out{r}"
    k = -1 - r
    return f"drop:{el.drops[k]}" if k < len(el.drops) else f"drop:#{k}?"


def assert_same(el: Element, got: Run, want: Run) -> None:
    """Kernel and reference agree on every packet: result, slot bytes, annotations."""
    assert len(got.packets) == len(want.packets)
    for i, (rg, rw, pg, pw) in enumerate(zip(got.results, want.results, got.packets,
                                              want.packets)):
        where = f"{el.kind()} packet {i} ({pw.frame[:64].hex()})"
        assert outcome(el, rg) == outcome(el, rw), f"{where}: result"
        for name in ANNOTATION_NAMES:
            assert getattr(pg, name) == getattr(pw, name), f"{where}: annotation {name}"
        if pg.buf != pw.buf:
            diff = next(k for k in range(len(pg.buf)) if pg.buf[k] != pw.buf[k])
            raise AssertionError(f"{where}: slot bytes differ first at offset {diff}"
                                 f" (kernel {pg.buf[diff]:#04x}, reference {pw.buf[diff]:#04x})")


def mark(frames, offset: int = 14) -> list[dict]:
    """Annotations MarkIPHeader would set for each frame (IPv4 header at ``offset``);
    an empty dict for frames too short to hold one."""
    out = []
    for frame in frames:
        frame = bytes(frame)
        if len(frame) < offset + 20:
            out.append({})
            continue
        b = make_batch(1)
        load_frames(b, [frame])
        mark_ip(b, 0, HEADROOM + offset)
        out.append({name: int(getattr(b, name)[0]) for name in
                    ("l3", "l4", "flags", "proto", "saddr", "daddr", "sport", "dport",
                     "flow_hash")})
    return out


# ---- hypothesis strategies -------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
addr = st.one_of(st.sampled_from(["10.0.0.1", "192.168.1.255", "0.0.0.0", "255.255.255.255",
                                  "224.0.0.5", "239.255.255.250"]),
                 st.integers(0, 0xFFFFFFFF).map(lambda x: ".".join(str(x >> s & 255)
                                                                   for s in (24, 16, 8, 0))))
payloads = st.binary(max_size=64)


@st.composite
def _l4(draw):
    kind = draw(st.sampled_from(["tcp", "udp", "icmp", "raw"]))
    if kind == "tcp":
        return TCP(sport=draw(u16), dport=draw(u16), seq=draw(st.integers(0, 2**32 - 1)),
                   flags=draw(u8), window=draw(u16)) / draw(payloads)
    if kind == "udp":
        return UDP(sport=draw(u16), dport=draw(u16)) / draw(payloads)
    if kind == "icmp":
        return ICMP(type=draw(u8), code=draw(u8)) / draw(payloads)
    return draw(payloads)


@st.composite
def ip_frames(draw, ether: bool = True):
    """Ethernet (or bare, ``ether=False``) IPv4 frames: valid most of the time, sometimes
    with options, fragment bits, padding, a wrong checksum, length or version."""
    options = draw(st.sampled_from([[], [], [IPOption_NOP()] * 4,
                                    [IPOption_LSRR(routers=["1.2.3.4", "5.6.7.8"])]]))
    frag = draw(st.sampled_from([0, 0, 0, 1, 185]))
    ip = IP(src=draw(addr), dst=draw(addr), ttl=draw(u8), tos=draw(u8), id=draw(u16),
            flags=draw(st.sampled_from([0, 0, 1, 2])), frag=frag, options=options)
    pkt = ip / draw(_l4())
    data = bytearray(bytes(Ether(src="00:01:02:03:04:05", dst="0a:0b:0c:0d:0e:0f") / pkt)
                     if ether else bytes(pkt))
    base = 14 if ether else 0
    fault = draw(st.sampled_from(["none"] * 6 + ["cksum", "len", "version", "ihl", "trunc",
                                                 "pad"]))
    if fault == "cksum":
        data[base + 10] ^= draw(st.integers(1, 255))
    elif fault == "len":
        data[base + 2 : base + 4] = draw(u16).to_bytes(2, "big")
    elif fault == "version":
        data[base] = (draw(st.integers(0, 15)) << 4) | (data[base] & 0x0F)
    elif fault == "ihl":
        data[base] = (data[base] & 0xF0) | draw(st.integers(0, 15))
    elif fault == "trunc":
        del data[draw(st.integers(0, len(data))):]
    elif fault == "pad":
        data += draw(st.binary(min_size=1, max_size=20))
    return bytes(data)


@st.composite
def junk_frames(draw):
    """Frames that are not (whole) Ethernet/IPv4: ARP, IPv6, VLAN-tagged IPv4, random."""
    kind = draw(st.sampled_from(["arp", "ipv6", "vlan", "random", "short"]))
    if kind == "arp":
        return bytes(Ether() / ARP(psrc=draw(addr), pdst=draw(addr)))
    if kind == "ipv6":
        return bytes(Ether() / IPv6() / UDP(sport=draw(u16)) / draw(payloads))
    if kind == "vlan":
        return bytes(Ether() / Dot1Q(vlan=draw(st.integers(0, 4095))) / IP(dst=draw(addr))
                     / TCP())
    if kind == "short":
        return draw(st.binary(max_size=34))
    return draw(st.binary(max_size=200))


def any_frames(ether: bool = True):
    return st.one_of(ip_frames(ether), ip_frames(ether), junk_frames())
