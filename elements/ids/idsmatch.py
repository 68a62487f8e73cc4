"""IDSMatch: Snort-like signature matching over TCP streams, with an inline IPS mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
from pydantic import Field, model_validator

from elements.batch import F_IP, F_L4FULL, F_NONFIRST
from elements.element import Element, ElementConfig, drop
from elements.flowtable import (
    FlowTable,
    flowtable_counters,
    ft_find,
    ft_insert,
    ft_lookahead,
    ft_lookup,
    make_flowtable,
    worth_lookahead,
)
from elements.ids.ahocorasick import build
from elements.ids.snortrules import Rule, RuleError, load_rules, parse_rules
from elements.jit import inlined
from elements.net import IP_PROTO_TCP, IP_PROTO_UDP, ip_end, rd32
from elements.prefetch import prefetch

A_ALERT, A_DROP, A_PASS = 0, 1, 2
ACTION_CODE = {"alert": A_ALERT, "drop": A_DROP, "pass": A_PASS}
NO_END = np.int64(1) << 62

# Columns of an alert ring entry.
R_RULE, R_TS, R_SADDR, R_DADDR, R_SPORT, R_DPORT, R_PROTO, R_BLOCKED, R_BATCH, R_ROW = range(10)
RING_COLS = 10
# Indices into IDSState.stats.
(S_RING, S_ALERTS, S_LOST, S_INSPECTED, S_BYTES, S_NOT_INSPECTED, S_OOO, S_OLD, S_FLOW_FULL,
 S_PEND_LOST, S_PASSED) = range(11)
STAT_NAMES = ("ring", "alerts", "alerts_lost", "inspected", "bytes_inspected", "not_inspected",
              "out_of_order", "old_segments", "flow_table_full", "matches_lost", "passed")
# Flow flags.
FL_BLOCKED = 1
MAX_PENDING = 256  # rules satisfied by one packet
# Payloads at least this long are scanned as two halves at once (``_scan``). Measured
# (python -m bench.ids, two alternating runs each way): 10 patterns 2.0 -> 2.2-3.1
# Gbit/s, 100: 1.8-2.0 -> 2.5-3.0, 1,000: 1.3-1.4 -> 1.5-2.0, 10,000: 0.41-0.52 -> 0.64.
SPLIT_MIN = 128
MAX_DEFER = 32  # outputs a second half notes before it stops
# Indices into IDSState.params.
P_IPS, P_TIMEOUT, P_LONGEST = 0, 1, 2


class IDSState(NamedTuple):
    ac: tuple  # (case-sensitive, nocase) Automaton: one type, so a kernel indexes it
    pat_content: np.ndarray  # int32: automaton w's pattern k -> content pat_content[base[w] + k]
    pat_base: np.ndarray  # int64[2]
    c_rule: np.ndarray  # int32 per content: its rule
    c_offset: np.ndarray  # int64: first stream offset a match may start at
    c_end: np.ndarray  # int64: stream offset a match must end by (exclusive)
    c_len: np.ndarray  # int32
    c_bit: np.ndarray  # int32: bit in the per-flow bitset, -1 for single-content rules
    r_action: np.ndarray  # uint8: A_ALERT, A_DROP, A_PASS
    r_proto: np.ndarray  # uint8: 0 = any
    r_bidir: np.ndarray  # uint8
    r_bits: np.ndarray  # int32[rules, 2]: first content bit, number of contents
    r_spec: np.ndarray  # int32[rules, 8]: [start, end) into spec of src, dst, sport, dport
    spec: np.ndarray  # int64[n, 2]: inclusive ranges (nets as address ranges, ports)
    spec_neg: np.ndarray  # uint8: the range is negated
    headless: np.ndarray  # int32: rules without content (header match only)
    ft: FlowTable
    f_next: np.ndarray  # int64 per flow slot: next expected sequence number
    f_base: np.ndarray  # int64: sequence number of stream offset 0
    f_ac: np.ndarray  # int32[slots + 1, 2]: automaton states (offsets); last row: scratch
    f_flags: np.ndarray  # uint8: FL_BLOCKED
    f_bits: np.ndarray  # uint64[slots + 1, words]: fired rules, matched contents; the last
    #                     row is scratch for packets scanned without flow state
    pending: np.ndarray  # int32[MAX_PENDING]: rules satisfied by the current packet
    defer: np.ndarray  # int64[MAX_DEFER, 3]: outputs of a second half (``_scan``): byte, states
    ring: np.ndarray  # int64[capacity, RING_COLS]: alerts not yet written
    params: np.ndarray  # int64: ips mode, flow timeout (ns), longest pattern (P_*)
    stats: np.ndarray  # int64[len(STAT_NAMES)]


# The kernel is written with one call site per helper: the runtime inlines every helper
# into the walk recursively, so each extra call site is another copy to compile.


@inlined
def _in_spec(s, lo, hi, v):
    """``v`` is in some positive range of ``spec[lo:hi]`` (or there is none) and in no
    negated one."""
    pos = False
    seen_pos = False
    for k in range(lo, hi):
        hit = s.spec[k, 0] <= v <= s.spec[k, 1]
        if s.spec_neg[k]:
            if hit:
                return False
        else:
            seen_pos = True
            pos = pos or hit
    return pos or not seen_pos


@inlined
def _header_ok(s, r, proto, saddr, daddr, sport, dport):
    if s.r_proto[r] != 0 and s.r_proto[r] != proto:
        return False
    for d in range(2):  # d = 1: the reverse direction, for '<>' rules
        if d == 1 and not s.r_bidir[r]:
            return False
        ok = True
        for f in range(4):
            if f == 0:
                v = saddr if d == 0 else daddr
            elif f == 1:
                v = daddr if d == 0 else saddr
            elif f == 2:
                v = sport if d == 0 else dport
            else:
                v = dport if d == 0 else sport
            if not _in_spec(s, s.r_spec[r, 2 * f], s.r_spec[r, 2 * f + 1], np.int64(v)):
                ok = False
                break
        if ok:
            return True
    return False


@inlined
def _bit(bits, row, k):
    return (bits[row, k >> 6] >> np.uint64(k & 63)) & np.uint64(1)


@inlined
def _set(bits, row, k):
    bits[row, k >> 6] |= np.uint64(1) << np.uint64(k & 63)


@inlined
def _satisfy(s, row, r, npend):
    """Mark rule ``r`` fired in bitset ``row`` and queue it for this packet."""
    _set(s.f_bits, row, r)
    if npend < MAX_PENDING:
        s.pending[npend] = r
        return npend + 1
    s.stats[S_PEND_LOST] += 1
    return npend


@inlined
def _content_hit(s, c, end, row, proto, saddr, daddr, sport, dport):
    """Content ``c`` occurs in the stream ending at offset ``end`` (exclusive): the rule
    it completes, or -1."""
    if end - s.c_len[c] < s.c_offset[c] or end > s.c_end[c]:
        return -1
    r = s.c_rule[c]
    if _bit(s.f_bits, row, r):
        return -1
    if not _header_ok(s, r, proto, saddr, daddr, sport, dport):
        return -1
    bit = s.c_bit[c]
    if bit >= 0:
        _set(s.f_bits, row, bit)
        first = s.r_bits[r, 0]
        for k in range(first, first + s.r_bits[r, 1]):
            if not _bit(s.f_bits, row, k):
                return -1
    return r


@inlined
def _scan(s, data, start, end, off, states, row, proto, saddr, daddr, sport, dport):
    """Run both automata from ``states`` over ``data[start:end]``, whose first byte is
    stream offset ``off``, updating ``states``; rules completed are queued in
    ``pending``. Returns how many are queued. Both automata advance in the same loop:
    two independent load chains, so the CPU overlaps their latencies.

    A payload of ``SPLIT_MIN`` bytes or more is scanned as two halves in that loop,
    four chains in all. The second half starts from the root ``L`` bytes early (``L``:
    the longest pattern): a state is the longest pattern prefix ending at the byte
    just read, so after ``L`` bytes it is the state a scan from the start has there.
    Matches are handled in stream order: the second half notes where it meets an
    output (and its states there) in ``defer``, and once the first half is done each
    noted byte is scanned again, alone, with its outputs handled. When ``defer`` is
    full the second half stops and the scan goes on from there, byte by byte."""
    npend = 0
    cs = s.ac[0]
    ci = s.ac[1]
    st0 = states[0]
    st1 = states[1]
    out0 = cs.dims[1]
    out1 = ci.dims[1]
    lead = s.params[P_LONGEST]
    stop = end  # where the running stretch ends
    final = True  # the running stretch is the last
    mid = end  # where the second half's own bytes start
    q = end  # the second half's next byte; end: none
    if end - start >= SPLIT_MIN and end - start >= 4 * lead:
        mid = start + (end - start + lead + 1) // 2  # the second half is no longer
        stop = mid
        final = False
        q = mid - lead
    u0 = np.int32(0)  # the second half's states
    u1 = np.int32(0)
    resume = end
    noted = 0
    replayed = 0
    p = start
    while True:
        while p < stop:
            x = data[p]
            # unsigned indices: numba adds no negative-index wrap to the load chain
            st0 = cs.table[np.uint64(st0 + cs.cls[x])]
            st1 = ci.table[np.uint64(st1 + ci.cls[x])]
            if q < end:
                y = data[q]
                v0 = cs.table[np.uint64(u0 + cs.cls[y])]
                v1 = ci.table[np.uint64(u1 + ci.cls[y])]
                hit = q >= mid and (v0 >= out0 or v1 >= out1)
                if hit and noted == s.defer.shape[0]:
                    resume = q  # go on from q, with the states before it: u0, u1
                    q = end
                else:
                    if hit:
                        s.defer[noted, 0] = q
                        s.defer[noted, 1] = u0
                        s.defer[noted, 2] = u1
                        noted += 1
                    u0 = v0
                    u1 = v1
                    q += 1
            if st0 >= out0 or st1 >= out1:
                for w in range(2):
                    a = s.ac[w]
                    o = st0 if w == 0 else st1
                    if o < a.dims[1]:
                        continue
                    t = a.first[o // a.dims[0]]
                    while t >= 0:
                        for k in range(a.out_ptr[t], a.out_ptr[t + 1]):
                            r = _content_hit(s, s.pat_content[s.pat_base[w] + a.out_ids[k]],
                                             off + (p - start) + 1, row, proto, saddr, daddr,
                                             sport, dport)
                            if r >= 0:
                                npend = _satisfy(s, row, r, npend)
                        t = a.link[t]
            p += 1
        if final:
            break
        if replayed < noted:  # the next byte the second half noted, alone
            p = s.defer[replayed, 0]
            st0 = np.int32(s.defer[replayed, 1])
            st1 = np.int32(s.defer[replayed, 2])
            stop = p + 1
            replayed += 1
        else:  # on from where the second half stopped (at the end when it did not)
            p = resume
            st0 = u0
            st1 = u1
            stop = end
            final = True
    states[0] = st0
    states[1] = st1
    return npend


@inlined
def ids_kernel(b, i, s, inp):
    flags = b.flags[i]
    if not (flags & F_IP) or (flags & F_NONFIRST):
        s.stats[S_NOT_INSPECTED] += 1
        return 0
    row_data = b.data[i]
    l4 = b.l4[i]
    end = ip_end(b, i)
    proto = b.proto[i]
    if proto == IP_PROTO_TCP:
        if not (flags & F_L4FULL):
            return drop(0)
        start = l4 + ((row_data[l4 + 12] >> 4) << 2)
        if start < l4 + 20 or start > end:
            return drop(0)
    elif proto == IP_PROTO_UDP or proto == 1:
        if not (flags & F_L4FULL):
            return drop(0)
        start = l4 + 8
    else:
        start = l4
    saddr = b.saddr[i]
    daddr = b.daddr[i]
    sport = b.sport[i]
    dport = b.dport[i]
    scratch = s.f_bits.shape[0] - 1
    slot = -1
    fresh = False
    if proto == IP_PROTO_TCP:
        now = b.timestamp[i]
        h = b.flow_hash[i]
        fresh = ft_lookup(s.ft, h, saddr, daddr, sport, dport, proto, now) < 0
        slot = ft_insert(s.ft, h, saddr, daddr, sport, dport, proto, now,
                         now + s.params[P_TIMEOUT])
        if slot < 0:
            s.stats[S_FLOW_FULL] += 1
        elif fresh:
            s.f_flags[slot] = 0
            s.f_bits[slot, :] = 0
        elif s.f_flags[slot] & FL_BLOCKED:
            return drop(2)
    s.stats[S_INSPECTED] += 1
    s.stats[S_BYTES] += end - start
    # What to scan, from which automaton states, at which stream offset.
    row = scratch
    states = s.f_ac[scratch]
    states[:] = 0
    off = 0
    if slot >= 0:
        row = slot
        n = end - start
        seq = (np.int64(rd32(row_data, l4 + 4)) + ((row_data[l4 + 13] >> 1) & 1)) & 0xFFFFFFFF
        if fresh:  # offset 0: the byte after the SYN, or this segment's first byte
            s.f_next[slot] = seq
            s.f_base[slot] = seq
            s.f_ac[slot, :] = 0
        d = (seq - s.f_next[slot]) & 0xFFFFFFFF
        if d >= 0x80000000:
            d -= 0x100000000
        off = (seq - s.f_base[slot]) & 0xFFFFFFFF
        if d == 0 or (d < 0 and d + n > 0):  # in order, or overlapping what was scanned
            start -= d
            off -= d
            states = s.f_ac[slot]
            s.f_next[slot] = (seq + n) & 0xFFFFFFFF
        elif d > 0 and n > 0:  # a hole before it: the stream restarts here
            s.stats[S_OOO] += 1
            s.f_ac[slot, :] = 0
            states = s.f_ac[slot]
            s.f_next[slot] = (seq + n) & 0xFFFFFFFF
        elif n > 0:  # wholly behind: a retransmission or a late hole filler, alone
            s.stats[S_OLD] += 1
    else:
        s.f_bits[scratch, :] = 0
    npend = _scan(s, row_data, start, end, off, states, row, proto, saddr, daddr, sport, dport)
    for k in range(s.headless.shape[0]):
        r = s.headless[k]
        if not _bit(s.f_bits, row, r) and _header_ok(s, r, proto, saddr, daddr, sport, dport):
            npend = _satisfy(s, row, r, npend)
    if npend == 0:
        return 0
    for k in range(npend):
        if s.r_action[s.pending[k]] == A_PASS:
            s.stats[S_PASSED] += 1
            return 0
    blocked = 0
    if s.params[P_IPS]:
        for k in range(npend):
            if s.r_action[s.pending[k]] == A_DROP:
                blocked = 1
    for k in range(npend):
        s.stats[S_ALERTS] += 1
        e = s.stats[S_RING]
        if e >= s.ring.shape[0]:
            s.stats[S_LOST] += 1
            continue
        s.stats[S_RING] = e + 1
        s.ring[e, R_RULE] = s.pending[k]
        s.ring[e, R_TS] = b.timestamp[i]
        s.ring[e, R_SADDR] = saddr
        s.ring[e, R_DADDR] = daddr
        s.ring[e, R_SPORT] = sport
        s.ring[e, R_DPORT] = dport
        s.ring[e, R_PROTO] = proto
        s.ring[e, R_BLOCKED] = blocked
        s.ring[e, R_BATCH] = b.meta[1]
        s.ring[e, R_ROW] = i
    if blocked:
        if slot >= 0:
            s.f_flags[slot] |= FL_BLOCKED
        return drop(1)
    return 0


@inlined
def ids_lookahead_found(b, i, s, inp):
    """Find row ``i``'s stream (its table slot is fetched) and start fetching its state."""
    if b.proto[i] == IP_PROTO_TCP:
        k = ft_find(s.ft, b.flow_hash[i], b.saddr[i], b.daddr[i], b.sport[i], b.dport[i],
                    b.proto[i])
        if k >= 0:
            prefetch(s.f_next, k)
            prefetch(s.f_base, k)
            prefetch(s.f_ac, k)
            prefetch(s.f_flags, k)
            prefetch(s.f_bits, k)


class IDSMatchConfig(ElementConfig):
    rules: list[str] = Field(default_factory=list,
                             description="inline rules, one per item (errors name '<rules>:N')")
    file: str | None = Field(None, description="a rules file (errors name 'FILE:LINE')")
    vars: dict[str, str] = Field(default_factory=dict,
                                 description="rule variables: {HOME_NET: '10.0.0.0/8'} for $HOME_NET")
    mode: Literal["ids", "ips"] = Field("ids", description="ips: drop rules drop the packet")
    alert_file: str | None = Field(None, description="alerts appended here as JSON lines")
    flows: int = Field(4096, ge=1, le=1 << 22, description="TCP streams tracked at once")
    timeout: int = Field(120, ge=1, description="seconds an idle stream is kept")
    ring: int = Field(4096, ge=1, description="alerts held between two flushes")

    @model_validator(mode="after")
    def _rules_parse(self):
        """Bad rules are configuration errors, reported when the graph is loaded."""
        if not self.rules and self.file is None:
            raise ValueError("give 'rules' (inline) or 'file' (a rules file), or both")
        try:
            self.load()
        except RuleError as e:
            raise ValueError(str(e)) from None
        return self

    def load(self) -> list[Rule]:
        """The configured rules (``RuleError`` names every bad line)."""
        rules = load_rules(self.file, self.vars) if self.file is not None else []
        if self.rules:
            rules += parse_rules("\n".join(self.rules), "<rules>", self.vars)
        sids = {}
        for r in rules:
            if r.sid in sids:
                raise RuleError([f"{r.where}: error: sid {r.sid} already used at {sids[r.sid]}"])
            sids[r.sid] = r.where
        return rules


def compile_rules(rules: list[Rule], flows: int) -> IDSState:
    """The kernel's arrays for ``rules``: automata, per-content and per-rule tables."""
    n_rules = len(rules)
    contents = [(r, c) for r, rule in enumerate(rules) for c in rule.contents]
    c_bit, bit = [], n_rules
    r_bits = np.zeros((n_rules, 2), np.int32)
    for r, rule in enumerate(rules):
        multi = len(rule.contents) > 1
        r_bits[r] = (bit, len(rule.contents) if multi else 0)
        for _ in rule.contents:
            c_bit.append(bit if multi else -1)
            bit += multi
    words = max(1, (bit + 63) // 64)
    cs = [k for k, (_, c) in enumerate(contents) if not c.nocase]
    ci = [k for k, (_, c) in enumerate(contents) if c.nocase]
    spec, spec_neg = [], []
    r_spec = np.zeros((n_rules, 8), np.int32)
    for r, rule in enumerate(rules):
        nets = [(a, a | (~m & 0xFFFFFFFF), neg) for a, m, neg in rule.src], [
            (a, a | (~m & 0xFFFFFFFF), neg) for a, m, neg in rule.dst]
        for f, entries in enumerate((*nets, rule.sport, rule.dport)):
            r_spec[r, 2 * f] = len(spec)
            for lo, hi, neg in entries:
                spec.append((lo, hi))
                spec_neg.append(neg)
            r_spec[r, 2 * f + 1] = len(spec)
    ft = make_flowtable(flows)
    slots = ft.rec.shape[0]
    return IDSState(
        ac=(build([contents[k][1].pattern for k in cs]),
            build([contents[k][1].pattern for k in ci], nocase=True)),
        pat_content=np.array(cs + ci, np.int32),
        pat_base=np.array([0, len(cs)], np.int64),
        c_rule=np.array([r for r, _ in contents], np.int32),
        c_offset=np.array([c.offset for _, c in contents], np.int64),
        c_end=np.array([c.offset + c.depth if c.depth >= 0 else NO_END for _, c in contents],
                       np.int64),
        c_len=np.array([len(c.pattern) for _, c in contents], np.int32),
        c_bit=np.array(c_bit, np.int32),
        r_action=np.array([ACTION_CODE[r.action] for r in rules], np.uint8),
        r_proto=np.array([r.proto for r in rules], np.uint8),
        r_bidir=np.array([r.bidirectional for r in rules], np.uint8),
        r_bits=r_bits,
        r_spec=r_spec,
        spec=np.array(spec, np.int64).reshape(-1, 2),
        spec_neg=np.array(spec_neg, np.uint8),
        headless=np.array([r for r, rule in enumerate(rules) if not rule.contents], np.int32),
        ft=ft,
        f_next=np.zeros(slots, np.int64),
        f_base=np.zeros(slots, np.int64),
        f_ac=np.zeros((slots + 1, 2), np.int32),
        f_flags=np.zeros(slots, np.uint8),
        f_bits=np.zeros((slots + 1, words), np.uint64),
        pending=np.zeros(MAX_PENDING, np.int32),
        defer=np.zeros((MAX_DEFER, 3), np.int64),
        ring=np.zeros((1, RING_COLS), np.int64),
        params=np.array([0, 0, max([len(c.pattern) for _, c in contents], default=0)],
                        np.int64),
        stats=np.zeros(len(STAT_NAMES), np.int64),
    )


def _ip(x: int) -> str:
    return f"{x >> 24}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}"


class IDSMatch(Element):
    """Match packets against Snort-like rules (Aho–Corasick over TCP streams); in
    ``ips`` mode, drop what ``drop`` rules match.

    Rules come from ``file`` and/or inline ``rules`` (syntax: ``elements.ids.snortrules``):
    ``alert|drop|pass PROTO SRC SPORT -> DST DPORT (msg:"..."; content:"..."; nocase;
    offset:N; depth:N; sid:N; rev:N;)``. All contents of a rule must match; a rule
    without content matches on its header alone. Needs IP annotations
    (CheckIPHeader upstream).

    Ports: ``1/1``. Packets that are not inspected (no IP annotation, non-first
    fragments) pass unchanged.

    Behaviour:

    - Streams. Each direction of a TCP connection is a stream whose offset 0 is the
      first payload byte after the SYN (or of the first segment seen). The automaton
      state is kept per stream in a flow table, so a content split over in-order
      segments is found; ``offset``/``depth`` are stream offsets. A segment that
      overlaps data already scanned has only its new bytes scanned. A segment after a
      hole (out of order) restarts the stream there: the automaton resets to the root
      (no content spans a hole) and the expected sequence number jumps past it. A
      segment wholly behind the expected sequence (retransmission, late hole filler)
      is scanned on its own from the root, without changing the stream. Nothing is
      buffered. When the flow table is full, the packet is scanned on its own.
      UDP, ICMP and other packets are scanned one by one (offset 0 = first payload
      byte after the UDP/ICMP header, or after the IP header for other protocols).
    - A rule fires at most once per stream (once per packet for non-TCP), on the
      packet whose bytes complete its last content.
    - ``pass``, as Snort: when a pass rule fires on a packet, no alert or drop comes
      from the rules that fire on that packet.
    - ``drop``: in ``ids`` mode it alerts like ``alert``; in ``ips`` mode it also
      drops the packet (reason ``rule_drop``) and blocks the stream: its later
      packets are dropped uninspected (``flow_blocked``), as Snort inline does.
    - Alerts: the kernel records (rule, packet metadata) in a ring; ``flush`` appends
      one JSON object per alert to ``alert_file``: ``sid, rev, msg, action, blocked,
      ts, src, dst, sport, dport, proto, batch, row``.
    - Malformed transport headers (TCP data offset < 5 or beyond the packet,
      truncated TCP/UDP/ICMP header) are dropped: ``malformed``.

    Example::

        elements:
          ids:
            kind: IDSMatch
            config:
              mode: ips
              rules:
                - 'drop tcp any any -> any 80 (msg:"cmd"; content:"/bin/sh"; sid:1;)'
                - 'alert tcp any any -> any any (content:"passwd"; nocase; sid:2;)'
          chk: {kind: CheckIPHeader}
        connections:
          - in -> chk -> ids -> out

    Counters: ``alerts``, ``alerts_lost`` (ring full), ``inspected``,
    ``bytes_inspected``, ``not_inspected``, ``out_of_order``, ``old_segments``,
    ``flow_table_full``, ``matches_lost`` (over 256 rules in one packet), ``passed``,
    flow table ``inserts``/``insert_failures``/``expired``.

    See also: CheckIPHeader, Classifier; Snort's ``stream5`` and ``fast_pattern``.
    """

    ports = "1/1"
    Config = IDSMatchConfig
    reads = ("ip", "tcp", "payload", "head", "length", "l3", "l4", "flags", "proto", "saddr",
             "daddr", "sport", "dport", "flow_hash", "timestamp")
    state_kind = "per-flow"
    drops = ("malformed", "rule_drop", "flow_blocked")
    kernel = staticmethod(ids_kernel)
    lookahead = staticmethod(ft_lookahead)
    lookahead_found = staticmethod(ids_lookahead_found)

    def looks_ahead(self) -> bool:
        """When its stream table is too big to stay cached (``worth_lookahead``)."""
        return worth_lookahead(self.config.flows)

    def make_state(self, n_outputs: int) -> IDSState:
        self.rules = self.config.load()
        s = compile_rules(self.rules, self.config.flows)
        s = s._replace(ring=np.zeros((self.config.ring, RING_COLS), np.int64))
        s.params[P_IPS] = self.config.mode == "ips"
        s.params[P_TIMEOUT] = self.config.timeout * 1_000_000_000
        if self.config.alert_file is not None:
            Path(self.config.alert_file).write_text("")
        return s

    def alerts(self, state: IDSState) -> list[dict]:
        """The alerts in the ring, as the JSON objects ``flush`` writes."""
        out = []
        names = {6: "tcp", 17: "udp", 1: "icmp"}
        for e in state.ring[: state.stats[S_RING]]:
            rule = self.rules[int(e[R_RULE])]
            out.append({
                "sid": rule.sid, "rev": rule.rev, "msg": rule.msg, "action": rule.action,
                "blocked": bool(e[R_BLOCKED]), "ts": int(e[R_TS]),
                "src": _ip(int(e[R_SADDR])), "dst": _ip(int(e[R_DADDR])),
                "sport": int(e[R_SPORT]), "dport": int(e[R_DPORT]),
                "proto": names.get(int(e[R_PROTO]), int(e[R_PROTO])),
                "batch": int(e[R_BATCH]), "row": int(e[R_ROW]),
            })
        return out

    def flush(self, state: IDSState) -> None:
        if not state.stats[S_RING]:
            return
        if self.config.alert_file is not None:
            with open(self.config.alert_file, "a") as f:
                f.writelines(json.dumps(a) + "\n" for a in self.alerts(state))
        state.stats[S_RING] = 0

    def counters(self, state: IDSState) -> dict[str, int]:
        c = {name: int(state.stats[k]) for k, name in enumerate(STAT_NAMES) if name != "ring"}
        c.update(flowtable_counters(state.ft))
        return c
