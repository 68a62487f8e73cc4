"""PrioSched: pulls from the first of its inputs that has a packet (strict priority)."""

from __future__ import annotations

from elements.shaper.pull import PullElement


class PrioSched(PullElement):
    """Strict-priority scheduler: each pull takes from input 0 if it has a packet due,
    else from input 1, and so on (Click's PrioSched).

    Ports: ``-/1``, inputs and output pull. Its inputs are Queues or other pull
    elements; a lower-priority input is served only while every higher one is empty
    (or held back by its own shaper), so it can starve.

    Example::

        elements:
          by_paint: {kind: PaintSwitch}
          hi: {kind: Queue}
          lo: {kind: Queue}
          sched: {kind: PrioSched}
          link: {kind: BandwidthShaper, config: {rate: 125000}}
        connections:
          - in -> by_paint
          - by_paint[0] -> hi -> [0]sched
          - by_paint[1] -> lo -> [1]sched
          - sched -> link -> out

    Counters: none. See also: RoundRobinSched, Queue, BandwidthShaper.
    """

    ports = "-/1"
