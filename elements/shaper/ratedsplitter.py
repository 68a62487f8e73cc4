"""RatedSplitter: sends packets to output 0 up to a packet rate, the rest to output 1."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from pydantic import Field

from elements.element import Element, ElementConfig
from elements.jit import inlined
from elements.reference import Packet
from elements.shaper.tokenbucket import (
    MAX_CAPACITY,
    MAX_RATE,
    burst_default,
    ref_refill,
    tb_contains,
    tb_make,
    tb_refill,
    tb_remove,
)


@inlined
def split_on_credit(s, now, need, cost):
    """Output 0, charging ``cost`` tokens, when the bucket refilled to ``now`` holds
    ``need`` tokens; output 1 otherwise (RatedSplitter and BandwidthRatedSplitter)."""
    tb_refill(s, now)
    if tb_contains(s, need):
        tb_remove(s, cost)
        return 0
    return 1


@inlined
def rated_splitter_kernel(b, i, s, inp):
    return split_on_credit(s, b.timestamp[i], 1, 1)


class RatedSplitterConfig(ElementConfig):
    rate: int = Field(ge=1, le=MAX_RATE, description="packets per second (Click's RATE)")
    burst_size: int | None = Field(None, ge=1, le=MAX_CAPACITY, description=(
        "packets that may pass back to back (Click's BURST_SIZE); default: what rate"
        " delivers in 20 ms, at least 1"))


class RatedSplitter(Element):
    """Send up to ``rate`` packets per second to output 0 and the rest to output 1
    (Click's RatedSplitter).

    Ports: ``1/2``. A token bucket of ``burst_size`` packets, full at the start, fills
    at ``rate`` per second of packet time; a packet that finds a token takes it and
    leaves by output 0, otherwise it leaves by output 1 (dropped as
    ``unconnected_port`` when output 1 is not connected, as Click's
    checked_output_push).

    Example::

        elements:
          split: {kind: RatedSplitter, config: {rate: 1000}}
        connections:
          - in -> split -> out
          - split[1] -> [1]out

    Counters: the output counts. See also: BandwidthRatedSplitter, TokenBucketPolicer,
    RatedUnqueue.
    """

    ports = "1/2"
    Config = RatedSplitterConfig
    reads = ("timestamp",)
    state_kind = "global"
    kernel = staticmethod(rated_splitter_kernel)

    def capacity(self) -> int:
        return self.config.burst_size or burst_default(self.config.rate)

    def make_state(self, n_outputs: int) -> np.ndarray:
        self._ref_level, self._ref_last = Fraction(self.capacity()), None
        return tb_make(self.config.rate, self.capacity())

    def reference(self, pkt: Packet, inp: int) -> int:
        return self.split_reference(pkt, 1, 1)

    def split_reference(self, pkt: Packet, need: int, cost: int) -> int:
        """``split_on_credit`` on the reference bucket."""
        ref_refill(self, pkt, self.capacity())
        if self._ref_level >= need:
            self._ref_level -= cost
            return 0
        return 1
