"""Helpers shared by the tunnel elements: push an outer IPv4 header into the headroom,
and turn a packet into the inner IPv4 packet it carries (with ``Decap``, the base of the
elements that do).

Both keep the contract of ``elements.batch``: ``head`` moves, nothing is copied, and the
annotations are re-derived (``mark_ip``) for the header the packet now starts with.
"""

from __future__ import annotations

import struct

import numpy as np
from pydantic import Field

from elements.batch import F_FRAG, F_IP
from elements.element import Element, ElementConfig
from elements.jit import inlined
from elements.net import (
    IPv4Address,
    fold,
    internet_checksum,
    ip_end,
    ip_room,
    ipv4_int,
    mark_ip,
    mark_ip_reference,
    rd16,
    sum16,
    wr16,
    wr32,
)

# Layout of the ``params`` array of an encapsulating element.
P_PROTO, P_SRC, P_DST, P_TOS, P_TTL, P_DF, P_MTU = range(7)


@inlined
def push_ipv4(b, i, params, ident, extra):
    """Move the head back by 20 + ``extra`` bytes and write a 20-byte IPv4 header in
    front of ``extra`` (still unwritten) bytes and the old packet. Returns the new
    header's offset, -1 if the result would exceed the MTU, -2 without headroom."""
    total = b.length[i] + 20 + extra
    if params[P_MTU] > 0 and total > params[P_MTU]:
        return -1
    l3 = b.head[i] - 20 - extra
    if l3 < 0 or total > 0xFFFF:
        return -2
    row = b.data[i]
    row[l3] = 0x45
    row[l3 + 1] = params[P_TOS]
    wr16(row, l3 + 2, total)
    wr16(row, l3 + 4, ident & 0xFFFF)
    wr16(row, l3 + 6, 0x4000 if params[P_DF] else 0)
    row[l3 + 8] = params[P_TTL]
    row[l3 + 9] = params[P_PROTO]
    wr16(row, l3 + 10, 0)
    wr32(row, l3 + 12, params[P_SRC])
    wr32(row, l3 + 16, params[P_DST])
    wr16(row, l3 + 10, fold(sum16(row, l3, 20)))
    b.head[i] = l3
    b.length[i] = total
    mark_ip(b, i, l3)
    b.dst_anno[i] = params[P_DST]
    return l3


@inlined
def enter_inner(b, i, inner, end):
    """Make the IPv4 packet at ``inner`` (ending at ``end``, the outer packet's end) the
    packet: check that it is a plausible IPv4 header that fits, strip what is in front
    and any bytes after its total length, and mark it. False when it is not."""
    n = end - inner
    if n < 20:
        return False
    row = b.data[i]
    if row[inner] >> 4 != 4:
        return False
    hlen = (row[inner] & 0x0F) * 4
    ip_len = rd16(row, inner + 2)
    if hlen < 20 or ip_len < hlen or ip_len > n:
        return False
    b.head[i] = inner
    b.length[i] = ip_len
    mark_ip(b, i, inner)
    b.dst_anno[i] = b.daddr[i]
    return True


@inlined
def outer_payload(b, i, proto, ep):
    """(start, end) of the payload of the outer IPv4 packet marked at ``l3`` if it
    carries ``proto``, is not a fragment and passes ``endpoint_ok``; (-1, k) otherwise,
    k the failing check and the decapsulators' drop reason: 0 no IP header marked, 1
    another protocol, 2 a fragment, 3 another outer source or destination."""
    if not (b.flags[i] & F_IP) or ip_room(b, i) < 20:
        return -1, 0
    if b.proto[i] != proto:
        return -1, 1
    if b.flags[i] & F_FRAG:
        return -1, 2
    start = b.l4[i]
    end = ip_end(b, i)
    if start > end:
        return -1, 0
    if not endpoint_ok(b, i, ep):
        return -1, 3
    return start, end


class TunnelConfig(ElementConfig):
    """The outer header's fields (Click's IPEncap keywords) and the MTU check."""

    src: IPv4Address = Field(description="outer source address: this tunnel end (Click's SRC)")
    dst: IPv4Address = Field(description="outer destination: the remote tunnel end (Click's DST)")
    tos: int = Field(0, ge=0, le=255, description="outer TOS byte (Click's TOS)")
    ttl: int = Field(250, ge=1, le=255, description="outer TTL (Click's TTL, default 250)")
    df: bool = Field(False, description="set Don't Fragment in the outer header (Click's DF)")
    mtu: int | None = Field(None, ge=68, le=65535,
                            description="drop (too_big) packets longer than this once encapsulated")


class DecapConfig(ElementConfig):
    """Optional checks of the outer addresses."""

    src: IPv4Address | None = Field(None, description="accept only this outer source (the remote end)")
    dst: IPv4Address | None = Field(None, description="accept only this outer destination (this end)")

    def endpoints(self) -> np.ndarray:
        """[check src, src, check dst, dst] for ``endpoint_ok``."""
        return np.array([self.src is not None, ipv4_int(self.src) if self.src else 0,
                         self.dst is not None, ipv4_int(self.dst) if self.dst else 0], np.int64)


@inlined
def endpoint_ok(b, i, ep):
    return ((not ep[0] or b.saddr[i] == ep[1]) and (not ep[2] or b.daddr[i] == ep[3]))


class Decap(Element, register=False):
    """Base of the tunnel exits (IPDecap, GREDecap): they check the outer header with
    ``outer_payload`` and make the inner IPv4 packet the packet with ``enter_inner``."""

    ports = "1/1"
    Config = DecapConfig
    reads = ("ip", "head", "length", "l3", "l4", "flags", "proto", "saddr", "daddr")
    writes = ("head", "length", "l3", "l4", "flags", "proto", "saddr", "daddr", "sport",
              "dport", "flow_hash", "dst_anno")


def encap_params(proto: int, config) -> np.ndarray:
    """The ``params`` array of ``push_ipv4`` from an encapsulating element's config."""
    p = np.zeros(7, np.int64)
    p[P_PROTO] = proto
    p[P_SRC] = ipv4_int(config.src)
    p[P_DST] = ipv4_int(config.dst)
    p[P_TOS] = config.tos
    p[P_TTL] = config.ttl
    p[P_DF] = config.df
    p[P_MTU] = config.mtu or 0
    return p


# ---- plain Python for the references (the tests' oracles) ------------------------------


def push_ipv4_reference(pkt, params: np.ndarray, ident: int, extra: int) -> int:
    """``push_ipv4`` on an ``elements.reference.Packet``."""
    total = pkt.length + 20 + extra
    if params[P_MTU] and total > params[P_MTU]:
        return -1
    l3 = pkt.head - 20 - extra
    if l3 < 0 or total > 0xFFFF:
        return -2
    header = bytearray(struct.pack(
        "!BBHHHBBH4s4s", 0x45, int(params[P_TOS]), total, ident & 0xFFFF,
        0x4000 if params[P_DF] else 0, int(params[P_TTL]), int(params[P_PROTO]), 0,
        int(params[P_SRC]).to_bytes(4, "big"), int(params[P_DST]).to_bytes(4, "big")))
    header[10:12] = internet_checksum(bytes(header)).to_bytes(2, "big")
    pkt.buf[l3 : l3 + 20] = header
    pkt.head, pkt.length = l3, total
    mark_ip_reference(pkt, l3)
    pkt.dst_anno = int(params[P_DST])
    return l3


def outer_payload_reference(pkt, proto: int, ep: np.ndarray) -> tuple[int, int]:
    """``outer_payload`` on an ``elements.reference.Packet``."""
    if not pkt.flags & F_IP or pkt.l3 < pkt.head or pkt.head + pkt.length - pkt.l3 < 20:
        return -1, 0
    if pkt.proto != proto:
        return -1, 1
    if pkt.flags & F_FRAG:
        return -1, 2
    end = min(pkt.head + pkt.length, pkt.l3 + pkt.u16(pkt.l3 + 2))
    if pkt.l4 > end:
        return -1, 0
    if not endpoint_ok_reference(pkt, ep):
        return -1, 3
    return pkt.l4, end


def enter_inner_reference(pkt, inner: int, end: int) -> bool:
    """``enter_inner`` on an ``elements.reference.Packet``."""
    if end - inner < 20 or pkt.buf[inner] >> 4 != 4:
        return False
    hlen = (pkt.buf[inner] & 15) * 4
    ip_len = pkt.u16(inner + 2)
    if hlen < 20 or not hlen <= ip_len <= end - inner:
        return False
    pkt.head, pkt.length = inner, ip_len
    mark_ip_reference(pkt, inner)
    pkt.dst_anno = pkt.daddr
    return True


def endpoint_ok_reference(pkt, ep: np.ndarray) -> bool:
    return (not ep[0] or pkt.saddr == ep[1]) and (not ep[2] or pkt.daddr == ep[3])
