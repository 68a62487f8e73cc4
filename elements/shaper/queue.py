"""Queue: stores pushed packets in a FIFO until a pull element takes them."""

from __future__ import annotations

from collections import deque
from typing import ClassVar

import numpy as np
from pydantic import Field

from elements.batch import copy_row, make_batch
from elements.element import HELD, Element, ElementConfig, drop
from elements.jit import inlined
from elements.reference import Packet
from elements.shaper.tokenbucket import NEVER

HEAD, LENGTH, HIGHWATER, OUTPUTS = range(4)
MAX_CAPACITY = 1 << 16


@inlined
def queue_kernel(b, i, s, inp):
    q, c = s
    cap = q.head.shape[0]
    if c[LENGTH] >= cap:
        return 1 if c[OUTPUTS] > 1 else drop(0)
    copy_row(b, i, q, (c[HEAD] + c[LENGTH]) % cap)
    c[LENGTH] += 1
    c[HIGHWATER] = max(c[HIGHWATER], c[LENGTH])
    return HELD


@inlined
def queue_head_time(s):
    """Arrival time of the packet at the head, ``NEVER`` when empty."""
    q, c = s
    if c[LENGTH] == 0:
        return NEVER
    return q.timestamp[c[HEAD]]


@inlined
def queue_pop(s, b, j):
    """Move the head packet to row ``j`` of ``b`` (the caller checked it is there)."""
    q, c = s
    copy_row(q, c[HEAD], b, j)
    c[HEAD] = (c[HEAD] + 1) % q.head.shape[0]
    c[LENGTH] -= 1


class QueueConfig(ElementConfig):
    capacity: int = Field(1000, ge=1, le=MAX_CAPACITY,
                          description="packets the queue holds before it drops (Click's CAPACITY)")


class Queue(Element):
    """Store packets in a first-in first-out queue; pull elements take them (Click's Queue).

    Ports: ``1/1-2``: input 0 is push; output 0 is pull (a scheduler, shaper or
    unqueuer takes packets from it; wired straight to a push element or to ``out``, it
    is drained as fast as packets arrive, as by a ToDevice on an infinitely fast link);
    output 1, if connected, pushes the packets dropped because the queue was full.

    A packet that finds the queue holding ``capacity`` packets is dropped (counted
    under the drop reason ``full``) or, when output 1 is connected, sent there: Click's
    ``drops`` handler is ``full`` plus what left by output 1.
    A stored packet keeps its bytes, its place in the slot and every annotation; its
    timestamp is its arrival time until a pull element lets it go (see msh.schedule).
    Each queue holds ``capacity`` packet slots of 2 KiB (a 1000-packet queue takes 2 MB).

    Example::

        elements:
          q: {kind: Queue, config: {capacity: 64}}
          shape: {kind: BandwidthShaper, config: {rate: 125000}}
        connections:
          - in -> q -> shape -> out

    Counters: ``length`` (packets held now; also ``held`` for the runtime's accounting),
    ``highwater_length`` (the most held at once), ``capacity``; drop reason ``full``.

    See also: PrioSched, RoundRobinSched, BandwidthShaper, RatedUnqueue, Unqueue.
    """

    ports = "1/1-2"
    Config = QueueConfig
    state_kind = "global"
    drops = ("full",)
    pull_role: ClassVar[str] = "store"
    kernel = staticmethod(queue_kernel)
    head_time = staticmethod(queue_head_time)
    pop = staticmethod(queue_pop)

    def make_state(self, n_outputs: int) -> tuple:
        self._ref = deque()
        self._ref_outputs = n_outputs
        return make_batch(self.config.capacity), np.array([0, 0, 0, n_outputs], np.int64)

    def counters(self, state: tuple) -> dict[str, int]:
        c = state[1]
        return {"length": int(c[LENGTH]), "held": int(c[LENGTH]),
                "highwater_length": int(c[HIGHWATER]), "capacity": self.config.capacity}

    def reference(self, pkt: Packet, inp: int) -> int:
        if len(self._ref) >= self.config.capacity:
            return 1 if self._ref_outputs > 1 else -1
        self._ref.append(pkt)
        return HELD
