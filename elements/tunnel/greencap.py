"""GREEncap: wraps each IPv4 packet in GRE (RFC 2784, key and sequence of RFC 2890)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from elements.element import Element, drop
from elements.jit import inlined
from elements.net import fold, internet_checksum, sum16, wr16, wr32
from elements.tunnel.outer import TunnelConfig, encap_params, push_ipv4, push_ipv4_reference

IPPROTO_GRE = 47
GRE_C, GRE_K, GRE_S = 0x8000, 0x2000, 0x1000
ETHERTYPE_IPV4 = 0x0800


@inlined
def greencap_kernel(b, i, s, inp):
    params, gre, count = s
    flags = gre[0]
    hl = 4
    if flags & GRE_C:
        hl += 4
    if flags & GRE_K:
        hl += 4
    if flags & GRE_S:
        hl += 4
    l3 = push_ipv4(b, i, params, count[0], hl)
    if l3 < 0:
        return drop(-1 - l3)
    count[0] += 1
    row = b.data[i]
    g = l3 + 20
    wr16(row, g, flags)
    wr16(row, g + 2, ETHERTYPE_IPV4)
    off = g + 4
    if flags & GRE_C:
        wr32(row, off, 0)
        off += 4
    if flags & GRE_K:
        wr32(row, off, gre[1])
        off += 4
    if flags & GRE_S:
        wr32(row, off, count[1] & 0xFFFFFFFF)
        count[1] += 1
    if flags & GRE_C:
        wr16(row, g + 4, fold(sum16(row, g, b.length[i] - 20)))
    return 0


class GREEncapConfig(TunnelConfig):
    key: int | None = Field(None, ge=0, le=0xFFFFFFFF, description="GRE key (RFC 2890); none: no key field")
    checksum: bool = Field(False, description="add the GRE checksum field")
    seq: bool = Field(False, description="add a sequence number, counting from 0 (RFC 2890)")


class GREEncap(Element):
    """Prepend an outer IPv4 header (protocol 47) and a GRE header carrying an IPv4
    packet (protocol type 0x0800): a GRE tunnel entry.

    The outer IPv4 header is IPEncap's (same keywords, ID counter, TTL 250, checksum,
    ``dst_anno``, annotations re-marked). The GRE header (RFC 2784/2890) is 4 bytes,
    plus 4 with ``checksum`` (the checksum over GRE header and payload, reserved1 = 0),
    4 with ``key``, 4 with ``seq`` (a per-element counter from 0). Packets longer than
    ``mtu`` once encapsulated are dropped as ``too_big`` (see IPEncap).

    Ports: ``1/1``.

    Example::

        elements:
          chk: {kind: CheckIPHeader}
          gre: {kind: GREEncap, config: {src: 192.0.2.1, dst: 198.51.100.7, key: 42, checksum: true}}
        connections:
          - in -> chk -> gre -> out

    Counters: drop reasons ``too_big``, ``no_headroom``. See also: GREDecap, IPEncap.
    """

    ports = "1/1"
    Config = GREEncapConfig
    reads = ("head", "length")
    writes = ("ip", "head", "length", "l3", "l4", "flags", "proto", "saddr", "daddr", "sport",
              "dport", "flow_hash", "dst_anno")
    state_kind = "global"  # the ID and sequence counters
    drops = ("too_big", "no_headroom")
    kernel = staticmethod(greencap_kernel)

    def make_state(self, n_outputs: int) -> tuple:
        c = self.config
        flags = (GRE_C if c.checksum else 0) | (GRE_K if c.key is not None else 0) | (
            GRE_S if c.seq else 0)
        gre = np.array([flags, c.key or 0], np.int64)
        self.ref_count = [0, 0]  # the reference's ID and sequence counters
        return encap_params(IPPROTO_GRE, c), gre, np.zeros(2, np.int64)

    def reference(self, pkt, inp: int) -> int:
        c = self.config
        header = bytearray(b"\x00\x00\x08\x00")
        if c.checksum:
            header[0] |= 0x80
            header += bytes(4)
        if c.key is not None:
            header[0] |= 0x20
            header += c.key.to_bytes(4, "big")
        if c.seq:
            header[0] |= 0x10
            header += (self.ref_count[1] & 0xFFFFFFFF).to_bytes(4, "big")
        payload = pkt.frame
        l3 = push_ipv4_reference(pkt, encap_params(IPPROTO_GRE, c), self.ref_count[0], len(header))
        if l3 < 0:
            return l3
        self.ref_count[0] += 1
        self.ref_count[1] += c.seq
        if c.checksum:
            header[4:6] = internet_checksum(bytes(header) + payload).to_bytes(2, "big")
        pkt.buf[l3 + 20 : l3 + 20 + len(header)] = header
        return 0
