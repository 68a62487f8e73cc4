"""A flow table in preallocated numpy arrays, shared by every stateful element.

Open addressing with linear probing over a power-of-two number of slots (twice the
capacity, so probes stay short); each slot is one int64 record holding the 5-tuple
key, the slot's state, its expiry and up to five words of the owner's values.
Entries expire at a packet-time deadline (ns), so trace replays are deterministic; an
expired entry is reclaimed by the next insert that probes over it. An owner that
tracks liveness itself (the NAT: an entry lives as long as its mapping) inserts with
expiry ``FOREVER``, finds with ``ft_find`` and removes its entries. Probing is bounded
(``MAX_PROBE``): an insert that finds no room is refused and counted. No Python
objects: the table is a NamedTuple of arrays that kernels take as state. The
operations are inlined into their callers: a call would pass the arrays by value and
count references to each (measured: ~300 ns a lookup inside the walk). Elements keep
a word or two per flow in the record (the NAT: its mapping; the decision cache: the
whole entry) and anything larger in their own arrays indexed by the slot number.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from elements.jit import inlined
from elements.prefetch import prefetch

MAX_PROBE = 64
EMPTY, USED, DELETED = 0, 1, 2
FOREVER = np.iinfo(np.int64).max  # the expiry of an entry whose owner removes it itself

# The words of a slot's record: the key, its state and expiry, then the owner's values.
W_ADDRS = 0  # saddr << 32 | daddr
W_PORTS = 1  # (sport << 16 | dport) << 32 | proto << 8 | EMPTY, USED or DELETED
W_EXPIRY = 2  # packet time (ns) after which the entry is dead
W_VALUES = 3  # first of the owner's words (``make_flowtable(values=...)``)
CACHE_LINE = 64

# Indices into ``FlowTable.stats``.
ST_INSERTS, ST_INSERT_FAILURES, ST_EXPIRED, ST_OCCUPIED = 0, 1, 2, 3


class FlowTable(NamedTuple):
    rec: np.ndarray  # int64[slots, width]: one record per slot, rows aligned to cache lines
    stats: np.ndarray  # int64[4]: inserts, insert failures, expired, occupied slots


MAX_WIDTH = 16  # words of the widest record: two cache lines


def make_flowtable(capacity: int, values: int = 0) -> FlowTable:
    """A table for at least ``capacity`` live flows, each slot with ``values`` int64
    words of the owner's own. A record is 32, 64 or 128 bytes, aligned so that a
    lookup and what it finds touch one cache line (two adjacent ones for 128 bytes,
    which the hardware fetches as a pair; measured: separate key, state and expiry
    arrays cost a cache miss each)."""
    slots, width = _layout(capacity, values)
    return FlowTable(rec=records(slots, width), stats=np.zeros(4, np.int64))


def _layout(capacity: int, values: int) -> tuple[int, int]:
    """(slots, words per record) of a table for ``capacity`` flows."""
    slots = 1 << max(4, int(2 * capacity - 1).bit_length())
    width = 4
    while width < W_VALUES + values:
        width *= 2
    if width > MAX_WIDTH:
        raise ValueError(f"a flow-table record holds at most {MAX_WIDTH - W_VALUES} values")
    return slots, width


# A table smaller than this stays in a core's caches beside the packets (L2 is 2 MiB
# here), and looking ahead into it costs more than it hides (measured on the NAT: at
# 1k flows, a 256 KiB table, +15 ns a packet; at 10k, 4 MiB, -25 ns).
LOOKAHEAD_BYTES = 1 << 20


def worth_lookahead(capacity: int, values: int = 0) -> bool:
    """An element with a table of ``capacity`` flows should look ahead into it (see
    ``elements.element.Element.lookahead``)."""
    slots, width = _layout(capacity, values)
    return slots * width * 8 >= LOOKAHEAD_BYTES


def zeroed(shape, dtype) -> np.ndarray:
    """Zeros written now, for per-flow arrays: ``np.zeros`` leaves them to the kernel's
    lazy zero pages, and a run's first packets then fault pages in one by one
    (measured on fw-nat-lb: runs varied 2.3-5.1 Mpps, now 4.8-5.1), outside numpy's
    huge pages once memory is fragmented."""
    a = np.empty(shape, dtype)
    a.fill(0)
    return a


def records(rows: int, width: int) -> np.ndarray:
    """int64[rows, width] of zeros, each row starting on a boundary of its own size
    (up to 128 bytes): a 32- or 64-byte row is then one cache line, read with one
    miss, a 128-byte row an aligned pair."""
    align = min(width * 8, 2 * CACHE_LINE)
    raw = zeroed(rows * width + align // 8, np.int64)
    skip = (-raw.ctypes.data % align) // 8
    return raw[skip: skip + rows * width].reshape(rows, width)


@inlined
def _addrs(saddr, daddr):
    return (np.int64(saddr) << 32) | np.int64(daddr)


@inlined
def _ports(sport, dport, proto):
    return (((np.int64(sport) << 16) | np.int64(dport)) << 32) | (np.int64(proto) << 8)


@inlined
def ft_home(ft, h):
    """The slot where the probe for flow hash ``h`` starts."""
    return np.int64(h) & (ft.rec.shape[0] - 1)


@inlined
def ft_lookahead(b, i, s, inp):
    """The ``lookahead`` of an element whose state ``s`` has a flow table ``s.ft`` that
    it looks the packet's own 5-tuple up in: fetch the slot where that lookup starts."""
    prefetch(s.ft.rec, ft_home(s.ft, b.flow_hash[i]))


@inlined
def ft_state(ft, k):
    """EMPTY, USED or DELETED."""
    return ft.rec[k, W_PORTS] & 0xFF


@inlined
def ft_live(ft, k, now):
    """Slot ``k`` holds an entry that has not expired at packet time ``now``."""
    return ft_state(ft, k) == USED and ft.rec[k, W_EXPIRY] >= now


@inlined
def ft_expiry(ft, k):
    return ft.rec[k, W_EXPIRY]


@inlined
def ft_set_expiry(ft, k, expiry):
    ft.rec[k, W_EXPIRY] = expiry


@inlined
def ft_find(ft, h, saddr, daddr, sport, dport, proto):
    """The slot of the entry for this 5-tuple, expired or not, or -1. ``h`` is its flow
    hash. (A key is in the table at most once: ``ft_insert`` refreshes a present one.)"""
    mask = ft.rec.shape[0] - 1
    addrs = _addrs(saddr, daddr)
    ports = _ports(sport, dport, proto) | USED
    k = ft_home(ft, h)
    for _ in range(MAX_PROBE):
        w = ft.rec[k, W_PORTS]
        if w & 0xFF == EMPTY:
            return -1
        if w == ports and ft.rec[k, W_ADDRS] == addrs:
            return k
        k = (k + 1) & mask
    return -1


@inlined
def ft_lookup(ft, h, saddr, daddr, sport, dport, proto, now):
    """The slot of a live entry for this 5-tuple, or -1. ``h`` is its flow hash."""
    k = ft_find(ft, h, saddr, daddr, sport, dport, proto)
    if k >= 0 and ft.rec[k, W_EXPIRY] < now:
        return -1
    return k


@inlined
def ft_insert(ft, h, saddr, daddr, sport, dport, proto, now, expiry):
    """Insert (or refresh) this 5-tuple; returns its slot, or -1 when there is no room
    within ``MAX_PROBE`` probes (counted). Expired entries on the way are reclaimed."""
    mask = ft.rec.shape[0] - 1
    addrs = _addrs(saddr, daddr)
    ports = _ports(sport, dport, proto) | USED
    k = ft_home(ft, h)
    free = -1
    for _ in range(MAX_PROBE):
        w = ft.rec[k, W_PORTS]
        u = w & 0xFF
        if w == ports and ft.rec[k, W_ADDRS] == addrs:
            if ft.rec[k, W_EXPIRY] < now:
                ft.stats[ST_EXPIRED] += 1
                ft.stats[ST_INSERTS] += 1
            ft.rec[k, W_EXPIRY] = expiry
            return k
        if free < 0 and (u != USED or ft.rec[k, W_EXPIRY] < now):
            free = k
        if u == EMPTY:
            break
        k = (k + 1) & mask
    if free < 0:
        ft.stats[ST_INSERT_FAILURES] += 1
        return -1
    if ft_state(ft, free) == USED:
        ft.stats[ST_EXPIRED] += 1
    else:
        ft.stats[ST_OCCUPIED] += 1
    ft.rec[free, W_ADDRS] = addrs
    ft.rec[free, W_PORTS] = ports
    ft.rec[free, W_EXPIRY] = expiry
    ft.stats[ST_INSERTS] += 1
    return free


@inlined
def ft_remove(ft, k):
    """Delete the entry in slot ``k`` (it leaves a tombstone so probe chains hold)."""
    if ft_state(ft, k) == USED:
        ft.rec[k, W_PORTS] = (ft.rec[k, W_PORTS] & ~np.int64(0xFF)) | DELETED
        ft.stats[ST_OCCUPIED] -= 1


def flowtable_counters(ft: FlowTable, prefix: str = "") -> dict[str, int]:
    return {
        f"{prefix}inserts": int(ft.stats[ST_INSERTS]),
        f"{prefix}insert_failures": int(ft.stats[ST_INSERT_FAILURES]),
        f"{prefix}expired": int(ft.stats[ST_EXPIRED]),
    }
