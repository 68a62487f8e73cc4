"""RoundRobinSched: pulls from its inputs in turn."""

from __future__ import annotations

import numpy as np

from elements.jit import inlined
from elements.shaper.pull import PullElement


@inlined
def rr_order(s, a, m):
    return (s[0] + a) % m


@inlined
def rr_took(s, b, j, k, t):
    s[0] = k + 1


class RoundRobinSched(PullElement):
    """Round-robin scheduler: each pull tries the inputs in turn, starting with the one
    after the input that gave the last packet (Click's RoundRobinSched).

    Ports: ``-/1``, inputs and output pull. An empty input is skipped, so backlogged
    inputs share the output packet for packet.

    Example::

        elements:
          by_paint: {kind: PaintSwitch}
          a: {kind: Queue}
          b: {kind: Queue}
          rr: {kind: RoundRobinSched}
          link: {kind: BandwidthShaper, config: {rate: 125000}}
        connections:
          - in -> by_paint
          - by_paint[0] -> a -> [0]rr
          - by_paint[1] -> b -> [1]rr
          - rr -> link -> out

    Counters: none. See also: PrioSched, Queue.
    """

    ports = "-/1"
    state_kind = "global"
    order = staticmethod(rr_order)
    took = staticmethod(rr_took)

    def make_state(self, n_outputs: int) -> np.ndarray:
        return np.zeros(1, np.int64)  # the input to try first
