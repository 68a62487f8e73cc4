"""Address and port rewriting of TCP/UDP over IPv4, shared by the L4 elements
(MaglevLB, L4Gateway, StatefulFirewall's header checks).

Each setter writes the header field, patches the IP checksum (addresses only) and the
TCP/UDP checksum incrementally (RFC 1624), and updates the matching annotation;
``rehash`` then recomputes ``flow_hash``. Callers first check the packet with
``l4_status``, which guarantees every byte these helpers touch is inside the frame.
"""

from __future__ import annotations

import numpy as np

from elements.batch import F_FRAG, F_IP, F_NONFIRST
from elements.jit import inlined
from elements.net import (
    IP_PROTO_TCP,
    IP_PROTO_UDP,
    cksum_update16,
    cksum_update32,
    flow_hash5,
    rd16,
    wr16,
    wr32,
)

# Results of ``l4_status``.
L4_OK = 0
L4_NOT_IP = 1  # no IPv4 header marked, or the marked header is not inside the frame
L4_NOT_TCPUDP = 2
L4_FRAGMENT = 3
L4_TRUNCATED = 4  # the fixed TCP/UDP header is not all there


@inlined
def l4_sum_offset(proto):
    """Offset of the transport checksum from the transport header."""
    return 16 if proto == IP_PROTO_TCP else 6


@inlined
def l4_status(b, i, allow_fragments):
    """Whether row ``i`` is a TCP/UDP packet whose IP and fixed transport headers are
    within the frame (``L4_OK``), or why not. Fragments are refused unless
    ``allow_fragments``; a non-first fragment never passes (it has no ports)."""
    if not (b.flags[i] & F_IP):
        return L4_NOT_IP
    l3 = b.l3[i]
    l4 = b.l4[i]
    head = b.head[i]
    end = head + b.length[i]
    if l3 < head or l3 + 20 > end or l4 < l3 + 20 or end > b.data.shape[1]:
        return L4_NOT_IP
    proto = b.proto[i]
    if proto != IP_PROTO_TCP and proto != IP_PROTO_UDP:
        return L4_NOT_TCPUDP
    if b.flags[i] & F_FRAG and (not allow_fragments or b.flags[i] & F_NONFIRST):
        return L4_FRAGMENT
    need = 20 if proto == IP_PROTO_TCP else 8
    if l4 + need > end:
        return L4_TRUNCATED
    return L4_OK


@inlined
def _patch_l4_sum(row, l4, proto, old, new, wide):
    off = l4 + l4_sum_offset(proto)
    check = rd16(row, off)
    if proto == IP_PROTO_UDP and check == 0:  # UDP without a checksum stays without
        return
    if wide:
        check = cksum_update32(check, old, new)
    else:
        check = cksum_update16(check, old, new)
    if proto == IP_PROTO_UDP and check == 0:
        check = 0xFFFF  # 0 means "no checksum" in UDP
    wr16(row, off, check)


@inlined
def _set_addr(b, i, field_off, old, new):
    row = b.data[i]
    l3 = b.l3[i]
    wr32(row, l3 + field_off, new)
    wr16(row, l3 + 10, cksum_update32(rd16(row, l3 + 10), old, new))
    _patch_l4_sum(row, b.l4[i], b.proto[i], old, new, True)


@inlined
def set_saddr(b, i, new):
    old = b.saddr[i]
    if old != new:
        _set_addr(b, i, 12, old, new)
        b.saddr[i] = new


@inlined
def set_daddr(b, i, new):
    old = b.daddr[i]
    if old != new:
        _set_addr(b, i, 16, old, new)
        b.daddr[i] = new


@inlined
def set_sport(b, i, new):
    old = b.sport[i]
    if old != new:
        row = b.data[i]
        wr16(row, b.l4[i], new)
        _patch_l4_sum(row, b.l4[i], b.proto[i], np.uint32(old), np.uint32(new), False)
        b.sport[i] = new


@inlined
def set_dport(b, i, new):
    old = b.dport[i]
    if old != new:
        row = b.data[i]
        wr16(row, b.l4[i] + 2, new)
        _patch_l4_sum(row, b.l4[i], b.proto[i], np.uint32(old), np.uint32(new), False)
        b.dport[i] = new


@inlined
def rehash(b, i):
    b.flow_hash[i] = flow_hash5(b.saddr[i], b.daddr[i], b.sport[i], b.dport[i], b.proto[i])


# Plain-Python versions on ``elements.reference.Packet``, the oracles for the kernels.


def ref_l4_status(pkt, allow_fragments: bool) -> int:
    if not pkt.flags & F_IP:
        return L4_NOT_IP
    end = pkt.head + pkt.length
    if pkt.l3 < pkt.head or pkt.l3 + 20 > end or pkt.l4 < pkt.l3 + 20 or end > len(pkt.buf):
        return L4_NOT_IP
    if pkt.proto not in (IP_PROTO_TCP, IP_PROTO_UDP):
        return L4_NOT_TCPUDP
    if pkt.flags & F_FRAG and (not allow_fragments or pkt.flags & F_NONFIRST):
        return L4_FRAGMENT
    if pkt.l4 + (20 if pkt.proto == IP_PROTO_TCP else 8) > end:
        return L4_TRUNCATED
    return L4_OK


def _ref_update(check: int, old: int, new: int, bits: int) -> int:
    """RFC 1624 eqn. 3 over each 16-bit word of ``old``/``new``."""
    s = ~check & 0xFFFF
    for shift in range(bits - 16, -16, -16):
        s += (~(old >> shift) & 0xFFFF) + ((new >> shift) & 0xFFFF)
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ref_patch_l4(pkt, old: int, new: int, bits: int) -> None:
    off = pkt.l4 + (16 if pkt.proto == IP_PROTO_TCP else 6)
    check = pkt.u16(off)
    if pkt.proto == IP_PROTO_UDP and check == 0:
        return
    check = _ref_update(check, old, new, bits)
    pkt.put16(off, 0xFFFF if pkt.proto == IP_PROTO_UDP and check == 0 else check)


def ref_set_field(pkt, name: str, new: int) -> None:
    """Rewrite ``saddr``/``daddr``/``sport``/``dport`` as the kernels do."""
    old = getattr(pkt, name)
    if old == new:
        return
    if name in ("saddr", "daddr"):
        pkt.put32(pkt.l3 + (12 if name == "saddr" else 16), new)
        pkt.put16(pkt.l3 + 10, _ref_update(pkt.u16(pkt.l3 + 10), old, new, 32))
        _ref_patch_l4(pkt, old, new, 32)
    else:
        pkt.put16(pkt.l4 + (0 if name == "sport" else 2), new)
        _ref_patch_l4(pkt, old, new, 16)
    setattr(pkt, name, new)


def ref_rehash(pkt) -> None:
    pkt.flow_hash = int(flow_hash5(pkt.saddr, pkt.daddr, pkt.sport, pkt.dport, pkt.proto))
