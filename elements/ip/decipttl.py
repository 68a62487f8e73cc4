"""DecIPTTL: decrements the IP time-to-live, diverting or dropping expired packets."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from elements.element import Element, ElementConfig, drop
from elements.jit import inlined
from elements.net import cksum_update16, ip_room, rd16, wr16

ACTIVE, MULTICAST, OUTPUTS, EXPIRED = range(4)  # indices into the state array


@inlined
def decipttl_kernel(b, i, s, inp):
    if not s[ACTIVE]:
        return 0
    if ip_room(b, i) < 20:
        return drop(1)
    row = b.data[i]
    l3 = b.l3[i]
    if not s[MULTICAST] and (row[l3 + 16] & 0xF0) == 0xE0:
        return 0
    ttl = np.uint32(row[l3 + 8])
    if ttl <= 1:
        s[EXPIRED] += 1
        return 1 if s[OUTPUTS] >= 2 else drop(0)
    old = (ttl << 8) | np.uint32(row[l3 + 9])
    row[l3 + 8] = ttl - 1
    wr16(row, l3 + 10, cksum_update16(rd16(row, l3 + 10), old, old - 0x100))
    return 0


class DecIPTTLConfig(ElementConfig):
    active: bool = Field(True,
        description="when false, pass every packet unchanged (Click's ACTIVE)")
    multicast: bool = Field(True,
        description="when false, leave multicast packets' TTL alone (Click's MULTICAST)")


class DecIPTTL(Element):
    """Decrement the IP TTL and update the checksum incrementally (Click's DecIPTTL).

    A packet whose TTL is 0 or 1 has expired: it goes to output 1 when that is
    connected (typically to an ICMP time-exceeded generator), else it is dropped as
    ``expired``; either way it is counted in ``expired``. Otherwise the TTL drops by
    one, the checksum is updated as RFC 1624 says (a correct checksum stays correct),
    and the packet leaves by output 0. With ``multicast: false``, packets to
    224.0.0.0/4 pass untouched; with ``active: false`` every packet does.

    The IP header is the one at ``l3`` (CheckIPHeader or MarkIPHeader sets it). Click
    asserts there is one; a packet without 20 header bytes at ``l3`` is dropped as
    ``no_ip_header``.

    Ports: ``1/1-2``.

    Example::

        elements:
          check: {kind: CheckIPHeader, config: {offset: 14}}
          ttl: {kind: DecIPTTL}
          expired: {kind: Discard}
        connections:
          - in -> check -> ttl -> out
          - ttl[1] -> expired

    Counters: ``expired`` (packets whose TTL ran out, Click's ``drops``); the drop
    reasons ``expired``, ``no_ip_header``. See also: CheckIPHeader, SetIPChecksum.
    """

    ports = "1/1-2"
    Config = DecIPTTLConfig
    reads = ("l3", "head", "length", "ip.ttl", "ip.sum", "ip.dst")
    writes = ("ip.ttl", "ip.sum")
    drops = ("expired", "no_ip_header")
    keeps_ip_valid = True  # the checksum follows the TTL; nothing else changes
    kernel = staticmethod(decipttl_kernel)
    n_outputs = 1  # set by make_state: the reference routes as the kernel does

    def make_state(self, n_outputs: int) -> np.ndarray:
        self.n_outputs = n_outputs
        self.ref_expired = 0
        c = self.config
        return np.array([c.active, c.multicast, n_outputs, 0], np.int64)

    def counters(self, state: np.ndarray) -> dict[str, int]:
        return {"expired": int(state[EXPIRED])}

    def reference(self, pkt, inp: int) -> int:
        if not self.config.active:
            return 0
        l3 = pkt.l3
        if l3 < 0 or l3 < pkt.head or pkt.head + pkt.length - l3 < 20:
            return -2
        if not self.config.multicast and 224 <= pkt.buf[l3 + 16] <= 239:
            return 0
        if pkt.buf[l3 + 8] <= 1:
            self.ref_expired += 1
            return 1 if self.n_outputs >= 2 else -1
        pkt.buf[l3 + 8] -= 1
        # Click's formula: new = ~(~old + 0xFEFF), one carry folded back.
        total = (~pkt.u16(l3 + 10) & 0xFFFF) + 0xFEFF
        pkt.put16(l3 + 10, ~(total + (total >> 16)) & 0xFFFF)
        return 0
