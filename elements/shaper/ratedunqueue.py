"""RatedUnqueue: pulls packets at a packet rate and pushes them on."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from elements.element import ElementConfig
from elements.jit import inlined
from elements.shaper.pull import PullElement
from elements.shaper.tokenbucket import (
    CHARGED,
    MAX_CAPACITY,
    MAX_RATE,
    burst_default,
    tb_make,
    tb_ready_at,
    tb_refill,
    tb_remove,
)


@inlined
def one_ready(s):
    return tb_ready_at(s, 1)


@inlined
def charge_one(s, b, j, k, t):
    tb_refill(s, t)
    tb_remove(s, 1)


class RatedUnqueueConfig(ElementConfig):
    rate: int = Field(ge=1, le=MAX_RATE, description="packets per second (Click's RATE)")
    burst_size: int | None = Field(None, ge=1, le=MAX_CAPACITY, description=(
        "packets that may leave back to back after an idle time (Click's BURST_SIZE);"
        " default: what rate delivers in 20 ms, at least 1"))


class RatedUnqueue(PullElement):
    """Pull packets at most ``rate`` per second and push them out (Click's RatedUnqueue).

    Ports: ``1/1``, input pull, output push. A token bucket of ``burst_size`` packets
    fills at ``rate`` per second and starts full; each packet takes one token, so after
    an idle time up to ``burst_size`` packets leave at once, then one every 1/rate s.

    Example::

        elements:
          q: {kind: Queue}
          ru: {kind: RatedUnqueue, config: {rate: 1000, burst_size: 10}}
        connections:
          - in -> q -> ru -> out

    Counters: ``pushes`` (packets let through).

    See also: BandwidthRatedUnqueue, Unqueue, BandwidthShaper, RatedSplitter.
    """

    Config = RatedUnqueueConfig
    state_kind = "global"
    pull_role: ClassVar[str] = "unqueue"
    ready = staticmethod(one_ready)
    took = staticmethod(charge_one)

    def make_state(self, n_outputs: int) -> np.ndarray:
        c = self.config
        return tb_make(c.rate, c.burst_size or burst_default(c.rate))

    def counters(self, state: np.ndarray) -> dict[str, int]:
        return {"pushes": int(state[CHARGED])}
