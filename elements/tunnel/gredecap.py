"""GREDecap: leaves a GRE tunnel: checks the GRE header, strips it and the outer IP."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from elements.element import drop
from elements.jit import inlined
from elements.net import fold, internet_checksum, rd16, rd32, sum16
from elements.tunnel.greencap import ETHERTYPE_IPV4, GRE_C, GRE_K, GRE_S, IPPROTO_GRE
from elements.tunnel.outer import (
    Decap,
    DecapConfig,
    enter_inner,
    enter_inner_reference,
    outer_payload,
    outer_payload_reference,
)

# R (routing), s (strict source route), recursion control, reserved0: RFC 2784 says to
# discard packets with any of them set; version must be 0.
GRE_MUST_BE_ZERO = 0x4FFF


@inlined
def gredecap_kernel(b, i, s, inp):
    ep, key = s
    start, end = outer_payload(b, i, IPPROTO_GRE, ep)
    if start < 0:
        return drop(end)
    n = end - start
    if n < 4:
        return drop(5)
    row = b.data[i]
    flags = rd16(row, start)
    if flags & GRE_MUST_BE_ZERO:
        return drop(5)
    hl = 4
    if flags & GRE_C:
        hl += 4
    koff = start + hl
    if flags & GRE_K:
        hl += 4
    if flags & GRE_S:
        hl += 4
    if n < hl:
        return drop(5)
    if rd16(row, start + 2) != ETHERTYPE_IPV4:
        return drop(6)
    if flags & GRE_C and fold(sum16(row, start, n)) != 0:
        return drop(7)
    has_key = (flags & GRE_K) != 0
    if has_key != (key[0] != 0) or (has_key and rd32(row, koff) != key[1]):
        return drop(8)
    if not enter_inner(b, i, start + hl, end):
        return drop(4)
    return 0


class GREDecapConfig(DecapConfig):
    key: int | None = Field(None, ge=0, le=0xFFFFFFFF,
                            description="accept only packets with this GRE key; none: only unkeyed")


class GREDecap(Decap):
    """Check and strip the outer IPv4 and GRE headers of a GRE packet (protocol 47)
    carrying IPv4, and mark the inner packet: a GRE tunnel exit.

    Needs the outer header marked (CheckIPHeader upstream). Drops, in order of
    checking: ``not_ip``, ``not_gre`` (another protocol), ``fragment``,
    ``wrong_endpoint`` (outer ``src``/``dst`` differ from the configured ones),
    ``bad_gre`` (shorter than its header, version not 0, or routing/strict
    route/recursion/reserved bits set, as RFC 2784 says to discard),
    ``not_ipv4_payload`` (protocol type not 0x0800), ``bad_checksum`` (GRE checksum
    present and wrong), ``wrong_key`` (key absent, present or different from ``key``),
    ``bad_inner`` (inner header impossible, as IPDecap). Sequence numbers are accepted
    as they come (no reordering window). Then the head moves to the inner header and
    the annotations describe the inner packet (its checksum is not verified).

    Ports: ``1/1``.

    Example::

        elements:
          chk: {kind: CheckIPHeader}
          gre: {kind: GREDecap, config: {src: 198.51.100.7, key: 42}}
        connections:
          - in -> chk -> gre -> out

    Counters: the drop reasons. See also: GREEncap, IPDecap.
    """

    Config = GREDecapConfig
    drops = ("not_ip", "not_gre", "fragment", "wrong_endpoint", "bad_inner", "bad_gre",
             "not_ipv4_payload", "bad_checksum", "wrong_key")
    kernel = staticmethod(gredecap_kernel)

    def make_state(self, n_outputs: int) -> tuple:
        key = self.config.key
        return self.config.endpoints(), np.array([key is not None, key or 0], np.int64)

    def reference(self, pkt, inp: int) -> int:
        start, end = outer_payload_reference(pkt, IPPROTO_GRE, self.config.endpoints())
        if start < 0:
            return -1 - end
        gre = bytes(pkt.buf[start:end])
        if len(gre) < 4:
            return -1 - 5
        flags = int.from_bytes(gre[:2], "big")
        if flags & GRE_MUST_BE_ZERO:
            return -1 - 5
        fields = [bit for bit in (GRE_C, GRE_K, GRE_S) if flags & bit]
        hl = 4 + 4 * len(fields)
        if len(gre) < hl:
            return -1 - 5
        if int.from_bytes(gre[2:4], "big") != ETHERTYPE_IPV4:
            return -1 - 6
        if flags & GRE_C and internet_checksum(gre) != 0:
            return -1 - 7
        key = None
        if flags & GRE_K:
            at = 4 + 4 * fields.index(GRE_K)
            key = int.from_bytes(gre[at : at + 4], "big")
        if key != self.config.key:
            return -1 - 8
        if not enter_inner_reference(pkt, start + hl, end):
            return -1 - 4
        return 0
