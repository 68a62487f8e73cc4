"""Byte-level helpers shared by kernels: big-endian loads/stores and Internet checksums.

Each takes a slot row (``b.data[i]``) and an absolute offset. Callers check bounds
first: numba does not. At the end, the pydantic types for addresses in element configs
(``EtherAddress``, ``IPv4Address``, ``IPv4Interface``) and their conversions.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

import numpy as np
from pydantic import AfterValidator

from elements.batch import F_FRAG, F_IP, F_L4FULL, F_NONFIRST, F_PORTS
from elements.jit import inlined

ETHER_HLEN = 14
IP_PROTO_ICMP = 1
IP_PROTO_TCP = 6
IP_PROTO_UDP = 17


@inlined
def rd16(row, off):
    """The big-endian 16-bit word at ``off``, as a uint32: numba's shifts give uint64,
    and uint64 mixed with a signed integer is float64 arithmetic (measured in the
    walk's code: conversions and float compares on every header check)."""
    off = np.uint64(off)  # an unsigned index: numba then adds no negative-index wrap
    return np.uint32((np.uint32(row[off]) << 8) | np.uint32(row[off + np.uint64(1)]))


@inlined
def rd32(row, off):
    """The big-endian 32-bit word at ``off``, as a uint32 (see ``rd16``)."""
    off = np.uint64(off)
    return np.uint32(
        (np.uint32(row[off]) << 24)
        | (np.uint32(row[off + np.uint64(1)]) << 16)
        | (np.uint32(row[off + np.uint64(2)]) << 8)
        | np.uint32(row[off + np.uint64(3)])
    )


@inlined
def wr16(row, off, value):
    row[off] = np.uint8((value >> 8) & 0xFF)
    row[off + 1] = np.uint8(value & 0xFF)


@inlined
def wr32(row, off, value):
    row[off] = np.uint8((value >> 24) & 0xFF)
    row[off + 1] = np.uint8((value >> 16) & 0xFF)
    row[off + 2] = np.uint8((value >> 8) & 0xFF)
    row[off + 3] = np.uint8(value & 0xFF)


@inlined
def sum16(row, off, n):
    """One's-complement sum (not folded) of ``n`` bytes; an odd last byte is padded.
    Added by 32-bit words (folding gives the 16-bit words' sum, as 2**16 = 1 modulo
    0xFFFF); a 20-byte IP header in straight-line code (measured: 8 ns a packet less
    in CheckIPHeader than a loop over 16-bit words)."""
    if n == 20:
        return (np.uint64(rd32(row, off)) + np.uint64(rd32(row, off + 4))
                + np.uint64(rd32(row, off + 8)) + np.uint64(rd32(row, off + 12))
                + np.uint64(rd32(row, off + 16)))
    s = np.uint64(0)
    end = off + n - (n & 3)
    for k in range(off, end, 4):
        s += np.uint64(rd32(row, k))
    if n & 2:
        s += np.uint64(rd16(row, end))
    if n & 1:
        s += np.uint64(row[off + n - 1]) << 8
    return s


@inlined
def _fold16(s):
    """One end-around-carry step: the same one's-complement value, 16 bits fewer."""
    return (s & np.uint64(0xFFFF)) + (s >> np.uint64(16))


@inlined
def fold(s):
    """Fold a one's-complement sum to 16 bits and complement it: the checksum field.
    A fixed number of steps, enough for any uint64 (< 2**33, < 2**18, <= 0xFFFF + 3,
    <= 0xFFFF), and so no loop whose trip count the branch predictor must guess: each
    step leaves a sum below 2**16 unchanged, so the result is the loop's."""
    s = np.uint64(s)
    s = (s & np.uint64(0xFFFFFFFF)) + (s >> np.uint64(32))
    return np.uint32(~_fold16(_fold16(_fold16(s))) & 0xFFFF)


@inlined
def cksum_update16(check, old, new):
    """RFC 1624 incremental update of checksum ``check`` when a 16-bit word changes.
    Three 16-bit terms sum below 2**18: two folding steps reduce it (see ``fold``)."""
    s = np.uint64((~check) & 0xFFFF) + np.uint64((~old) & 0xFFFF) + np.uint64(new & 0xFFFF)
    return np.uint32(~_fold16(_fold16(s)) & 0xFFFF)


@inlined
def cksum_update32(check, old, new):
    check = cksum_update16(check, old >> 16, new >> 16)
    return cksum_update16(check, old & 0xFFFF, new & 0xFFFF)


@inlined
def delta_word(delta, old, new):
    """Add the change of one 16-bit word from ``old`` to ``new`` to a one's-complement
    checksum delta (a folded sum of RFC 1624's terms), as ``cksum_update16`` adds it."""
    return np.uint32(~cksum_update16(~np.uint32(delta) & 0xFFFF, old, new) & 0xFFFF)


@inlined
def delta_step(delta, old, new):
    """``delta_word``, nothing for an unchanged word (Click's ``_ip_csum_delta``/
    ``_udp_csum_delta``); 0 = no change."""
    delta = np.uint32(delta)
    return delta if old == new else delta_word(delta, old, new)


@inlined
def add_delta(check, delta):
    """Apply a precomputed delta to a checksum field (nothing when it is 0, as Click)."""
    if delta == 0:
        return np.uint32(check)
    return cksum_update16(check, 0xFFFF, delta)


@inlined
def flow_hash5(saddr, daddr, sport, dport, proto):
    """A fast 32-bit mix of the 5-tuple (murmur3 finaliser over the folded words)."""
    h = np.uint32(saddr) * np.uint32(0x9E3779B1)
    h ^= np.uint32(daddr) + np.uint32(0x7F4A7C15) + (h << 6) + (h >> 2)
    h ^= ((np.uint32(sport) << 16) | np.uint32(dport)) + np.uint32(0x165667B1) + (h << 6) + (h >> 2)
    h ^= np.uint32(proto)
    h ^= h >> 16
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> 13
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> 16
    return np.uint32(h)


@inlined
def tuple_hash(b, i, saddr, daddr, sport, dport, proto):
    """``flow_hash5`` of this 5-tuple, read from packet ``i``'s bytes. When the row's
    annotations hold the same 5-tuple, that is its ``flow_hash`` annotation (whoever
    sets the 5-tuple annotations sets it: ``Batch.flow_hash``), and the hash's chain
    of multiplies is skipped (measured on the NAT: ~6 ns a packet)."""
    same = ((b.saddr[i] == saddr) & (b.daddr[i] == daddr) & (b.sport[i] == sport)
            & (b.dport[i] == dport) & (b.proto[i] == proto))
    return b.flow_hash[i] if same else flow_hash5(saddr, daddr, sport, dport, proto)


@inlined
def mark_ip(b, i, l3):
    """Set l3/l4, the 5-tuple, the fragment flags and the flow hash from the IPv4
    header at ``l3``. The caller has checked that the whole IP header is present."""
    row = b.data[i]
    l3 = np.int64(l3)  # signed 64-bit throughout: end - l4 may be negative
    hlen = np.int64(row[l3] & 0x0F) * 4
    end = np.int64(b.head[i]) + b.length[i]
    ip_len = np.int64(rd16(row, l3 + 2))
    end = min(end, l3 + ip_len)  # the IP packet may end before the frame (padding)
    proto = row[l3 + 9]
    frag = rd16(row, l3 + 6)
    flags = F_IP
    if frag & 0x3FFF:
        flags |= F_FRAG
    if frag & 0x1FFF:
        flags |= F_NONFIRST
    l4 = l3 + hlen
    sport = np.uint32(0)
    dport = np.uint32(0)
    if not (frag & 0x1FFF):
        avail = end - l4
        if (proto == IP_PROTO_TCP or proto == IP_PROTO_UDP) and avail >= 4:
            sport = rd16(row, l4)
            dport = rd16(row, l4 + 2)
            flags |= F_PORTS
        small = proto == IP_PROTO_UDP or proto == IP_PROTO_ICMP
        if (proto == IP_PROTO_TCP and avail >= 20) or (small and avail >= 8):
            flags |= F_L4FULL
    b.l3[i] = l3
    b.l4[i] = l4
    b.flags[i] = flags
    b.proto[i] = proto
    b.saddr[i] = rd32(row, l3 + 12)
    b.daddr[i] = rd32(row, l3 + 16)
    b.sport[i] = sport
    b.dport[i] = dport
    b.flow_hash[i] = flow_hash5(b.saddr[i], b.daddr[i], sport, dport, proto)


# The annotations ``mark_ip`` derives from each header field a rewriter may change.
MARK_DERIVED = {"ip.src": ("saddr", "flow_hash"), "ip.dst": ("daddr", "flow_hash"),
                "l4.ports": ("sport", "dport", "flow_hash")}


def marks_kept_by(writer) -> bool:
    """Does element ``writer`` keep ``mark_ip``'s annotations what a new parse would
    give? It must keep a valid IPv4 header valid (``keeps_ip_valid``), rewrite no
    header wholesale, and declare the annotations that follow each field it rewrites."""
    writes = set(writer.writes)
    if not writer.keeps_ip_valid or writes & {"ip", "tcp", "udp", "head", "length", "l3", "l4"}:
        return False
    return all(set(MARK_DERIVED[f]) <= writes for f in MARK_DERIVED if f in writes)


@inlined
def ip_room(b, i):
    """Bytes of row ``i`` from its IP header (``l3``) to the end of the packet, or -1
    when ``l3`` is unset or outside the packet (a Strip moved the head past it).
    Elements that need a network header check this before reading it."""
    l3 = b.l3[i]
    room = b.head[i] + b.length[i] - l3
    if l3 < b.head[i] or room < 0:
        return -1
    return room


@inlined
def ip_end(b, i):
    """Where the IP packet whose header is at ``l3`` ends in row ``i``: at its total
    length, or at the end of the packet when that comes first (Ethernet padding after
    the IP packet excluded). Check ``ip_room`` first."""
    return min(b.head[i] + b.length[i], b.l3[i] + rd16(b.data[i], b.l3[i] + 2))


IPOPT_EOL = 0
IPOPT_NOP = 1
IPOPT_LSRR = 131
IPOPT_SSRR = 137


@inlined
def ip_final_dst(row, l3, hlen):
    """The destination a transport pseudo-header uses: the last address of a loose or
    strict source route option when the header has one (RFC 1122 4.1.3.4; Click's
    ``click_in_cksum_pseudohdr``, Linux and scapy agree), else ``ip.dst``. The caller
    has checked that the ``hlen`` header bytes are present."""
    opt = l3 + 20
    end = l3 + hlen
    while opt < end:
        kind = row[opt]
        if kind == IPOPT_NOP:
            opt += 1
            continue
        if kind == IPOPT_EOL or opt + 1 >= end:
            break
        olen = np.int64(row[opt + 1])
        if olen < 2 or opt + olen > end:
            break
        if (kind == IPOPT_LSRR or kind == IPOPT_SSRR) and olen >= 7:
            return rd32(row, opt + olen - 4)
        opt += olen
    return rd32(row, l3 + 16)


@inlined
def pseudo_sum(row, l3, hlen, n):
    """Unfolded one's-complement sum of the IPv4 pseudo-header for ``n`` transport bytes:
    source, final destination (see ``ip_final_dst``), the header's protocol byte, ``n``."""
    src = rd32(row, l3 + 12)
    dst = ip_final_dst(row, l3, hlen)
    s = np.uint64(src >> 16) + np.uint64(src & 0xFFFF)
    s += np.uint64(dst >> 16) + np.uint64(dst & 0xFFFF)
    s += np.uint64(row[l3 + 9]) + np.uint64(n)
    return s


# ---- plain Python for the references (independent of the kernels' code) ----------------


def mark_ip_reference(pkt, l3: int) -> None:
    """``mark_ip`` on an ``elements.reference.Packet``: the same annotations."""
    hlen = (pkt.buf[l3] & 0x0F) * 4
    end = min(pkt.head + pkt.length, l3 + pkt.u16(l3 + 2))
    proto = pkt.buf[l3 + 9]
    frag = pkt.u16(l3 + 6)
    flags = F_IP | (F_FRAG if frag & 0x3FFF else 0) | (F_NONFIRST if frag & 0x1FFF else 0)
    l4 = l3 + hlen
    sport = dport = 0
    if not frag & 0x1FFF:
        avail = end - l4
        if proto in (IP_PROTO_TCP, IP_PROTO_UDP) and avail >= 4:
            sport, dport = pkt.u16(l4), pkt.u16(l4 + 2)
            flags |= F_PORTS
        full = {IP_PROTO_TCP: 20, IP_PROTO_UDP: 8, IP_PROTO_ICMP: 8}.get(proto)
        if full is not None and avail >= full:
            flags |= F_L4FULL
    pkt.l3, pkt.l4, pkt.flags, pkt.proto = l3, l4, flags, proto
    pkt.saddr, pkt.daddr = pkt.u32(l3 + 12), pkt.u32(l3 + 16)
    pkt.sport, pkt.dport = sport, dport
    pkt.flow_hash = int(flow_hash5(pkt.saddr, pkt.daddr, sport, dport, proto))


def internet_checksum(data: bytes) -> int:
    """RFC 1071 checksum in plain Python: the references use it, independent of the
    kernels' ``sum16``/``fold``."""
    if len(data) % 2:
        data = bytes(data) + b"\0"
    s = sum(int.from_bytes(data[k : k + 2], "big") for k in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def transport_checksum_reference(pkt, l3: int, l4: int, n: int) -> int:
    """The TCP/UDP checksum of ``n`` bytes at ``l4`` (checksum field already zeroed)
    with the pseudo-header of the IPv4 header at ``l3``, final source-route hop
    included (see ``ip_final_dst``)."""
    hlen = (pkt.buf[l3] & 0x0F) * 4
    dst = pkt.buf[l3 + 16 : l3 + 20]
    opts = pkt.buf[l3 + 20 : l3 + hlen]
    k = 0
    while k < len(opts):
        if opts[k] == IPOPT_NOP:
            k += 1
            continue
        if opts[k] == IPOPT_EOL or k + 1 >= len(opts) or not 2 <= opts[k + 1] <= len(opts) - k:
            break
        if opts[k] in (IPOPT_LSRR, IPOPT_SSRR) and opts[k + 1] >= 7:
            dst = opts[k + opts[k + 1] - 4 : k + opts[k + 1]]
            break
        k += opts[k + 1]
    pseudo = pkt.buf[l3 + 12 : l3 + 16] + dst + bytes([0, pkt.buf[l3 + 9]]) + n.to_bytes(2, "big")
    return internet_checksum(bytes(pseudo) + bytes(pkt.buf[l4 : l4 + n]))


# ---- configuration values (validated once, in Python) ------------------------------------

_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}")


def _ether_address(text: str) -> str:
    if not _MAC.fullmatch(text):
        raise ValueError(f"expected an Ethernet address like 00:11:22:33:44:55, found {text!r}")
    return text.lower().replace("-", ":")


def _ipv4_address(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise ValueError(f"expected an IPv4 address like 10.0.0.1, found {text!r}") from None


def _ipv4_interface(text: str) -> str:
    try:
        return str(ipaddress.IPv4Interface(text))
    except ValueError:
        raise ValueError(f"expected an IPv4 address with prefix like 10.0.0.1/24,"
                         f" found {text!r}") from None


EtherAddress = Annotated[str, AfterValidator(_ether_address)]
IPv4Address = Annotated[str, AfterValidator(_ipv4_address)]
IPv4Interface = Annotated[str, AfterValidator(_ipv4_interface)]


def ether_bytes(address: str) -> bytes:
    """The 6 bytes of a validated ``EtherAddress``."""
    return bytes.fromhex(address.replace(":", ""))


def ipv4_int(address: str) -> int:
    """A dotted IPv4 address (or the address part of ``a.b.c.d/len``) in host order."""
    return int(ipaddress.IPv4Interface(address).ip)
