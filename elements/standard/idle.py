"""Idle: never sends a packet; drops, counted, any packet it is given."""

from __future__ import annotations

from elements.element import Element, drop, drop_code
from elements.jit import inlined


@inlined
def idle_kernel(b, i, s, inp):
    return drop(0)


class Idle(Element):
    """Stand in for a missing neighbour: never send a packet, and drop (counted) any
    packet that arrives (Click's Idle).

    Ports: ``-/-``: any number of inputs and outputs, none of them required.

    Behaviour: Idle creates no packets, so its outputs never carry one; it feeds an
    input that must be connected but gets no traffic (the NAT's and the load
    balancer's reply inputs inside a chain, as in the example: a balancer
    that only ever sees client packets). A packet pushed to any of its inputs is
    dropped under ``discarded``, so the runtime's accounting still holds. ``msh
    compile --dump-passes`` connects every port a chain leaves unconnected to an Idle,
    so that each dumped intermediate loads and runs.

    Example::

        elements:
          mark: {kind: MarkIPHeader}
          lb: {kind: MaglevLB, config: {vip: 10.0.0.100, backends: [{addr: 192.168.1.1}]}}
          idle: {kind: Idle}
        connections:
          - in -> mark -> lb -> out
          - idle -> [1]lb[1] -> [1]out

    Counters: the drop reason ``discarded``. See also: Discard.
    """

    ports = "-/-"
    drops = ("discarded",)
    kernel = staticmethod(idle_kernel)

    def cache_role(self) -> str:
        return "verdict"

    def reference(self, pkt, inp: int) -> int:
        return drop_code(0)
