"""SetTCPChecksum: recomputes the TCP checksum, pseudo-header included."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from elements.element import Element, ElementConfig, drop
from elements.jit import inlined
from elements.net import fold, ip_room, pseudo_sum, rd16, sum16, transport_checksum_reference, wr16


@inlined
def settcpchecksum_kernel(b, i, s, inp):
    room = ip_room(b, i)
    if room < 20:
        return drop(0)
    row = b.data[i]
    l3 = b.l3[i]
    l4 = b.l4[i]
    hlen = (row[l3] & 0x0F) * 4
    plen = np.int64(rd16(row, l3 + 2)) - hlen
    if l4 < l3 or hlen > room or plen < 20 or plen > b.head[i] + b.length[i] - l4:
        return drop(1)
    if s[0]:  # FIXOFF
        off = (row[l4 + 12] >> 4) * 4
        if off < 20:
            row[l4 + 12] = (5 << 4) | (row[l4 + 12] & 0x0F)
        elif off > plen and not rd16(row, l3 + 6) & 0x3FFF:
            row[l4 + 12] = ((plen >> 2) << 4) | (row[l4 + 12] & 0x0F)
    wr16(row, l4 + 16, 0)
    wr16(row, l4 + 16, fold(sum16(row, l4, plen) + pseudo_sum(row, l3, hlen, plen)))
    return 0


class SetTCPChecksumConfig(ElementConfig):
    fixoff: bool = Field(False,
        description="repair an impossible TCP data offset first (Click's FIXOFF)")


class SetTCPChecksum(Element):
    """Set the TCP checksum of every packet (Click's SetTCPChecksum).

    The segment is the ``ip.len`` - IHL bytes at ``l4``; the pseudo-header comes from
    the IP header at ``l3``, with the last hop of a source-route option as destination
    (as Click, Linux and scapy). The protocol field is not checked (as Click). With
    ``fixoff``, a data offset under 5 becomes 5 and one beyond the segment (in an
    unfragmented packet) becomes the segment length / 4, before the sum.

    A packet without 20 IP header bytes at ``l3`` is dropped as ``no_ip_header``
    (Click assumes one); as Click, one whose segment is shorter than 20 bytes or runs
    past the packet is dropped as ``bad_lengths``, as is one whose IP header runs past
    the packet or whose ``l4`` lies before ``l3``.

    Ports: ``1/1``.

    Example::

        elements:
          check: {kind: CheckIPHeader, config: {offset: 14}}
          tcpsum: {kind: SetTCPChecksum, config: {fixoff: true}}
        connections:
          - in -> check -> tcpsum -> out

    Counters: the drop reasons ``no_ip_header``, ``bad_lengths``.
    See also: SetUDPChecksum, SetIPChecksum, CheckIPHeader.
    """

    ports = "1/1"
    Config = SetTCPChecksumConfig
    reads = ("l3", "l4", "head", "length", "ip", "tcp", "payload")
    writes = ("tcp.sum",)
    drops = ("no_ip_header", "bad_lengths")
    idempotent = True
    kernel = staticmethod(settcpchecksum_kernel)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.config.fixoff:  # the data offset is written too
            self.writes = ("tcp",)

    def make_state(self, n_outputs: int) -> np.ndarray:
        return np.array([self.config.fixoff], np.int64)

    def reference(self, pkt, inp: int) -> int:
        l3, l4, end = pkt.l3, pkt.l4, pkt.head + pkt.length
        if l3 < 0 or l3 < pkt.head or end - l3 < 20:
            return -1
        hlen = (pkt.buf[l3] & 0x0F) * 4
        seg = pkt.u16(l3 + 2) - hlen
        if l4 < l3 or l3 + hlen > end or not 20 <= seg <= end - l4:
            return -2
        if self.config.fixoff:
            off = pkt.buf[l4 + 12] >> 4
            if off < 5:
                off = 5
            elif off * 4 > seg and pkt.u16(l3 + 6) & 0x3FFF == 0:
                off = seg // 4
            pkt.buf[l4 + 12] = off << 4 | pkt.buf[l4 + 12] & 0x0F
        pkt.put16(l4 + 16, 0)
        pkt.put16(l4 + 16, transport_checksum_reference(pkt, l3, l4, seg))
        return 0
