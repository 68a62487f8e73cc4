"""BandwidthShaper: lets pulled packets through at most at a byte rate."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from elements.element import ElementConfig
from elements.jit import inlined
from elements.shaper.pull import PullElement
from elements.shaper.tokenbucket import (
    CAPACITY,
    CHARGED,
    LEVEL,
    MAX_RATE,
    tb_make,
    tb_ready_at,
    tb_refill,
    tb_remove,
)


@inlined
def credit_ready(s):
    return tb_ready_at(s, 0)


@inlined
def charge_bytes(s, b, j, k, t):
    tb_refill(s, t)
    tb_remove(s, b.length[j])


class BandwidthShaperConfig(ElementConfig):
    rate: int = Field(ge=1, le=MAX_RATE, description="bytes per second (Click's RATE)")


class BandwidthShaper(PullElement):
    """Limit the bytes pulled through it to ``rate`` bytes per second (Click's
    BandwidthShaper).

    Ports: ``1/1``, input and output pull. A pull passes when the byte credit is not
    negative; the packet's whole length is then charged, and the credit refills at
    ``rate``, capped at zero (plus less than a nanosecond's worth, so rounding to ns
    loses nothing). So packets leave exactly as from a link of ``rate`` bytes/s: a
    packet of L bytes holds the link for L/rate seconds, with no burst after an idle
    time. (Click's GapRate does the same within each second of wall time.)
    Rates are bytes/s, as Click's bandwidth arguments; 1 Mbit/s is 125000.

    Example::

        elements:
          q: {kind: Queue}
          shape: {kind: BandwidthShaper, config: {rate: 125000}}
        connections:
          - in -> q -> shape -> out

    Counters: ``byte_count`` (bytes let through).

    See also: RatedUnqueue, BandwidthRatedUnqueue, Queue, TokenBucketPolicer.
    """

    Config = BandwidthShaperConfig
    reads = ("length",)
    state_kind = "global"
    ready = staticmethod(credit_ready)
    took = staticmethod(charge_bytes)

    def make_state(self, n_outputs: int) -> np.ndarray:
        tb = tb_make(self.config.rate, 0)
        # Keep the refill's sub-nanosecond remainder (less than one ns of rate): capped
        # at exactly zero, each packet would lose it and the rate would come out low.
        tb[CAPACITY] = tb[LEVEL] = self.config.rate - 1
        return tb

    def counters(self, state: np.ndarray) -> dict[str, int]:
        return {"byte_count": int(state[CHARGED])}
