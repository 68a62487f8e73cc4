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
          hi: {kind: Queue}
          lo: {kind: Queue}
          sched: {kind: PrioSched}
        connections:
          - hi -> [0]sched
          - lo -> [1]sched
          - sched -> out

    Counters: none. See also: RoundRobinSched, Queue, BandwidthShaper.
    """

    ports = "-/1"
