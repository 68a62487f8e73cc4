"""MarkIPHeader: marks where the IP header is, without checking it."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from elements.element import Element, ElementConfig, drop
from elements.jit import inlined
from elements.net import mark_ip, mark_ip_reference, marks_kept_by


@inlined
def markipheader_kernel(b, i, s, inp):
    off = s[0]
    if b.length[i] - off < 20:
        return drop(0)
    mark_ip(b, i, b.head[i] + off)
    return 0


class MarkIPHeaderConfig(ElementConfig):
    offset: int = Field(0, ge=0, le=1024,
        description="where the IP header starts in the packet (Click's OFFSET)")


class MarkIPHeader(Element):
    """Mark the IP header ``offset`` bytes into each packet, without checking it
    (Click's MarkIPHeader): sets ``l3``, ``l4`` (``l3`` + the IHL field), the 5-tuple,
    the fragment flags and the flow hash as CheckIPHeader does, but neither checks
    version, lengths or checksum, nor trims padding, nor sets ``dst_anno``.

    Click only sets a pointer and lets later elements read whatever is there. A kernel
    must not read past the packet, and every field of the 20-byte base header is
    parsed into annotations, so a packet with fewer than 20 bytes at ``offset`` is
    dropped as ``too_short``. Annotations never describe bytes outside the packet:
    ports are set only when the transport header's first 4 bytes are present.

    Ports: ``1/1``.

    Example::

        elements:
          mark: {kind: MarkIPHeader, config: {offset: 14}}
        connections:
          - in -> mark -> out

    Counters: the drop reason ``too_short``. See also: CheckIPHeader, Strip.
    """

    ports = "1/1"
    Config = MarkIPHeaderConfig
    reads = ("head", "length", "ip", "l4.ports")
    writes = ("l3", "l4", "flags", "proto", "saddr", "daddr", "sport", "dport", "flow_hash")
    drops = ("too_short",)
    idempotent = True
    kernel = staticmethod(markipheader_kernel)

    def same_work(self, earlier: Element, shift: int) -> bool:
        """A MarkIPHeader or CheckIPHeader that marked the same header bytes."""
        from elements.ip.checkipheader import CheckIPHeader

        return (isinstance(earlier, (MarkIPHeader, CheckIPHeader))
                and earlier.config.offset == self.config.offset + shift)

    def unaffected_by(self, writer: Element) -> bool:
        """Rewriters that keep the annotations in step with the bytes they change."""
        return marks_kept_by(writer)

    def make_state(self, n_outputs: int) -> np.ndarray:
        return np.array([self.config.offset], np.int64)

    def reference(self, pkt, inp: int) -> int:
        l3 = pkt.head + self.config.offset
        if pkt.length - self.config.offset < 20:
            return -1
        mark_ip_reference(pkt, l3)
        return 0

