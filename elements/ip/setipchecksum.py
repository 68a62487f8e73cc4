"""SetIPChecksum: recomputes the IPv4 header checksum."""

from __future__ import annotations

from elements.element import Element, drop
from elements.jit import inlined
from elements.net import fold, internet_checksum, ip_room, sum16, wr16


@inlined
def setipchecksum_kernel(b, i, s, inp):
    room = ip_room(b, i)
    if room < 0:
        return drop(0)
    l3 = b.l3[i]
    row = b.data[i]
    if room < 20:
        return drop(1)
    hlen = (row[l3] & 0x0F) * 4
    if hlen < 20 or hlen > room:
        return drop(1)
    wr16(row, l3 + 10, 0)
    wr16(row, l3 + 10, fold(sum16(row, l3, hlen)))
    return 0


class SetIPChecksum(Element):
    """Set the IP header checksum of every packet (Click's SetIPChecksum).

    The header is the one at the ``l3`` annotation (set by CheckIPHeader or
    MarkIPHeader); its length comes from its IHL field, options included. As Click,
    a packet with no IP header is dropped, as ``no_ip_header``, and one whose packet
    bytes from ``l3`` are fewer than 20 or fewer than the IHL says, as ``bad_lengths``.

    Ports: ``1/1``.

    Example::

        elements:
          mark: {kind: MarkIPHeader, config: {offset: 14}}
          sum: {kind: SetIPChecksum}
        connections:
          - in -> mark -> sum -> out

    Counters: the drop reasons ``no_ip_header``, ``bad_lengths``.
    See also: CheckIPHeader, MarkIPHeader, DecIPTTL, SetTCPChecksum, SetUDPChecksum.
    """

    ports = "1/1"
    reads = ("l3", "head", "length", "ip")
    writes = ("ip.sum",)
    drops = ("no_ip_header", "bad_lengths")
    idempotent = True
    keeps_ip_valid = True  # a valid header's checksum is recomputed to the same value
    kernel = staticmethod(setipchecksum_kernel)

    def reference(self, pkt, inp: int) -> int:
        room = pkt.head + pkt.length - pkt.l3
        if pkt.l3 < 0 or pkt.l3 < pkt.head or room < 0:
            return -1
        if room < 20:
            return -2
        hlen = (pkt.buf[pkt.l3] & 0x0F) * 4
        if hlen < 20 or hlen > room:
            return -2
        pkt.put16(pkt.l3 + 10, 0)
        pkt.put16(pkt.l3 + 10, internet_checksum(pkt.buf[pkt.l3 : pkt.l3 + hlen]))
        return 0

