"""BandwidthRatedSplitter: sends packets to output 0 up to a byte rate, the rest to 1."""

from __future__ import annotations

from pydantic import Field

from elements.element import ElementConfig
from elements.jit import inlined
from elements.reference import Packet
from elements.shaper.ratedsplitter import RatedSplitter, split_on_credit
from elements.shaper.tokenbucket import MAX_CAPACITY, MAX_RATE, burst_default


@inlined
def bw_splitter_kernel(b, i, s, inp):
    return split_on_credit(s, b.timestamp[i], 0, b.length[i])


class BandwidthRatedSplitterConfig(ElementConfig):
    rate: int = Field(ge=1, le=MAX_RATE, description="bytes per second (Click's RATE)")
    burst_bytes: int | None = Field(None, ge=0, le=MAX_CAPACITY, description=(
        "bytes of credit saved up while idle (Click's BURST_BYTES); default: what rate"
        " delivers in 20 ms"))


class BandwidthRatedSplitter(RatedSplitter):
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

    Config = BandwidthRatedSplitterConfig
    reads = ("length", "timestamp")
    kernel = staticmethod(bw_splitter_kernel)

    def capacity(self) -> int:
        c = self.config
        return burst_default(c.rate) if c.burst_bytes is None else c.burst_bytes

    def reference(self, pkt: Packet, inp: int) -> int:
        return self.split_reference(pkt, 0, pkt.length)
