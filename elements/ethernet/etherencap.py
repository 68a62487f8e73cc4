"""EtherEncap: prepends an Ethernet header, using the slot's headroom."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from elements.element import Element, ElementConfig, drop
from elements.jit import inlined
from elements.net import ETHER_HLEN, EtherAddress, ether_bytes


@inlined
def etherencap_kernel(b, i, s, inp):
    h = b.head[i] - ETHER_HLEN
    if h < 0:
        return drop(0)
    row = b.data[i]
    for k in range(ETHER_HLEN):
        row[h + k] = s[k]
    b.head[i] = h
    b.length[i] += ETHER_HLEN
    return 0


class EtherEncapConfig(ElementConfig):
    ethertype: int = Field(ge=0, le=0xFFFF,
        description="the header's type field, e.g. 0x0800 (Click's ETHERTYPE)")
    src: EtherAddress = Field(description="source address, 00:11:22:33:44:55 (Click's SRC)")
    dst: EtherAddress = Field(description="destination address (Click's DST)")


class EtherEncap(Element):
    """Prepend a 14-byte Ethernet header ``dst, src, ethertype`` (Click's EtherEncap).

    The head moves back into the slot's headroom; nothing is copied and header
    annotations keep pointing at the same bytes. Click reallocates a packet without
    14 bytes of headroom; a slot cannot grow, so such a packet is dropped as
    ``no_headroom`` (only possible after 128 bytes of encapsulation).

    Ports: ``1/1``.

    Example::

        elements:
          strip: {kind: Strip, config: {length: 14}}
          encap:
            kind: EtherEncap
            config: {ethertype: 0x0800, src: "00:11:22:33:44:55", dst: "66:77:88:99:aa:bb"}
        connections:
          - in -> strip -> encap -> out

    Counters: the drop reason ``no_headroom``. See also: EtherRewrite, Unstrip, Strip.
    """

    ports = "1/1"
    Config = EtherEncapConfig
    reads = ("head", "length")
    writes = ("head", "length", "ether")
    drops = ("no_headroom",)
    kernel = staticmethod(etherencap_kernel)

    def head_shift(self) -> int:
        return -14

    def header(self) -> bytes:
        c = self.config
        return ether_bytes(c.dst) + ether_bytes(c.src) + c.ethertype.to_bytes(2, "big")

    def make_state(self, n_outputs: int) -> np.ndarray:
        return np.frombuffer(self.header(), np.uint8).copy()

    def reference(self, pkt, inp: int) -> int:
        if pkt.head < 14:
            return -1
        pkt.head -= 14
        pkt.length += 14
        pkt.buf[pkt.head : pkt.head + 14] = self.header()
        return 0
