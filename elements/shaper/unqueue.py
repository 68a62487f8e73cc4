"""Unqueue: pulls packets as soon as they are there and pushes them on."""

from __future__ import annotations

from typing import ClassVar

from elements.shaper.pull import PullElement


class Unqueue(PullElement):
    """Pull every packet as soon as its input has one and push it out (Click's Unqueue).

    Ports: ``1/1``, input pull, output push. A packet leaves at its arrival time (or
    at the time an upstream shaper releases it): Unqueue adds no delay. Click's BURST
    (packets per task run) has no meaning without tasks and is not taken.

    Example::

        elements:
          q: {kind: Queue}
          u: {kind: Unqueue}
        connections:
          - in -> q -> u -> out

    Counters: none. See also: RatedUnqueue, Queue.
    """

    ports = "1/1"
    pull_role: ClassVar[str] = "unqueue"
