"""Wire: passes every packet from its input to its output untouched."""

from __future__ import annotations

from elements.element import Element
from elements.jit import inlined


@inlined
def wire_kernel(b, i, s, inp):
    return 0


class Wire(Element):
    """Forward every packet unchanged: the do-nothing middlebox, a baseline to measure
    the framework's own cost against (Click's Null).

    Ports: ``1/1``.

    Behaviour: the packet leaves on output 0; no byte or annotation changes.

    Example::

        elements:
          w: {kind: Wire}
        connections:
          - in -> w -> out

    Counters: none (the runtime counts each output port).

    See also: Counter, Discard.
    """

    ports = "1/1"
    idempotent = True
    kernel = staticmethod(wire_kernel)

    def cache_role(self) -> str:
        return "verdict"

    def reference(self, pkt, inp: int) -> int:
        return 0
