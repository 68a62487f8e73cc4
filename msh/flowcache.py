"""The per-flow decision cache of the hypervisor stage.

The first packet of a flow walks the cached region of the plan (flow-deterministic
elements: filters with 5-tuple rules, NAT and load-balancer mappings once made,
Strip/Unstrip) and the walk records the flow's fate: where it leaves the region (or
which element drops it and why), the 5-tuple and annotations it leaves with, how far
its head and length moved, the region edges it took (for counters) and the flow-table
slot of every mapping it used. Later packets of
the flow take one lookup, refresh those mappings exactly as the elements would
(``touch``), get one rewrite, and jump to the recorded exit.

An entry lives no longer than the mappings it summarises (its expiry is the earliest
of theirs, renewed on every hit), so a mapping can never expire or be reused under a
live entry. Every function here takes the batch and is inlined into the walk (a call would
pass the batch's arrays by value). Packets that may change a flow's state (TCP SYN, FIN or RST), fragments,
and non-TCP/UDP packets always walk, and a walking SYN/FIN/RST forgets the flow's
entry. Elements' own internal counters see only the packets that walk.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from elements.batch import F_FRAG, F_L4FULL, F_PORTS
from elements.flowtable import FlowTable, ft_insert, ft_lookup, ft_remove, make_flowtable
from elements.net import IP_PROTO_TCP, IP_PROTO_UDP, cksum_update16, cksum_update32, rd16, wr16, wr32

NEVER = np.int64(2**62)
# Fate codes: low 2 bits say the kind.
GOTO, EXIT, DROP = 0, 1, 2
# Indices into CacheState.stats.
HITS, MISSES, WALKED, STORED = 0, 1, 2, 3


class CacheState(NamedTuple):
    ft: FlowTable
    new: np.ndarray  # uint32[slots, 7]: saddr, daddr, sport, dport, paint, dst_anno, flow_hash
    moved: np.ndarray  # int32[slots, 2]: how far the region moved the head, and the length
    fate: np.ndarray  # int64[slots]
    edges: np.ndarray  # uint64[slots]: region edges taken (bit e = edge_node/port[e])
    slots: np.ndarray  # int64[slots, mappings]: each mapping element's flow slot or -1
    edge_node: np.ndarray  # int32[edges]
    edge_port: np.ndarray  # int32[edges]
    stats: np.ndarray  # int64[4]: hits, misses, walked (not cacheable), stored


def make_cache(capacity: int, edges: list[tuple[int, int]], mappings: int) -> CacheState:
    ft = make_flowtable(capacity)
    n = ft.used.shape[0]
    return CacheState(
        ft=ft,
        new=np.zeros((n, 7), np.uint32),
        moved=np.zeros((n, 2), np.int32),
        fate=np.zeros(n, np.int64),
        edges=np.zeros(n, np.uint64),
        slots=np.full((n, max(mappings, 1)), -1, np.int64),
        edge_node=np.array([e[0] for e in edges] or [0], np.int32),
        edge_port=np.array([e[1] for e in edges] or [0], np.int32),
        stats=np.zeros(4, np.int64),
    )


def fate_goto(node: int, inp: int) -> int:
    return (node << 10) | (inp << 2) | GOTO


def fate_exit(port: int) -> int:
    return (port << 2) | EXIT


def fate_drop(node: int, reason: int) -> int:
    return (node << 10) | (reason << 2) | DROP


@njit(cache=True, inline="always")
def cacheable(b, i):
    """A TCP/UDP first fragment whose packets cannot change the flow's state."""
    f = b.flags[i]
    if not (f & F_PORTS) or (f & F_FRAG) or not (f & F_L4FULL):
        return False
    p = b.proto[i]
    if p == IP_PROTO_TCP:
        return (b.data[i, b.l4[i] + 13] & 0x07) == 0  # no FIN, SYN or RST
    return p == IP_PROTO_UDP


@njit(cache=True, inline="always")
def cache_find(cs, b, i):
    return ft_lookup(cs.ft, b.flow_hash[i], b.saddr[i], b.daddr[i], b.sport[i], b.dport[i],
                     b.proto[i], b.timestamp[i])


@njit(cache=True, inline="always")
def cache_forget(cs, b, i):
    """A packet that may change the flow's state walks; its flow's entry goes."""
    cs.stats[WALKED] += 1
    c = cache_find(cs, b, i)
    if c >= 0:
        ft_remove(cs.ft, c)


@njit(cache=True, inline="always")
def cache_store(cs, h, saddr, daddr, sport, dport, proto, head, length, b, i, fate, edges,
                expiry):
    """Record the fate of the flow keyed by the 5-tuple it had at the region entry
    (where its head and length were ``head`` and ``length``)."""
    c = ft_insert(cs.ft, h, saddr, daddr, sport, dport, proto, b.timestamp[i], expiry)
    if c < 0:
        return -1
    cs.new[c, 0] = b.saddr[i]
    cs.new[c, 1] = b.daddr[i]
    cs.new[c, 2] = b.sport[i]
    cs.new[c, 3] = b.dport[i]
    cs.new[c, 4] = b.paint[i]
    cs.new[c, 5] = b.dst_anno[i]
    cs.new[c, 6] = b.flow_hash[i]
    cs.moved[c, 0] = b.head[i] - head
    cs.moved[c, 1] = b.length[i] - length
    cs.fate[c] = fate
    cs.edges[c] = edges
    cs.stats[STORED] += 1
    return c


@njit(cache=True, inline="always")
def _rewrite(b, i, saddr, daddr, sport, dport):
    """Rewrite the 5-tuple in bytes and annotations with incremental checksums, as the
    mapping elements do (RFC 1624; a UDP checksum of 0 stays 0)."""
    row = b.data[i]
    l3 = b.l3[i]
    l4 = b.l4[i]
    tcp = b.proto[i] == IP_PROTO_TCP
    at = l4 + 16 if tcp else l4 + 6
    l4sum = np.uint32(rd16(row, at))
    fix = tcp or l4sum != 0
    ipsum = np.uint32(rd16(row, l3 + 10))
    if saddr != b.saddr[i]:
        ipsum = cksum_update32(ipsum, b.saddr[i], saddr)
        l4sum = cksum_update32(l4sum, b.saddr[i], saddr)
        wr32(row, l3 + 12, saddr)
    if daddr != b.daddr[i]:
        ipsum = cksum_update32(ipsum, b.daddr[i], daddr)
        l4sum = cksum_update32(l4sum, b.daddr[i], daddr)
        wr32(row, l3 + 16, daddr)
    if sport != b.sport[i]:
        l4sum = cksum_update16(l4sum, b.sport[i], sport)
        wr16(row, l4, sport)
    if dport != b.dport[i]:
        l4sum = cksum_update16(l4sum, b.dport[i], dport)
        wr16(row, l4 + 2, dport)
    wr16(row, l3 + 10, ipsum)
    if fix:
        if not tcp and l4sum == 0:
            l4sum = np.uint32(0xFFFF)
        wr16(row, at, l4sum)


@njit(cache=True, inline="always")
def cache_replay(cs, c, b, i, cout, cdrop, expiry):
    """Apply entry ``c`` to row ``i``: rewrite, counters, renewed expiry; its fate."""
    cs.stats[HITS] += 1
    cs.ft.expiry[c] = expiry
    n = cs.new[c]
    if (n[0] != b.saddr[i] or n[1] != b.daddr[i] or n[2] != b.sport[i]
            or n[3] != b.dport[i]):
        _rewrite(b, i, n[0], n[1], n[2], n[3])
        b.saddr[i] = n[0]
        b.daddr[i] = n[1]
        b.sport[i] = n[2]
        b.dport[i] = n[3]
    b.paint[i] = n[4]
    b.dst_anno[i] = n[5]
    b.flow_hash[i] = n[6]
    b.head[i] += cs.moved[c, 0]
    b.length[i] += cs.moved[c, 1]
    m = cs.edges[c]
    for e in range(cs.edge_node.shape[0]):
        if (m >> np.uint64(e)) & np.uint64(1):
            cout[cs.edge_node[e], cs.edge_port[e]] += 1
    fate = cs.fate[c]
    if fate & 3 == DROP:
        cdrop[fate >> 10, (fate >> 2) & 0xFF] += 1
    return fate


def cache_counters(cs: CacheState) -> dict[str, int]:
    return {"hits": int(cs.stats[HITS]), "misses": int(cs.stats[MISSES]),
            "walked": int(cs.stats[WALKED]), "stored": int(cs.stats[STORED]),
            "insert_failures": int(cs.ft.stats[1])}
