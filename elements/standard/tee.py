"""Tee: sends a copy of each packet to every output."""

from __future__ import annotations

from elements.element import Element


class Tee(Element):
    """Send the packet to output 0 and a copy to every other output (Click's Tee).

    The runtime makes the copies (``fanout``): each copy is a new row of the batch
    with the same bytes and annotations. When the batch has no room left for a copy,
    the copy is counted under ``no_room``.

    Ports: ``1/1-``.

    Example::

        elements:
          t: {kind: Tee}
        connections:
          - t[0] -> a
          - t[1] -> b

    See also: PaintSwitch.
    """

    ports = "1/1-"
    drops = ("no_room",)
    fanout = True

    def reference(self, pkt, inp: int) -> int:
        return 0
