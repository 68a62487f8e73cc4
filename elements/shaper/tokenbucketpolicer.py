"""TokenBucketPolicer: marks, diverts or drops the packets that exceed a byte rate."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from elements.element import Element, ElementConfig, drop
from elements.jit import inlined
from elements.reference import Packet
from elements.shaper.tokenbucket import (
    MAX_CAPACITY,
    MAX_RATE,
    ref_refill,
    tb_contains,
    tb_make,
    tb_refill,
    tb_remove,
)

CONFORMED, EXCEEDED, ACTION, COLOR = range(5, 9)  # after the token bucket's 5 words
ACTIONS = ("drop", "paint", "split")


@inlined
def policer_kernel(b, i, s, inp):
    tb_refill(s, b.timestamp[i])
    if tb_contains(s, b.length[i]):
        tb_remove(s, b.length[i])
        s[CONFORMED] += 1
        return 0
    s[EXCEEDED] += 1
    if s[ACTION] == 0:
        return drop(0)
    if s[ACTION] == 1:
        b.paint[i] = s[COLOR]
        return 0
    return 1


class TokenBucketPolicerConfig(ElementConfig):
    rate: int = Field(ge=1, le=MAX_RATE, description="committed rate in bytes per second")
    burst: int = Field(ge=1, le=MAX_CAPACITY, description=(
        "bucket size in bytes: the most that may pass back to back; a packet longer"
        " than this never conforms"))
    action: Literal["drop", "paint", "split"] = Field("drop", description=(
        "for a non-conforming packet: drop it, paint it and pass it on, or send it to"
        " output 1"))
    color: int | None = Field(None, ge=0, le=255, description=(
        "the paint of non-conforming packets (action paint only; default 1)"))

    @model_validator(mode="after")
    def _color_only_when_painting(self):
        if self.color is not None and self.action != "paint":
            raise ValueError(f"color is only used with action paint, not {self.action!r}")
        return self


class TokenBucketPolicer(Element):
    """Police traffic to ``rate`` bytes/s with bursts of up to ``burst`` bytes: a
    single-rate, two-colour token bucket (RFC 2697 without the excess bucket).

    Ports: ``1/1-2``. The bucket holds ``burst`` bytes of tokens, starts full and
    fills at ``rate`` bytes per second of packet time (timestamps). A packet
    conforms when the bucket holds at least its length, which is then taken; it
    leaves by output 0. A packet that does not conform takes no tokens and, by
    ``action``: is dropped (``exceeded``), gets paint ``color`` and leaves by output 0
    (a later PaintSwitch or scheduler may treat it worse), or leaves by output 1.
    Click has no policer; its RatedSplitter and BandwidthRatedSplitter are meters that
    let a packet through while the bucket is not empty.

    Example::

        elements:
          police: {kind: TokenBucketPolicer, config: {rate: 125000, burst: 3000, action: split}}
        connections:
          - in -> police -> out
          - police[1] -> [1]out

    Counters: ``conformed``, ``exceeded`` (packets); drop reason ``exceeded``.

    See also: RatedSplitter, BandwidthRatedSplitter, BandwidthShaper, PaintSwitch.
    """

    ports = "1/1-2"
    Config = TokenBucketPolicerConfig
    reads = ("length", "timestamp")
    writes = ("paint",)
    state_kind = "global"
    drops = ("exceeded",)
    kernel = staticmethod(policer_kernel)

    def make_state(self, n_outputs: int) -> np.ndarray:
        c = self.config
        self._ref_level = Fraction(c.burst)
        self._ref_last = None
        extra = [0, 0, ACTIONS.index(c.action), 1 if c.color is None else c.color]
        return np.concatenate([tb_make(c.rate, c.burst), np.array(extra, np.int64)])

    def counters(self, state: np.ndarray) -> dict[str, int]:
        return {"conformed": int(state[CONFORMED]), "exceeded": int(state[EXCEEDED])}

    def reference(self, pkt: Packet, inp: int) -> int:
        c = self.config
        ref_refill(self, pkt, c.burst)
        if self._ref_level >= pkt.length:
            self._ref_level -= pkt.length
            return 0
        if c.action == "drop":
            return -1
        if c.action == "paint":
            pkt.paint = 1 if c.color is None else c.color
            return 0
        return 1
