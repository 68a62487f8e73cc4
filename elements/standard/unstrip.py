"""Unstrip: puts bytes back on the front of each packet by moving its head back."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from elements.element import Element, ElementConfig, drop
from elements.jit import inlined


@inlined
def unstrip_kernel(b, i, s, inp):
    n = s[0]
    if b.head[i] < n:
        return drop(0)
    b.head[i] -= n
    b.length[i] += n
    return 0


class UnstripConfig(ElementConfig):
    length: int = Field(ge=0, le=1024,
        description="bytes to put back on the front (Click's LENGTH)")


class Unstrip(Element):
    """Put ``length`` bytes back on the front of every packet (Click's Unstrip).

    The head moves back over the slot's headroom, so after ``Strip(n)`` the stripped
    bytes reappear unchanged; header annotations keep pointing at the same bytes.
    Click reallocates a packet without enough headroom; a slot cannot grow, so such a
    packet (its head less than ``length`` bytes into the slot: encapsulations already
    used up the slot's 128 bytes of headroom) is dropped as ``no_headroom``.

    Ports: ``1/1``.

    Example::

        elements:
          strip: {kind: Strip, config: {length: 14}}
          unstrip: {kind: Unstrip, config: {length: 14}}
        connections:
          - in -> strip -> unstrip -> out

    Counters: the drop reason ``no_headroom``. See also: Strip, EtherEncap.
    """

    ports = "1/1"
    Config = UnstripConfig
    reads = ("head", "length")
    writes = ("head", "length")
    drops = ("no_headroom",)
    kernel = staticmethod(unstrip_kernel)

    def cache_role(self) -> str:
        """The decision cache replays the head and length it moves."""
        return "verdict"

    def head_shift(self) -> int:
        return -self.config.length

    def make_state(self, n_outputs: int) -> np.ndarray:
        return np.array([self.config.length], np.int32)

    def reference(self, pkt, inp: int) -> int:
        n = self.config.length
        if pkt.head < n:
            return -1
        pkt.head -= n
        pkt.length += n
        return 0
