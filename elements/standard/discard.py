"""Discard: drops every packet, counting it."""

from __future__ import annotations

from elements.element import Element, drop
from elements.jit import inlined


@inlined
def discard_kernel(b, i, s, inp):
    return drop(0)


class Discard(Element):
    """Drop every packet that arrives (Click's Discard), counted under ``discarded``.

    Ports: ``-/0``: any number of inputs, no outputs.

    Example::

        elements:
          bad: {kind: Discard}

    Counters: the drop reason ``discarded``. See also: Counter, Idle, Tee.
    """

    ports = "-/0"
    drops = ("discarded",)
    kernel = staticmethod(discard_kernel)

    def cache_role(self) -> str:
        return "verdict"

    def reference(self, pkt, inp: int) -> int:
        return -1
