"""Plain-Python packets for the elements' reference implementations (the test oracles).

A ``Packet`` mirrors one batch row: the whole slot as a ``bytearray`` plus every
annotation as a Python int, so a test can run a kernel on a batch row and the
reference on the same packet and compare everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from elements.batch import ANNOTATIONS, HEADROOM, SLOT_SIZE, Batch


@dataclass
class Packet:
    buf: bytearray = field(default_factory=lambda: bytearray(SLOT_SIZE))
    head: int = HEADROOM
    length: int = 0
    timestamp: int = 0
    l3: int = -1
    l4: int = -1
    flags: int = 0
    proto: int = 0
    saddr: int = 0
    daddr: int = 0
    sport: int = 0
    dport: int = 0
    flow_hash: int = 0
    paint: int = 0
    dst_anno: int = 0
    port: int = -2

    @classmethod
    def of(cls, frame: bytes, **annotations: int) -> Packet:
        p = cls(**annotations)
        p.buf[p.head : p.head + len(frame)] = frame
        p.length = len(frame)
        return p

    @property
    def frame(self) -> bytes:
        return bytes(self.buf[self.head : self.head + self.length])

    def u8(self, off: int) -> int:
        return self.buf[off]

    def u16(self, off: int) -> int:
        return int.from_bytes(self.buf[off : off + 2], "big")

    def u32(self, off: int) -> int:
        return int.from_bytes(self.buf[off : off + 4], "big")

    def put16(self, off: int, value: int) -> None:
        self.buf[off : off + 2] = (value & 0xFFFF).to_bytes(2, "big")

    def put32(self, off: int, value: int) -> None:
        self.buf[off : off + 4] = (value & 0xFFFFFFFF).to_bytes(4, "big")


ANNOTATION_NAMES = tuple(f.name for f in fields(Packet) if f.name != "buf")
assert set(ANNOTATION_NAMES) == set(ANNOTATIONS), "Packet and Batch annotations differ"


def from_batch(b: Batch, i: int) -> Packet:
    p = Packet(buf=bytearray(b.data[i].tobytes()))
    for name in ANNOTATION_NAMES:
        setattr(p, name, int(getattr(b, name)[i]))
    return p


def to_batch(p: Packet, b: Batch, i: int) -> None:
    b.data[i, : len(p.buf)] = memoryview(p.buf)
    for name in ANNOTATION_NAMES:
        getattr(b, name)[i] = getattr(p, name)
