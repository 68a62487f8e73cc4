"""A token bucket in integer nanosecond arithmetic, shared by the meters and shapers.

Tokens are packets or bytes (the element decides). They are kept scaled by 1e9
("token-nanoseconds") so that ``rate`` tokens/s times an elapsed time in ns adds an
exact integer: no float drift, and a shaper's departure times are exact to the ns.
The level may go below zero: a shaper lets a packet go when the level is >= a
threshold and then charges its whole length (Click's bandwidth elements do the same
with a 131072-token offset), so long-run output is exactly ``rate``.

The state is one ``int64`` array ``[rate, capacity, level, last, charged]``: rate in
tokens/s, capacity and level in token-ns, ``last`` the time of the last refill (ns;
``UNSET`` before the first), ``charged`` the tokens taken so far (a counter). The
bucket starts full, as Click's ``TokenBucket``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from elements.jit import inlined

SCALE = 1_000_000_000  # token-ns per token
UNSET = np.iinfo(np.int64).min
NEVER = np.iinfo(np.int64).max  # "not before the end of time"
MAX_RATE = 10**12  # tokens/s: keeps rate * elapsed within int64 (see tb_refill)
MAX_CAPACITY = 1 << 32  # tokens

RATE, CAPACITY, LEVEL, LAST, CHARGED = range(5)


def tb_make(rate: int, capacity: int) -> np.ndarray:
    """A full bucket of ``capacity`` tokens filling at ``rate`` tokens/s."""
    if not 0 < rate <= MAX_RATE or not 0 <= capacity <= MAX_CAPACITY:
        raise ValueError(f"token bucket rate {rate} or capacity {capacity} out of range")
    return np.array([rate, capacity * SCALE, capacity * SCALE, UNSET, 0], np.int64)


@inlined
def tb_refill(tb, now):
    """Add the tokens earned since the last refill, up to the capacity. Time never runs
    backwards for the bucket: an earlier ``now`` (an unsorted trace) adds nothing."""
    if tb[LAST] == UNSET:
        tb[LAST] = now
        return
    dt = now - tb[LAST]
    if dt <= 0:
        return
    tb[LAST] = now
    room = tb[CAPACITY] - tb[LEVEL]
    if room <= 0:
        return
    # dt * rate only when it cannot overflow: dt <= room // rate + 1 keeps it <= room + rate.
    if dt > room // tb[RATE]:
        tb[LEVEL] = tb[CAPACITY]
    else:
        tb[LEVEL] += dt * tb[RATE]
        tb[LEVEL] = min(tb[LEVEL], tb[CAPACITY])


@inlined
def tb_contains(tb, tokens):
    return tb[LEVEL] >= np.int64(tokens) * SCALE  # int64: a packet length is int32


@inlined
def tb_remove(tb, tokens):
    """Take ``tokens`` (the level may go negative: a deficit paid back by the refill)."""
    tb[LEVEL] -= np.int64(tokens) * SCALE
    tb[CHARGED] += tokens


@inlined
def tb_ready_at(tb, tokens):
    """The earliest time at which the bucket will hold ``tokens`` if nothing is taken
    (``UNSET``, i.e. "any time", when it holds them already or has never been used)."""
    need = np.int64(tokens) * SCALE
    if tb[LAST] == UNSET or tb[LEVEL] >= need or need > tb[CAPACITY]:
        # need > capacity: the bucket never gets there; callers keep need <= capacity.
        return UNSET if need <= tb[CAPACITY] else NEVER
    return tb[LAST] + (need - tb[LEVEL] + tb[RATE] - 1) // tb[RATE]


def burst_default(rate: int) -> int:
    """Click's default burst: what ``rate`` delivers in 20 ms (RatedUnqueue's
    BURST_DURATION), at least one token."""
    return max(rate * 20 // 1000, 1)


def ref_refill(el, pkt, capacity: int) -> None:
    """The reference token bucket for tests (exact fractions on ``el._ref_level`` and
    ``el._ref_last``, set by the element's ``make_state``): refill to ``pkt.timestamp``;
    time never runs backwards."""
    if el._ref_last is not None and pkt.timestamp > el._ref_last:
        gained = Fraction(el.config.rate * (pkt.timestamp - el._ref_last), 10**9)
        el._ref_level = min(Fraction(capacity), el._ref_level + gained)
    if el._ref_last is None or pkt.timestamp > el._ref_last:
        el._ref_last = pkt.timestamp
