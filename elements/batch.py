"""The packet batch: a struct of arrays that every kernel reads and writes in place.

A packet is a row index ``i``. Its bytes live in ``data[i, head[i]:head[i] + length[i]]``;
the slot's first ``HEADROOM`` bytes are free so Strip/Unstrip/encapsulation move
``head`` instead of copying. Annotations are typed arrays indexed by ``i``. Header
offsets (``l3``, ``l4``) are absolute offsets into the slot, so moving ``head`` never
invalidates them; ``-1`` means "not set".

The tuple is a ``NamedTuple`` so numba passes it to kernels as one argument.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from elements.jit import inlined

# 33 cache lines, not 32: with a power-of-two stride the same offset of every row falls
# in the same few cache sets (2048 put a batch's headers in 2 of L1's 64 sets and 64 of
# L2's), so a batch's headers evicted each other. Measured, 1024-row batches of the
# reference trace: reading 30.5 -> 22.9 ns a packet, the NAT graph 127 -> 116.
SLOT_SIZE = 2112
HEADROOM = 128
MAX_FRAME = SLOT_SIZE - HEADROOM

# Bits of ``Batch.flags``, set by the IP parsers (CheckIPHeader, MarkIPHeader).
F_IP = 1  # l3 points at an IPv4 header
F_FRAG = 2  # the packet is an IP fragment (MF set or offset != 0)
F_NONFIRST = 4  # fragment offset != 0: no transport header in this packet
F_PORTS = 8  # sport/dport are valid (TCP/UDP first fragment with >= 4 transport bytes)
F_L4FULL = 16  # the whole fixed transport header (TCP 20 / UDP 8 / ICMP 8) is present

# Values of ``Batch.port`` after a walk.
PORT_NONE = -2  # not yet decided
PORT_DROPPED = -1
PORT_HELD = -3  # kept by a queue element


class Batch(NamedTuple):
    """Packets of one batch; ``meta[0]`` is the number of live rows (Tee may add rows)."""

    data: np.ndarray  # uint8[capacity, SLOT_SIZE]
    head: np.ndarray  # int32: offset of the first byte in the slot
    length: np.ndarray  # int32: frame length in bytes
    timestamp: np.ndarray  # int64: nanoseconds
    l3: np.ndarray  # int32: network header offset in the slot, -1 unset
    l4: np.ndarray  # int32: transport header offset in the slot, -1 unset
    flags: np.ndarray  # uint8: F_* bits
    proto: np.ndarray  # uint8: IP protocol
    saddr: np.ndarray  # uint32: IPv4 source, host order
    daddr: np.ndarray  # uint32: IPv4 destination, host order
    sport: np.ndarray  # uint16
    dport: np.ndarray  # uint16
    flow_hash: np.ndarray  # uint32: flow_hash5 of the 5-tuple annotations (set with them)
    paint: np.ndarray  # uint8: Click's PAINT annotation
    dst_anno: np.ndarray  # uint32: Click's DST_IP annotation (next hop)
    port: np.ndarray  # int32: fate, an output port >= 0 or PORT_DROPPED
    meta: np.ndarray  # int64[4]: [0] live rows, [1] batch sequence number


ANNOTATIONS = {
    "head": np.int32,
    "length": np.int32,
    "timestamp": np.int64,
    "l3": np.int32,
    "l4": np.int32,
    "flags": np.uint8,
    "proto": np.uint8,
    "saddr": np.uint32,
    "daddr": np.uint32,
    "sport": np.uint16,
    "dport": np.uint16,
    "flow_hash": np.uint32,
    "paint": np.uint8,
    "dst_anno": np.uint32,
    "port": np.int32,
}


def make_batch(capacity: int, slot_size: int = SLOT_SIZE) -> Batch:
    """Allocate an empty batch with room for ``capacity`` packets."""
    arrays = {name: np.zeros(capacity, dtype) for name, dtype in ANNOTATIONS.items()}
    return Batch(
        data=np.zeros((capacity, slot_size), np.uint8), meta=np.zeros(4, np.int64), **arrays
    )


@njit(cache=True)
def _reset(b, n):
    for i in range(n):
        b.head[i] = HEADROOM
        b.l3[i] = -1
        b.l4[i] = -1
        b.flags[i] = 0
        b.proto[i] = 0
        b.saddr[i] = 0
        b.daddr[i] = 0
        b.sport[i] = 0
        b.dport[i] = 0
        b.flow_hash[i] = 0
        b.paint[i] = 0
        b.dst_anno[i] = 0
        b.port[i] = PORT_NONE
    b.meta[0] = n


_reset_fast = None


def reset_annotations(b: Batch, n: int) -> None:
    """Give rows ``0..n-1`` fresh annotations (sources call this before filling)."""
    global _reset_fast
    if _reset_fast is None:
        from elements.codegen import Fast

        _reset_fast = Fast(_reset)
    _reset_fast(b, n)


def packet_bytes(b: Batch, i: int) -> bytes:
    """The frame of row ``i`` as bytes (tests, Print, pcap writing from Python)."""
    h = int(b.head[i])
    return bytes(b.data[i, h : h + int(b.length[i])])


def load_frames(b: Batch, frames: list[bytes], timestamps_ns: list[int] | None = None) -> int:
    """Fill a batch from Python byte strings (tests and scapy conversions)."""
    n = len(frames)
    if n > len(b.head):
        raise ValueError(f"{n} frames do not fit a batch of {len(b.head)}")
    reset_annotations(b, n)
    for i, frame in enumerate(frames):
        if len(frame) > b.data.shape[1] - HEADROOM:
            raise ValueError(f"frame {i} is {len(frame)} bytes; the slot holds {MAX_FRAME}")
        b.data[i, HEADROOM : HEADROOM + len(frame)] = np.frombuffer(frame, np.uint8)
        b.length[i] = len(frame)
        b.timestamp[i] = 0 if timestamps_ns is None else timestamps_ns[i]
    return n


@inlined
def copy_row(src, i, dst, j):
    """Copy row ``i`` of ``src`` (bytes and annotations) to row ``j`` of ``dst``: same head,
    so absolute header offsets stay valid (Tee's clones, a Queue's stored packets).

    The bytes a Strip moved past stay too (from ``HEADROOM`` on), so an Unstrip after
    the copy finds them, as in Click where a queued packet keeps its buffer. Copied in
    8-byte words (a slot is 8-aligned; a few bytes either side of the packet are junk
    copied over junk): 5x faster than bytes, and a slice copy may allocate."""
    h = src.head[i]
    s = src.data[i].view(np.uint64)
    d = dst.data[j].view(np.uint64)
    for k in range(min(h, HEADROOM) >> 3, (h + src.length[i] + 7) >> 3):
        d[k] = s[k]
    dst.head[j] = h
    dst.length[j] = src.length[i]
    dst.timestamp[j] = src.timestamp[i]
    dst.l3[j] = src.l3[i]
    dst.l4[j] = src.l4[i]
    dst.flags[j] = src.flags[i]
    dst.proto[j] = src.proto[i]
    dst.saddr[j] = src.saddr[i]
    dst.daddr[j] = src.daddr[i]
    dst.sport[j] = src.sport[i]
    dst.dport[j] = src.dport[i]
    dst.flow_hash[j] = src.flow_hash[i]
    dst.paint[j] = src.paint[i]
    dst.dst_anno[j] = src.dst_anno[i]
    dst.port[j] = src.port[i]


@inlined
def clone_row(b, i):
    """Copy row ``i`` (bytes and annotations) to a new row; -1 when the batch is full."""
    j = b.meta[0]
    if j >= b.head.shape[0]:
        return -1
    b.meta[0] = j + 1
    copy_row(b, i, b, j)
    return j
