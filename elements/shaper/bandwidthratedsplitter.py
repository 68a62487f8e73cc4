"""BandwidthRatedSplitter: sends packets to output 0 up to a byte rate, the rest to 1."""

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
def bw_splitter_kernel(b, i, s, inp):
    tb_refill(s, b.timestamp[i])
    if tb_contains(s, 0):
        tb_remove(s, b.length[i])
        return 0
    return 1


class BandwidthRatedSplitterConfig(ElementConfig):
    rate: int = Field(ge=1, le=MAX_RATE, description="bytes per second (Click's RATE)")
    burst_bytes: int | None = Field(None, ge=0, le=MAX_CAPACITY, description=(
        "bytes of credit saved up while idle (Click's BURST_BYTES); default: what rate"
        " delivers in 20 ms"))


class BandwidthRatedSplitter(Element):
    """Send up to ``rate`` bytes per second to output 0 and the rest to output 1
    (Click's BandwidthRatedSplitter).

    Ports: ``1/2``. A packet leaves by output 0 while the byte credit is not negative,
    and its whole length is charged (the credit may go negative: the next packets go
    to output 1 until the debt is paid back at ``rate``); the credit is capped at
    ``burst_bytes`` and starts full. This is Click's bucket above its 131072-byte
    threshold. Packets that find a debt leave by output 1 (dropped as
    ``unconnected_port`` if it is not connected).

    Example::

        elements:
          split: {kind: BandwidthRatedSplitter, config: {rate: 125000}}
        connections:
          - in -> split -> out
          - split[1] -> [1]out

    Counters: the output counts. See also: RatedSplitter, TokenBucketPolicer,
    BandwidthShaper.
    """

    ports = "1/2"
    Config = BandwidthRatedSplitterConfig
    reads = ("length", "timestamp")
    state_kind = "global"
    kernel = staticmethod(bw_splitter_kernel)

    def capacity(self) -> int:
        c = self.config
        return burst_default(c.rate) if c.burst_bytes is None else c.burst_bytes

    def make_state(self, n_outputs: int) -> np.ndarray:
        self._ref_level, self._ref_last = Fraction(self.capacity()), None
        return tb_make(self.config.rate, self.capacity())

    def reference(self, pkt: Packet, inp: int) -> int:
        ref_refill(self, pkt, self.capacity())
        if self._ref_level >= 0:
            self._ref_level -= pkt.length
            return 0
        return 1
