"""Mappings of the IPRewriter family, kept beside the shared flow table in numpy arrays.

A mapping (Click's ``IPRewriterFlow``) is a record ``f`` with two flow-table entries:
the forward 5-tuple and the reply 5-tuple (the reverse of the rewritten flow). A table
slot names its record and direction in its value word (``slot_flow``, ``slot_dir``),
so a lookup and the record it finds cost two cache lines; the record holds, per
direction, what a packet becomes (addresses, ports, output port and the precomputed
checksum deltas, as Click's ``_ip_csum_delta``/``_udp_csum_delta``).

Time follows Click's IPRewriterBase with packet time: after each packet a flow has a
best-effort expiry ``last + timeout(state)`` and, when the guarantee is not 0, is
guaranteed until ``last + guarantee`` (Click keeps it on the guarantee heap until then).
A flow dies at the later of the two; the flow table entries carry that deadline, so a
dead flow is never found. Click reaps dead flows every ``REAP_INTERVAL``; here they are
gone at their deadline (and their records are reclaimed when the table is full).

Capacity (Click's ``MAPPING_CAPACITY``): a new flow that would exceed it evicts the
live flow with the earliest best-effort expiry among those whose guarantee has
passed (ties: the oldest flow); when there is none, or when the new flow itself would
be that flow (guarantee 0), the new flow is refused and counted as a mapping failure.
Finding the victim scans the records: it costs O(capacity), paid only when full.

The helpers taking the state are ``elements.jit.inlined``: a call that passes the whole
state tuple costs hundreds of ns, an inlined one nothing.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from elements.flowtable import (
    FOREVER,
    ST_INSERT_FAILURES,
    USED,
    W_VALUES,
    FlowTable,
    ft_find,
    ft_insert,
    ft_remove,
    ft_state,
    make_flowtable,
    records,
    zeroed,
)
from elements.jit import inlined
from elements.nat.rewriterspec import KEEP, PATTERN, ROUNDROBIN, InputSpec
from elements.net import (
    IP_PROTO_TCP,
    IP_PROTO_UDP,
    add_delta,
    delta_step,
    flow_hash5,
    rd16,
    wr16,
    wr32,
)

NS = 1_000_000_000

# f_rw[f, direction, :]: what a packet of that direction becomes, and the flow hash of
# its rewritten 5-tuple (the ``flow_hash`` annotation it leaves with).
RW_SADDR, RW_DADDR, RW_SPORT, RW_DPORT, RW_OUT, RW_IPD, RW_L4D, RW_HASH = range(8)
# f_rec[f, :]: best-effort expiry, guarantee expiry, death, creation number, the forward
# and reply table slots, protocol and state: what a packet of the flow reads, one line.
T_BEXP, T_GEXP, T_DEAD, T_BORN, F_SLOT, _, F_PROTO, F_STATE = range(8)
# misc[:]
M_COUNT, M_FREE_TOP, M_BORN, M_NOW, M_CAPACITY, M_DST_ANNO, M_LAST = range(7)
# tmo[class, :] (ns); classes: 0 TCP, 1 UDP, 2 ICMP
TMO_BASE, TMO_MORE, TMO_DONE, TMO_GUARANTEE = range(4)
CLS_TCP, CLS_UDP, CLS_ICMP = 0, 1, 2
# TCP state bits (Click's IPRewriterFlow::s_*); UDP keeps Click's _tflags counter.
S_FORWARD_DONE, S_REPLY_DONE, S_FORWARD_DATA, S_REPLY_DATA = 1, 2, 4, 8


class RewriterState(NamedTuple):
    ft: FlowTable
    f_rw: np.ndarray  # uint32[cap, 2, 8]
    f_rec: np.ndarray  # int64[cap, 8]: clocks, table slots, protocol, state (T_*, F_*)
    f_alloc: np.ndarray  # uint8[cap]
    f_input: np.ndarray  # int32[cap]: the input spec that made it
    free: np.ndarray  # int64[cap]: stack of free records
    misc: np.ndarray  # int64[8]
    tmo: np.ndarray  # int64[3, 4]
    pat_u32: np.ndarray  # uint32[P, 4]: saddr, sport, daddr, dport (0 = keep)
    pat_i64: np.ndarray  # int64[P, 6]: variation, napt, sequential, same_first, fout, rout
    pat_next: np.ndarray  # int64[P]: next sequential variation
    inp: np.ndarray  # int64[N, 5]: kind, fout, rout, first pattern, pattern count
    inp_rr: np.ndarray  # int64[N]: round-robin position
    inp_count: np.ndarray  # int64[N]: live mappings made by this input (Click's count)
    inp_fail: np.ndarray  # int64[N]: mapping failures (Click's failures)
    rng: np.ndarray  # uint64[1]: xorshift64* state


def seed_state(seed: int) -> int:
    """The PRNG's first state for ``seed`` (never 0)."""
    x = (seed * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF
    return x or 1


def make_rewriter_state(specs: list[InputSpec], capacity: int, timeouts_s: list[list[float]],
                        dst_anno: bool, seed: int) -> RewriterState:
    """Arrays for ``capacity`` mappings (two table entries each) and the parsed specs."""
    pats = [p for s in specs for p in s.patterns]
    inp = np.zeros((len(specs), 5), np.int64)
    first = 0
    for k, s in enumerate(specs):
        inp[k] = (s.kind, s.foutput, s.routput, first, len(s.patterns))
        first += len(s.patterns)
    pat_u32 = np.zeros((max(len(pats), 1), 4), np.uint32)
    pat_i64 = np.zeros((max(len(pats), 1), 6), np.int64)
    for k, p in enumerate(pats):
        pat_u32[k] = (p.saddr, p.sport, p.daddr, p.dport)
        pat_i64[k] = (p.variation, p.napt, p.sequential, p.same_first, p.foutput, p.routput)
    ft = make_flowtable(2 * capacity, values=1)
    ft.rec[:, W_VALUES] = -1  # the mapping and direction of a slot's entry: 2 * f + d
    misc = np.zeros(8, np.int64)
    misc[M_FREE_TOP] = capacity
    misc[M_CAPACITY] = capacity
    misc[M_LAST] = -1  # the handle on the mapping the last packet used (``mapping_handle``)
    misc[M_DST_ANNO] = int(dst_anno)
    misc[M_NOW] = np.iinfo(np.int64).min
    return RewriterState(
        ft=ft,
        f_rw=zeroed((capacity, 2, 8), np.uint32),
        f_rec=records(capacity, 8),
        f_alloc=zeroed(capacity, np.uint8),
        f_input=zeroed(capacity, np.int32),
        free=np.arange(capacity - 1, -1, -1, dtype=np.int64),
        misc=misc,
        tmo=np.array([[round(t * NS) for t in row] for row in timeouts_s], np.int64),
        pat_u32=pat_u32,
        pat_i64=pat_i64,
        pat_next=np.zeros(len(pat_u32), np.int64),
        inp=inp,
        inp_rr=np.zeros(len(specs), np.int64),
        inp_count=np.zeros(len(specs), np.int64),
        inp_fail=np.zeros(len(specs), np.int64),
        rng=np.array([seed_state(seed)], np.uint64),
    )


def rewriter_counters(st: RewriterState) -> dict[str, int]:
    """Click's read handlers: ``nmappings`` (live mappings, as of the last packet),
    ``mapping_failures``, ``size`` and ``capacity``; and the flow table's own."""
    now = int(st.misc[M_NOW])
    live = int(((st.f_alloc == 1) & (st.f_rec[:, T_DEAD] > now)).sum())
    return {
        "nmappings": live,
        "mapping_failures": int(st.inp_fail.sum()),
        "size": live,
        "capacity": int(st.misc[M_CAPACITY]),
        "table_insert_failures": int(st.ft.stats[ST_INSERT_FAILURES]),
    }


@inlined
def slot_flow(st, k):
    """The mapping whose entry is in table slot ``k`` (-1 for none)."""
    return st.ft.rec[k, W_VALUES] >> 1


@inlined
def slot_dir(st, k):
    """0 when slot ``k`` holds its mapping's forward entry, 1 for the reply entry."""
    return st.ft.rec[k, W_VALUES] & 1


@inlined
def proto_class(proto):
    if proto == IP_PROTO_TCP:
        return CLS_TCP
    if proto == IP_PROTO_UDP:
        return CLS_UDP
    return CLS_ICMP


@inlined
def flow_timeout(st, cls, state):
    """Click's tcp_flow_timeout / udp_flow_timeout / the ICMP timeout, in ns."""
    if cls == CLS_TCP:
        if (state & 3) == 3:
            return st.tmo[cls, TMO_DONE]
        if (state & 12) == 12:
            return st.tmo[cls, TMO_MORE]
        return st.tmo[cls, TMO_BASE]
    if cls == CLS_UDP and state > 6:  # Click's UDPFlow::streaming()
        return st.tmo[cls, TMO_MORE]
    return st.tmo[cls, TMO_BASE]


@inlined
def advance_clock(st, now):
    """Note packet time ``now``: the counters report live mappings as of the latest
    packet. Stored only when time moves forward (most packets share a batch's clock)."""
    st.misc[M_NOW] = max(st.misc[M_NOW], now)


HANDLE_BITS = 26  # a mapping's number fits (``RewriterConfig.capacity`` <= 2**26)


@inlined
def mapping_handle(st, f, d):
    """The decision cache's handle on mapping ``f`` as seen in direction ``d``: its
    creation number, direction and number. It names the mapping alone, so a refresh
    reads only the mapping's record; a destroyed or reused record has another
    creation number (``destroy``)."""
    return (st.f_rec[f, T_BORN] << (HANDLE_BITS + 1)) | (np.int64(d) << HANDLE_BITS) | f


@inlined
def handle_mapping(st, h, now):
    """(mapping, direction) of handle ``h``, mapping -1 when it is gone or dead."""
    f = h & ((1 << HANDLE_BITS) - 1)
    if st.f_rec[f, T_BORN] != h >> (HANDLE_BITS + 1) or st.f_rec[f, T_DEAD] <= now:
        return -1, 0
    return f, (h >> HANDLE_BITS) & 1


@inlined
def mapping_lookup(st, h, saddr, daddr, sport, dport, proto, now):
    """The table slot of a live mapping's entry for this 5-tuple, or -1. An entry
    lives as long as its mapping: the table keeps it ``FOREVER`` and ``destroy``
    removes it, so that a packet's refresh writes the mapping's record alone, not
    both its entries' slots (a cache miss for the other direction's)."""
    k = ft_find(st.ft, h, saddr, daddr, sport, dport, proto)
    if k < 0:
        return -1
    v = st.ft.rec[k, W_VALUES]  # the mapping and direction of the entry
    return k if v >= 0 and st.f_rec[v >> 1, T_DEAD] > now else -1


@inlined
def touch(st, f, now):
    """Restart flow ``f``'s clocks after a packet at ``now`` (Click's change_expiry)."""
    cls = proto_class(st.f_rec[f, F_PROTO])
    t = flow_timeout(st, cls, st.f_rec[f, F_STATE])
    g = st.tmo[cls, TMO_GUARANTEE]
    dead = now + (max(g, t))
    st.f_rec[f, T_BEXP] = now + t
    st.f_rec[f, T_GEXP] = now + g
    st.f_rec[f, T_DEAD] = dead  # and so its table entries (``mapping_lookup``)


@inlined
def destroy(st, f):
    """Remove mapping ``f``: its table entries (those still its own) and its record."""
    for d in range(2):
        k = st.f_rec[f, F_SLOT + d]
        if k >= 0 and st.ft.rec[k, W_VALUES] == 2 * f + d and ft_state(st.ft, k) == USED:
            ft_remove(st.ft, k)
            st.ft.rec[k, W_VALUES] = -1
    st.f_alloc[f] = 0
    st.f_rec[f, T_BORN] = -1  # no decision-cache handle on it matches any more
    st.inp_count[st.f_input[f]] -= 1
    st.misc[M_COUNT] -= 1
    st.free[st.misc[M_FREE_TOP]] = f
    st.misc[M_FREE_TOP] += 1


@inlined
def reap(st, now):
    """Reclaim the records of every dead mapping."""
    for f in range(st.f_alloc.shape[0]):
        if st.f_alloc[f] and st.f_rec[f, T_DEAD] <= now:
            destroy(st, f)


@inlined
def victim(st, now):
    """The live mapping Click would evict: earliest best-effort expiry among those whose
    guarantee has passed, the oldest on ties; -1 when every mapping is guaranteed."""
    best = -1
    for f in range(st.f_alloc.shape[0]):
        if not st.f_alloc[f] or st.f_rec[f, T_GEXP] > now:
            continue
        if best < 0 or st.f_rec[f, T_BEXP] < st.f_rec[best, T_BEXP] or (
                st.f_rec[f, T_BEXP] == st.f_rec[best, T_BEXP]
                and st.f_rec[f, T_BORN] < st.f_rec[best, T_BORN]):
            best = f
    return best


@inlined
def rng_below(st, n):
    """A pseudo-random integer in ``[0, n)`` (xorshift64*, seeded from the config)."""
    x = st.rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    st.rng[0] = x
    r = (x * np.uint64(0x2545F4914F6CDD1D)) >> np.uint64(32)
    return np.int64(r) % n


@inlined
def reply_free(st, proto, icmp, saddr, daddr, sport, dport, now):
    """No live entry has the reply key that a mapping to (saddr, dport) would use. For
    ICMP the key's source "port" is the identifier + 1, as the reply's flow id has it."""
    if icmp:
        sport = (dport + 1) & 0xFFFF
    h = flow_hash5(saddr, daddr, sport, dport, proto)
    return mapping_lookup(st, h, saddr, daddr, sport, dport, proto, now) < 0


@inlined
def pattern_rewrite(st, p, proto, icmp, s, d, sp, dp, now):
    """Click's IPRewriterPattern::rewrite_flowid: (ok, saddr, daddr, sport, dport)."""
    ns, nd, nsp, ndp = s, d, sp, dp
    if st.pat_u32[p, 0]:
        ns = st.pat_u32[p, 0]
    if st.pat_u32[p, 1]:
        nsp = st.pat_u32[p, 1]
    if st.pat_u32[p, 2]:
        nd = st.pat_u32[p, 2]
    if st.pat_u32[p, 3]:
        ndp = st.pat_u32[p, 3]
    top = st.pat_i64[p, 0]
    if top == 0:
        return True, ns, nd, nsp, ndp
    napt = st.pat_i64[p, 1] != 0
    base = np.int64(st.pat_u32[p, 1]) if napt else np.int64(st.pat_u32[p, 0])
    if napt and st.pat_i64[p, 3]:  # same_first: keep the flow's own port when free
        val = np.int64(sp) - base
        if 0 <= val <= top and reply_free(st, proto, icmp, nd, ns, ndp, sp, now):
            st.pat_next[p] = val + 1
            return True, ns, nd, np.uint32(sp), ndp
    if st.pat_i64[p, 2]:
        val = st.pat_next[p] if st.pat_next[p] <= top else 0
    else:
        val = rng_below(st, top + 1)
    for _ in range(top + 1):
        cand = base + val
        if napt:
            ok = reply_free(st, proto, icmp, nd, ns, ndp, cand, now)
        else:
            ok = reply_free(st, proto, icmp, nd, cand, ndp, nsp, now)
        if ok:
            st.pat_next[p] = val + 1
            if napt:
                return True, ns, nd, np.uint32(cand), ndp
            return True, np.uint32(cand), nd, nsp, ndp
        val = 0 if val == top else val + 1
    return False, ns, nd, nsp, ndp


@inlined
def addr_delta(s, d, ns, nd):
    c = delta_step(0, s >> 16, ns >> 16)
    c = delta_step(c, s & 0xFFFF, ns & 0xFFFF)
    c = delta_step(c, d >> 16, nd >> 16)
    return delta_step(c, d & 0xFFFF, nd & 0xFFFF)


@inlined
def rewrite_addresses(b, i, st, l3, rw):
    """A mapped packet's addresses, IP checksum (by the mapping's delta) and address
    annotations (``dst_anno`` when configured)."""
    row = b.data[i]
    wr32(row, l3 + 12, rw[RW_SADDR])
    wr32(row, l3 + 16, rw[RW_DADDR])
    wr16(row, l3 + 10, add_delta(rd16(row, l3 + 10), rw[RW_IPD]))
    b.saddr[i] = rw[RW_SADDR]
    b.daddr[i] = rw[RW_DADDR]
    if st.misc[M_DST_ANNO]:
        b.dst_anno[i] = rw[RW_DADDR]


@inlined
def _fail(st, spec):
    st.inp_fail[spec] += 1
    return -1


@inlined
def add_mapping(st, spec, proto, icmp, s, d, sp, dp, ns, nd, nsp, ndp, fout, rout, now):
    """Click's add_flow + store_flow: the forward and reply entries of a new mapping,
    with capacity eviction. The slot of the forward entry, or -1 (a counted failure)."""
    s, d, sp, dp = np.uint32(s), np.uint32(d), np.uint32(sp), np.uint32(dp)
    ns, nd, nsp, ndp = np.uint32(ns), np.uint32(nd), np.uint32(nsp), np.uint32(ndp)
    if nd == s and ns == d and ndp == sp and nsp == dp:
        return _fail(st, spec)  # the reply key would be the forward key
    hr = flow_hash5(nd, ns, ndp, nsp, proto)
    old = mapping_lookup(st, hr, nd, ns, ndp, nsp, proto, now)
    if old >= 0:  # as Click: a mapping owning this reply key is replaced
        destroy(st, slot_flow(st, old))
    cls = proto_class(proto)
    t0 = st.tmo[cls, TMO_BASE]
    g = st.tmo[cls, TMO_GUARANTEE]
    if st.misc[M_COUNT] >= st.misc[M_CAPACITY]:
        reap(st, now)
        if st.misc[M_COUNT] >= st.misc[M_CAPACITY]:
            v = victim(st, now)
            if v < 0 or (g == 0 and now + t0 < st.f_rec[v, T_BEXP]):
                return _fail(st, spec)
            destroy(st, v)
    dead = now + (max(g, t0))
    kf = ft_insert(st.ft, flow_hash5(s, d, sp, dp, proto), s, d, sp, dp, proto, now, FOREVER)
    if kf < 0:
        return _fail(st, spec)
    kr = ft_insert(st.ft, hr, nd, ns, ndp, nsp, proto, now, FOREVER)
    if kr < 0:
        ft_remove(st.ft, kf)
        return _fail(st, spec)
    st.misc[M_FREE_TOP] -= 1
    f = st.free[st.misc[M_FREE_TOP]]
    st.misc[M_COUNT] += 1
    st.f_alloc[f] = 1
    st.f_input[f] = spec
    st.inp_count[spec] += 1
    st.f_rec[f, F_PROTO] = proto
    st.f_rec[f, F_STATE] = 0
    st.f_rec[f, F_SLOT + 0] = kf
    st.f_rec[f, F_SLOT + 1] = kr
    st.ft.rec[kf, W_VALUES] = 2 * f
    st.ft.rec[kr, W_VALUES] = 2 * f + 1
    st.f_rec[f, T_BEXP] = now + t0
    st.f_rec[f, T_GEXP] = now + g
    st.f_rec[f, T_DEAD] = dead
    st.f_rec[f, T_BORN] = st.misc[M_BORN]
    st.misc[M_BORN] += 1
    # forward packets (s, d, sp, dp) become (ns, nd, nsp, ndp); replies (nd, ns, ndp,
    # nsp) become (d, s, dp, sp)
    rw = st.f_rw[f]
    rw[0, RW_SADDR] = ns
    rw[0, RW_DADDR] = nd
    rw[0, RW_SPORT] = nsp
    rw[0, RW_DPORT] = ndp
    rw[0, RW_OUT] = fout
    rw[1, RW_SADDR] = d
    rw[1, RW_DADDR] = s
    rw[1, RW_SPORT] = dp
    rw[1, RW_DPORT] = sp
    rw[1, RW_OUT] = rout
    rw[0, RW_HASH] = flow_hash5(ns, nd, nsp, ndp, proto)
    rw[1, RW_HASH] = flow_hash5(d, s, dp, sp, proto)
    ipd0 = addr_delta(s, d, ns, nd)
    ipd1 = addr_delta(nd, ns, d, s)
    rw[0, RW_IPD] = ipd0
    rw[1, RW_IPD] = ipd1
    if icmp:  # the ICMP checksum covers the identifier only, no pseudo-header
        rw[0, RW_L4D] = delta_step(0, sp, nsp)
        rw[1, RW_L4D] = delta_step(0, nsp, sp)
    else:  # the pseudo-header's addresses and the ports
        rw[0, RW_L4D] = delta_step(delta_step(ipd0, sp, nsp), dp, ndp)
        rw[1, RW_L4D] = delta_step(delta_step(ipd1, ndp, dp), nsp, sp)
    return kf


@inlined
def new_mapping(st, spec, proto, icmp, s, d, sp, dp, now):
    """Map a flow without a mapping by input spec ``spec`` (keep, pattern, round robin);
    the forward entry's slot, or -1 (a counted failure)."""
    kind = st.inp[spec, 0]
    if kind == KEEP:
        return add_mapping(st, spec, proto, icmp, s, d, sp, dp, s, d, sp, dp,
                           st.inp[spec, 1], st.inp[spec, 2], now)
    if kind == PATTERN or kind == ROUNDROBIN:
        first = st.inp[spec, 3]
        n = st.inp[spec, 4]
        j = st.inp_rr[spec]
        for _ in range(n):
            p = first + j
            j = j + 1 if j + 1 < n else 0
            ok, ns, nd, nsp, ndp = pattern_rewrite(st, p, proto, icmp, s, d, sp, dp, now)
            if ok:
                st.inp_rr[spec] = j
                if icmp:
                    ndp = np.uint32((nsp + 1) & 0xFFFF)
                return add_mapping(st, spec, proto, icmp, s, d, sp, dp, ns, nd, nsp, ndp,
                                   st.pat_i64[p, 4], st.pat_i64[p, 5], now)
        st.inp_rr[spec] = j
        return _fail(st, spec)
    return -1
