"""The per-flow decision cache of the hypervisor stage.

The first packet of a flow walks the cached region of the plan (flow-deterministic
elements: filters with 5-tuple rules, NAT and load-balancer mappings once made,
Strip/Unstrip) and the walk records the flow's fate: where it leaves the region (or
which element drops it and why), the 5-tuple and annotations it leaves with, how far
its head and length moved, the checksum deltas of its rewrite, the path it took
through the region (a number for its set of edges, for counters) and each mapping
element's handle on the flow (``slot_of``), all in one 128-byte record. Later packets
of the flow take one lookup, refresh those mappings exactly as the elements would
(``touch``), get one rewrite, and jump to the recorded exit. A hit counts its path
only; ``cache_settle`` adds each path's hits to the edge counters at the end of the
batch, so the counters are exact whenever anyone reads them.

An entry lives no longer than the mappings it summarises (its expiry is the earliest
of theirs, renewed on every hit), so a mapping can never expire or be reused under a
live entry. A hit may change a mapping's state (a TCP FIN or RST shortens its
timeout): ``touch`` does to the state exactly what the element's kernel would, so
the returned expiry already reflects it. Every function here takes the batch and is
inlined into the walk (a call would pass the batch's arrays by value). Fragments and
non-TCP/UDP packets always walk. Elements' own internal counters see only the packets
that walk.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from elements.batch import F_FRAG, F_L4FULL, F_PORTS
from elements.flowtable import (
    MAX_WIDTH,
    W_EXPIRY,
    W_VALUES,
    FlowTable,
    ft_home,
    ft_insert,
    ft_lookup,
    ft_remove,
    make_flowtable,
)
from elements.jit import inlined
from elements.net import (
    IP_PROTO_TCP,
    IP_PROTO_UDP,
    add_delta,
    delta_step,
    delta_word,
    rd16,
    wr16,
    wr32,
)
from elements.prefetch import prefetch

NEVER = np.int64(2**62)
# Fate codes: low 2 bits say the kind.
GOTO, EXIT, DROP = 0, 1, 2
# Indices into CacheState.stats.
HITS, MISSES, WALKED, STORED, PATHS = 0, 1, 2, 3, 4
# Distinct paths (sets of region edges) a cache tells apart; a flow on a further one
# is not stored (it walks every time).
MAX_PATHS = 256


# An entry's words in its flow-table record (after the key): one cache line in all.
V_ADDRS = W_VALUES  # saddr << 32 | daddr the flow leaves with
V_PORTS = W_VALUES + 1  # sport << 48 | dport << 32 | flow_hash
V_ANNO = W_VALUES + 2  # dst_anno << 32 | paint
V_FATE = W_VALUES + 3  # fate << 32 | how far the head moved << 16 | how far the length (int16s)
V_PATH = W_VALUES + 4  # rewrites << 48 | path << 32 | IP checksum delta << 16 | L4's
V_HANDLES = W_VALUES + 5  # then each mapping element's handle on the flow (its slot_of)
VALUES = 5
MAX_MAPPINGS = MAX_WIDTH - W_VALUES - VALUES


class CacheState(NamedTuple):
    ft: FlowTable  # the entries: ``VALUES`` words and the mappings' handles beside the key
    edge_node: np.ndarray  # int32[edges]
    edge_port: np.ndarray  # int32[edges]
    paths: np.ndarray  # int64[MAX_PATHS]: each path's region edges (bit e = edge e)
    path_hits: np.ndarray  # int64[MAX_PATHS]: hits on each path not yet in the counters
    stats: np.ndarray  # int64[5]: hits, misses, walked (not cacheable), stored, paths


def make_cache(capacity: int, edges: list[tuple[int, int]], mappings: int) -> CacheState:
    """A cache for ``capacity`` flows through a region of ``mappings`` mapping elements
    (at most ``MAX_MAPPINGS``: msh/passes/cache_flows.py keeps regions within it). An
    entry is one record: a hit reads its fate and every handle it refreshes together."""
    return CacheState(
        ft=make_flowtable(capacity, VALUES + mappings),
        edge_node=np.array([e[0] for e in edges] or [0], np.int32),
        edge_port=np.array([e[1] for e in edges] or [0], np.int32),
        paths=np.zeros(MAX_PATHS, np.int64),
        path_hits=np.zeros(MAX_PATHS, np.int64),
        stats=np.zeros(5, np.int64),
    )


def fate_goto(node: int, inp: int) -> int:
    return (node << 10) | (inp << 2) | GOTO


def fate_exit(port: int) -> int:
    return (port << 2) | EXIT


def fate_drop(node: int, reason: int) -> int:
    return (node << 10) | (reason << 2) | DROP


@inlined
def cacheable(b, i):
    """A whole TCP or UDP packet (no fragment): its flow can have an entry."""
    f = b.flags[i]
    p = b.proto[i]
    return ((f & F_PORTS) != 0 and (f & F_FRAG) == 0 and (f & F_L4FULL) != 0
            and (p == IP_PROTO_TCP or p == IP_PROTO_UDP))


@inlined
def cache_find(cs, b, i):
    return ft_lookup(cs.ft, b.flow_hash[i], b.saddr[i], b.daddr[i], b.sport[i], b.dport[i],
                     b.proto[i], b.timestamp[i])


@inlined
def cache_prefetch(cs, b, i):
    """Start fetching the slot where the lookup for row ``i``'s flow starts: both its
    cache lines when the entry has two (its mappings' handles are in the second)."""
    if cacheable(b, i):
        k = ft_home(cs.ft, b.flow_hash[i])
        prefetch(cs.ft.rec, k)
        if cs.ft.rec.shape[1] > 8:
            prefetch(cs.ft.rec[k], 8)


@inlined
def _path(cs, edges):
    """The number of the path with these region edges (a new one if need be), -1 when
    the cache tells apart ``MAX_PATHS`` already."""
    n = cs.stats[PATHS]
    for p in range(n):
        if cs.paths[p] == edges:
            return p
    if n == MAX_PATHS:
        return -1
    cs.paths[n] = edges
    cs.stats[PATHS] = n + 1
    return n


@inlined
def _delta32(d, old, new):
    """``d`` with a 32-bit field's change added: both halves when it changes, as
    ``cksum_update32`` adds them."""
    if old == new:
        return d
    return delta_word(delta_word(d, old >> 16, new >> 16), old & 0xFFFF, new & 0xFFFF)


@inlined
def cache_store(cs, h, saddr, daddr, sport, dport, proto, head, length, b, i, fate, edges,
                expiry):
    """Record the fate of the flow keyed by the 5-tuple it had at the region entry
    (where its head and length were ``head`` and ``length``). The rewrite to row ``i``'s
    5-tuple is kept as the checksum deltas it makes: adding a delta once gives the
    same bits as updating word by word (one's-complement addition regroups exactly)."""
    path = _path(cs, edges)
    if path < 0:
        return -1
    c = ft_insert(cs.ft, h, saddr, daddr, sport, dport, proto, b.timestamp[i], expiry)
    if c < 0:  # full: an entry is only a memo, so the one where this flow's probe starts goes
        ft_remove(cs.ft, ft_home(cs.ft, h))
        c = ft_insert(cs.ft, h, saddr, daddr, sport, dport, proto, b.timestamp[i], expiry)
        if c < 0:
            return -1
    ipd = _delta32(_delta32(np.uint32(0), saddr, b.saddr[i]), daddr, b.daddr[i])
    l4d = delta_step(delta_step(ipd, sport, b.sport[i]), dport, b.dport[i])
    rewrites = (saddr != b.saddr[i] or daddr != b.daddr[i] or sport != b.sport[i]
                or dport != b.dport[i])
    r = cs.ft.rec
    r[c, V_ADDRS] = (np.int64(b.saddr[i]) << 32) | np.int64(b.daddr[i])
    r[c, V_PORTS] = ((np.int64(b.sport[i]) << 48) | (np.int64(b.dport[i]) << 32)
                     | np.int64(b.flow_hash[i]))
    r[c, V_ANNO] = (np.int64(b.dst_anno[i]) << 32) | np.int64(b.paint[i])
    r[c, V_FATE] = ((np.int64(fate) << 32) | ((np.int64(b.head[i] - head) & 0xFFFF) << 16)
                    | (np.int64(b.length[i] - length) & 0xFFFF))
    r[c, V_PATH] = ((np.int64(rewrites) << 48) | (np.int64(path) << 32)
                    | (np.int64(ipd) << 16) | np.int64(l4d))
    cs.stats[STORED] += 1
    return c


@inlined
def _rewrite(b, i, saddr, daddr, sport, dport, ipd, l4d):
    """Write the flow's new 5-tuple and add its checksum deltas (RFC 1624; a UDP
    checksum of 0 stays 0)."""
    row = b.data[i]
    l3 = b.l3[i]
    l4 = b.l4[i]
    wr32(row, l3 + 12, saddr)
    wr32(row, l3 + 16, daddr)
    wr16(row, l4, sport)
    wr16(row, l4 + 2, dport)
    wr16(row, l3 + 10, add_delta(rd16(row, l3 + 10), ipd))
    if b.proto[i] == IP_PROTO_TCP:
        wr16(row, l4 + 16, add_delta(rd16(row, l4 + 16), l4d))
    elif rd16(row, l4 + 6) != 0:  # a UDP checksum of 0 is none, and a computed 0 is 0xFFFF
        l4sum = add_delta(rd16(row, l4 + 6), l4d)
        wr16(row, l4 + 6, l4sum if l4sum != 0 else 0xFFFF)
    b.saddr[i] = saddr
    b.daddr[i] = daddr
    b.sport[i] = sport
    b.dport[i] = dport


@inlined
def cache_replay(cs, c, b, i, cdrop, expiry):
    """Apply entry ``c`` to row ``i``: rewrite, renewed expiry, its path's hit count
    and its drop counter; its fate."""
    cs.stats[HITS] += 1
    r = cs.ft.rec
    r[c, W_EXPIRY] = expiry
    w = r[c, V_PATH]
    cs.path_hits[(w >> 32) & 0xFFFF] += 1
    if (w >> 48) & 1:
        _rewrite(b, i, np.uint32(r[c, V_ADDRS] >> 32), np.uint32(r[c, V_ADDRS] & 0xFFFFFFFF),
                 np.uint16(r[c, V_PORTS] >> 48), np.uint16((r[c, V_PORTS] >> 32) & 0xFFFF),
                 np.uint32((w >> 16) & 0xFFFF), np.uint32(w & 0xFFFF))
    b.flow_hash[i] = np.uint32(r[c, V_PORTS] & 0xFFFFFFFF)
    b.dst_anno[i] = np.uint32(r[c, V_ANNO] >> 32)
    b.paint[i] = np.uint8(r[c, V_ANNO] & 0xFF)
    w = r[c, V_FATE]
    b.head[i] += np.int32(np.int16((w >> 16) & 0xFFFF))
    b.length[i] += np.int32(np.int16(w & 0xFFFF))
    fate = w >> 32
    if fate & 3 == DROP:
        cdrop[fate >> 10, (fate >> 2) & 0xFF] += 1
    return fate


@inlined
def cache_settle(cs, cout):
    """Add the hits of each path since the last settle to its edges' counters."""
    for p in range(cs.stats[PATHS]):
        n = cs.path_hits[p]
        if n:
            m = cs.paths[p]
            for e in range(cs.edge_node.shape[0]):
                if (m >> e) & 1:
                    cout[cs.edge_node[e], cs.edge_port[e]] += n
            cs.path_hits[p] = 0


def cache_counters(cs: CacheState) -> dict[str, int]:
    return {"hits": int(cs.stats[HITS]), "misses": int(cs.stats[MISSES]),
            "walked": int(cs.stats[WALKED]), "stored": int(cs.stats[STORED]),
            "paths": int(cs.stats[PATHS]),
            "evictions": int(cs.ft.stats[1])}  # inserts that found the table full
