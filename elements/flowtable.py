"""A flow table in preallocated numpy arrays, shared by every stateful element.

Open addressing with linear probing over a power-of-two number of slots (twice the
capacity, so probes stay short), keys are 5-tuples packed in four uint32 words.
Entries expire at a packet-time deadline (ns), so trace replays are deterministic; an
expired entry is reclaimed by the next insert that probes over it. Probing is bounded
(``MAX_PROBE``): an insert that finds no room is refused and counted. No Python
objects: the table is a NamedTuple of arrays that kernels take as state. The
operations are inlined into their callers: a call would pass the arrays by value and
count references to each (measured: ~300 ns a lookup inside the walk). Elements keep
their per-flow values in their own arrays indexed by the slot number.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

MAX_PROBE = 64
EMPTY, USED, DELETED = 0, 1, 2

# Indices into ``FlowTable.stats``.
ST_INSERTS, ST_INSERT_FAILURES, ST_EXPIRED, ST_OCCUPIED = 0, 1, 2, 3


class FlowTable(NamedTuple):
    key: np.ndarray  # uint32[slots, 4]: saddr, daddr, sport << 16 | dport, proto
    used: np.ndarray  # uint8[slots]: EMPTY, USED or DELETED
    expiry: np.ndarray  # int64[slots]: packet time (ns) after which the entry is dead
    stats: np.ndarray  # int64[4]: inserts, insert failures, expired, occupied slots


def make_flowtable(capacity: int) -> FlowTable:
    """A table for at least ``capacity`` live flows."""
    slots = 1 << max(4, int(2 * capacity - 1).bit_length())
    return FlowTable(
        key=np.zeros((slots, 4), np.uint32),
        used=np.zeros(slots, np.uint8),
        expiry=np.zeros(slots, np.int64),
        stats=np.zeros(4, np.int64),
    )


@njit(cache=True, inline="always")
def _same(ft, k, saddr, daddr, ports, proto):
    return (ft.key[k, 0] == saddr and ft.key[k, 1] == daddr and ft.key[k, 2] == ports
            and ft.key[k, 3] == proto)


@njit(cache=True, inline="always")
def ft_lookup(ft, h, saddr, daddr, sport, dport, proto, now):
    """The slot of a live entry for this 5-tuple, or -1. ``h`` is its flow hash."""
    mask = ft.used.shape[0] - 1
    ports = (np.uint32(sport) << 16) | np.uint32(dport)
    k = np.int64(h) & mask
    for _ in range(MAX_PROBE):
        u = ft.used[k]
        if u == EMPTY:
            return -1
        if u == USED and _same(ft, k, saddr, daddr, ports, proto):
            if ft.expiry[k] < now:
                return -1
            return k
        k = (k + 1) & mask
    return -1


@njit(cache=True, inline="always")
def ft_insert(ft, h, saddr, daddr, sport, dport, proto, now, expiry):
    """Insert (or refresh) this 5-tuple; returns its slot, or -1 when there is no room
    within ``MAX_PROBE`` probes (counted). Expired entries on the way are reclaimed."""
    mask = ft.used.shape[0] - 1
    ports = (np.uint32(sport) << 16) | np.uint32(dport)
    k = np.int64(h) & mask
    free = -1
    for _ in range(MAX_PROBE):
        u = ft.used[k]
        if u == USED and _same(ft, k, saddr, daddr, ports, proto):
            if ft.expiry[k] < now:
                ft.stats[ST_EXPIRED] += 1
                ft.stats[ST_INSERTS] += 1
            ft.expiry[k] = expiry
            return k
        if free < 0 and (u != USED or ft.expiry[k] < now):
            free = k
        if u == EMPTY:
            break
        k = (k + 1) & mask
    if free < 0:
        ft.stats[ST_INSERT_FAILURES] += 1
        return -1
    if ft.used[free] == USED:
        ft.stats[ST_EXPIRED] += 1
    else:
        ft.stats[ST_OCCUPIED] += 1
    ft.used[free] = USED
    ft.key[free, 0] = saddr
    ft.key[free, 1] = daddr
    ft.key[free, 2] = ports
    ft.key[free, 3] = proto
    ft.expiry[free] = expiry
    ft.stats[ST_INSERTS] += 1
    return free


@njit(cache=True, inline="always")
def ft_remove(ft, k):
    """Delete the entry in slot ``k`` (it leaves a tombstone so probe chains hold)."""
    if ft.used[k] == USED:
        ft.used[k] = DELETED
        ft.stats[ST_OCCUPIED] -= 1


def flowtable_counters(ft: FlowTable, prefix: str = "") -> dict[str, int]:
    return {
        f"{prefix}inserts": int(ft.stats[ST_INSERTS]),
        f"{prefix}insert_failures": int(ft.stats[ST_INSERT_FAILURES]),
        f"{prefix}expired": int(ft.stats[ST_EXPIRED]),
    }
