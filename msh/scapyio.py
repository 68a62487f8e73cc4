"""scapy packets to and from batches: for tests and packet crafting, never a packet path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from scapy.packet import Packet

from elements.batch import Batch, load_frames, make_batch, packet_bytes


def batch_from_scapy(pkts: Sequence[Packet], capacity: int | None = None,
                     timestamps_ns: Sequence[int] | None = None) -> Batch:
    """A batch whose rows are ``pkts`` (bytes as ``bytes(p)``). Timestamps are
    ``timestamps_ns`` if given, else each packet's ``time`` in ns, exactly (scapy
    keeps read times as decimals; a crafted packet's time is when it was made)."""
    frames = [bytes(p) for p in pkts]
    stamps = (list(timestamps_ns) if timestamps_ns is not None
              else [int(Decimal(str(p.time)) * 1_000_000_000) for p in pkts])
    b = make_batch(capacity if capacity is not None else max(len(frames), 1))
    load_frames(b, frames, stamps)
    return b


def scapy_from_batch(b: Batch, rows: Iterable[int] | None = None, layer=None) -> list[Packet]:
    """Rows of ``b`` (default every live row) dissected by ``layer`` (default Ether),
    with ``time`` set from the timestamp annotation."""
    if layer is None:
        from scapy.layers.l2 import Ether as layer
    if rows is None:
        rows = range(int(b.meta[0]))
    out = []
    for i in rows:
        p = layer(packet_bytes(b, int(i)))
        p.time = Decimal(int(b.timestamp[i])) / 1_000_000_000
        out.append(p)
    return out
