"""BandwidthRatedUnqueue: pulls packets at a byte rate and pushes them on."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from elements.element import ElementConfig
from elements.shaper.bandwidthshaper import charge_bytes, credit_ready
from elements.shaper.pull import PullElement
from elements.shaper.tokenbucket import CHARGED, MAX_CAPACITY, MAX_RATE, burst_default, tb_make


class BandwidthRatedUnqueueConfig(ElementConfig):
    rate: int = Field(ge=1, le=MAX_RATE, description="bytes per second (Click's RATE)")
    burst_bytes: int | None = Field(None, ge=0, le=MAX_CAPACITY, description=(
        "bytes of credit saved up while idle (Click's BURST_BYTES); default: what rate"
        " delivers in 20 ms"))


class BandwidthRatedUnqueue(PullElement):
    """Pull packets at most ``rate`` bytes per second and push them out (Click's
    BandwidthRatedUnqueue).

    Ports: ``1/1``, input pull, output push. A pull passes while the byte credit is
    not negative and then charges the packet's length; the credit refills at ``rate``
    up to ``burst_bytes`` and starts full (Click keeps the same credit above its
    131072-byte threshold). ``burst_bytes: 0`` is a BandwidthShaper that pushes.

    Example::

        elements:
          q: {kind: Queue}
          bru: {kind: BandwidthRatedUnqueue, config: {rate: 1250000, burst_bytes: 3000}}
        connections:
          - in -> q -> bru -> out

    Counters: ``byte_count`` (bytes let through).

    See also: RatedUnqueue, BandwidthShaper, BandwidthRatedSplitter.
    """

    Config = BandwidthRatedUnqueueConfig
    reads = ("length",)
    state_kind = "global"
    pull_role: ClassVar[str] = "unqueue"
    ready = staticmethod(credit_ready)
    took = staticmethod(charge_bytes)

    def make_state(self, n_outputs: int) -> np.ndarray:
        c = self.config
        burst = burst_default(c.rate) if c.burst_bytes is None else c.burst_bytes
        return tb_make(c.rate, burst)

    def counters(self, state: np.ndarray) -> dict[str, int]:
        return {"byte_count": int(state[CHARGED])}
