"""Strip: removes bytes from the front of each packet by moving its head."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from elements.element import Element, ElementConfig
from elements.jit import inlined


@inlined
def strip_kernel(b, i, s, inp):
    n = s[0]
    take = min(b.length[i], n)
    b.head[i] += take
    b.length[i] -= take
    return 0


class StripConfig(ElementConfig):
    length: int = Field(ge=0, le=1024, description="bytes to remove from the front (Click's LENGTH)")


class Strip(Element):
    """Remove ``length`` bytes from the front of every packet (Click's Strip).

    A packet shorter than ``length`` becomes empty, as in Click. Nothing is copied:
    the packet's head moves into the slot's headroom side. Header annotations keep
    pointing at the same bytes.

    Ports: ``1/1``.

    Example::

        elements:
          strip: {kind: Strip, config: {length: 14}}

    See also: Unstrip, EtherEncap.
    """

    ports = "1/1"
    Config = StripConfig
    reads = ("head", "length")
    writes = ("head", "length")
    kernel = staticmethod(strip_kernel)

    def cache_role(self) -> str | None:
        """The decision cache replays the head and length it moves, which is the same for
        every packet it serves when no packet is shorter than ``length``: those packets
        hold an IP header and a whole TCP/UDP header, 28 bytes at least."""
        return "verdict" if self.config.length <= 28 else None

    def head_shift(self) -> int:
        return self.config.length

    def make_state(self, n_outputs: int) -> np.ndarray:
        return np.array([self.config.length], np.int32)

    def reference(self, pkt, inp: int) -> int:
        take = min(self.config.length, pkt.length)
        pkt.head += take
        pkt.length -= take
        return 0
