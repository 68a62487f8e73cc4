"""SetUDPChecksum: recomputes the UDP checksum, pseudo-header included."""

from __future__ import annotations

import numpy as np

from elements.element import Element, drop
from elements.jit import inlined
from elements.net import fold, ip_room, pseudo_sum, rd16, sum16, transport_checksum_reference, wr16

REASONS = ("no_ip_header", "fragment", "short")


@inlined
def _bad(s, reason):
    s[1 + reason] += 1
    return 1 if s[0] >= 2 else drop(reason)


@inlined
def setudpchecksum_kernel(b, i, s, inp):
    room = ip_room(b, i)
    if room < 20:
        return _bad(s, 0)
    row = b.data[i]
    l3 = b.l3[i]
    if rd16(row, l3 + 6) & 0x3FFF:
        return _bad(s, 1)
    l4 = b.l4[i]
    hlen = (row[l3] & 0x0F) * 4
    tlen = b.head[i] + b.length[i] - l4
    if l4 < l3 or hlen > room or tlen < 8:
        return _bad(s, 2)
    ulen = rd16(row, l4 + 4)
    if ulen < 8 or ulen > tlen:
        return _bad(s, 2)
    wr16(row, l4 + 6, 0)
    c = fold(sum16(row, l4, ulen) + pseudo_sum(row, l3, hlen, ulen))
    wr16(row, l4 + 6, c if c != 0 else 0xFFFF)
    return 0


class SetUDPChecksum(Element):
    """Set the UDP checksum of every packet (Click's SetUDPChecksum).

    The datagram is the UDP length field's bytes at ``l4``; the pseudo-header comes
    from the IP header at ``l3``, with the last hop of a source-route option as
    destination (as Click, Linux and scapy). The protocol field is not checked (as
    Click). A computed 0 is sent as 0xFFFF, as RFC 768 requires -- Click would send 0,
    which means "no checksum".

    As Click, a fragment (``fragment``), or a packet whose UDP header or datagram runs
    past its end (``short``), leaves by output 1 when that is connected, else is
    dropped. So do, beyond Click, a packet without 20 IP header bytes at ``l3``
    (``no_ip_header``; Click assumes one) and a UDP length under 8 (``short``; Click
    sums a meaningless range). Each is counted under its reason either way.

    Ports: ``1/1-2``.

    Example::

        elements:
          check: {kind: CheckIPHeader, config: {offset: 14}}
          udpsum: {kind: SetUDPChecksum}
        connections:
          - in -> check -> udpsum -> out

    Counters: ``no_ip_header``, ``fragment``, ``short`` (also the drop reasons).
    See also: SetTCPChecksum, SetIPChecksum, CheckIPHeader.
    """

    ports = "1/1-2"
    reads = ("l3", "l4", "head", "length", "ip", "udp", "payload")
    writes = ("udp.sum",)
    drops = REASONS
    idempotent = True
    kernel = staticmethod(setudpchecksum_kernel)
    n_outputs = 1  # set by make_state: the reference routes as the kernel does

    def make_state(self, n_outputs: int) -> np.ndarray:
        self.n_outputs = n_outputs
        self.ref_counts = [0] * len(REASONS)
        state = np.zeros(1 + len(REASONS), np.int64)
        state[0] = n_outputs
        return state

    def counters(self, state: np.ndarray) -> dict[str, int]:
        return {r: int(n) for r, n in zip(REASONS, state[1:])}

    def reference(self, pkt, inp: int) -> int:
        reason = self._checksum(pkt)
        if reason is None:
            return 0
        self.ref_counts[REASONS.index(reason)] += 1
        return 1 if self.n_outputs >= 2 else -1 - REASONS.index(reason)

    def _checksum(self, pkt) -> str | None:
        l3, l4, end = pkt.l3, pkt.l4, pkt.head + pkt.length
        if l3 < 0 or l3 < pkt.head or end - l3 < 20:
            return "no_ip_header"
        if pkt.u16(l3 + 6) & 0x3FFF:
            return "fragment"
        if l4 < l3 or l3 + (pkt.buf[l3] & 0x0F) * 4 > end or end - l4 < 8:
            return "short"
        ulen = pkt.u16(l4 + 4)
        if not 8 <= ulen <= end - l4:
            return "short"
        pkt.put16(l4 + 6, 0)
        pkt.put16(l4 + 6, transport_checksum_reference(pkt, l3, l4, ulen) or 0xFFFF)
        return None
