"""The per-flow decision cache: hits replay exactly what the walk would have done.

A test-local mapping element (sticky sequential source-port allocation with packet-time
timeouts, shorter after FIN) exercises the cache protocol (slot_of / touch); the naive
chain is the oracle: same bytes on every port and the same drops per middlebox, with
expiries, FIN/RST, SYN, fragments and UDP in the traffic."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numba import njit
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from test_passes import element, middlebox

from elements.batch import load_frames
from elements.element import Element, ElementConfig
from elements.flowtable import (
    ft_expiry,
    ft_insert,
    ft_live,
    ft_lookup,
    ft_set_expiry,
    make_flowtable,
)
from elements.net import IP_PROTO_TCP, add_delta, cksum_update16, delta_step, rd16, wr16
from msh.chain import Chain
from msh.chainrun import run_chain
from msh.compiler import compile_chain
from msh.flowcache import _delta32

SEC = 1_000_000_000


@njit(cache=True)
def _timeout(b, i):
    if b.proto[i] == IP_PROTO_TCP and (b.data[i, b.l4[i] + 13] & 0x05):
        return SEC // 2  # FIN or RST: the flow is closing
    return 2 * SEC


@njit(cache=True)
def sticky_kernel(b, i, s, inp):
    ft, port, last, next_port = s
    last[0] = -1
    if not (b.flags[i] & 8):  # F_PORTS
        return 0
    now = b.timestamp[i]
    k = ft_lookup(ft, b.flow_hash[i], b.saddr[i], b.daddr[i], b.sport[i], b.dport[i],
                  b.proto[i], now)
    if k < 0:
        k = ft_insert(ft, b.flow_hash[i], b.saddr[i], b.daddr[i], b.sport[i], b.dport[i],
                      b.proto[i], now, now + _timeout(b, i))
        if k < 0:
            return -1
        port[k] = next_port[0]
        next_port[0] += 1
    ft_set_expiry(ft, k, now + _timeout(b, i))
    last[0] = k
    l4 = b.l4[i]
    at = l4 + 16 if b.proto[i] == IP_PROTO_TCP else l4 + 6
    check = np.uint32(rd16(b.data[i], at))
    if b.proto[i] == IP_PROTO_TCP or check != 0:
        check = cksum_update16(check, b.sport[i], port[k])
        if b.proto[i] != IP_PROTO_TCP and check == 0:
            check = np.uint32(0xFFFF)
        wr16(b.data[i], at, check)
    wr16(b.data[i], l4, port[k])
    b.sport[i] = port[k]
    return 0


@njit(cache=True)
def sticky_slot_of(s):
    return s[2][0]


@njit(cache=True)
def sticky_touch(s, k, b, i):
    ft = s[0]
    now = b.timestamp[i]
    if not ft_live(ft, k, now):
        return -1
    ft_set_expiry(ft, k, now + _timeout(b, i))
    return ft_expiry(ft, k)


class StickyConfig(ElementConfig):
    capacity: int = 64


class StickyPortMapper(Element):
    """Test element: a sticky per-flow source-port mapping (no reply direction)."""

    Config = StickyConfig
    reads = ("saddr", "daddr", "sport", "dport", "proto", "l4")
    writes = ("l4.ports", "tcp.sum", "udp.sum", "sport")
    state_kind = "per-flow"
    drops = ("table_full",)
    kernel = staticmethod(sticky_kernel)
    slot_of = staticmethod(sticky_slot_of)
    touch = staticmethod(sticky_touch)

    def cache_role(self):
        return "mapping"

    def make_state(self, n_outputs):
        ft = make_flowtable(self.config.capacity)
        return (ft, np.zeros(len(ft.rec), np.int64), np.full(1, -1, np.int64),
                np.array([20000], np.int64))


class Frames:
    def __init__(self, frames, stamps):
        self.frames, self.stamps, self.total = list(frames), list(stamps), len(frames)

    def fill(self, b, n):
        take, self.frames = self.frames[:n], self.frames[n:]
        ts, self.stamps = self.stamps[:n], self.stamps[n:]
        return load_frames(b, take, ts) if take else 0


def chain(capacity=64) -> Chain:
    return Chain("fw-map", [
        middlebox("fw", element("Strip", "strip", length=14),
                  element("CheckIPHeader", "chk"), element("Paint", "p", color=5),
                  element("Unstrip", "unstrip", length=14)),
        middlebox("map", element("Strip", "strip", length=14),
                  element("CheckIPHeader", "chk"),
                  element("StickyPortMapper", "m", capacity=capacity),
                  element("StickyPortMapper", "m2", capacity=capacity),
                  element("Unstrip", "unstrip", length=14)),
    ])


packet = st.tuples(
    st.integers(0, 7),  # flow
    st.sampled_from(["A", "PA", "S", "F", "R", "udp", "frag", "badsum"]),
    st.integers(0, 900_000_000),  # gap to the previous packet, ns
)


def frame(flow: int, kind: str) -> bytes:
    ip = IP(src=f"10.0.0.{flow % 4 + 1}", dst="192.168.1.1")
    if kind == "udp":
        pkt = Ether() / ip / UDP(sport=1000 + flow, dport=53) / (b"q" * flow)
    else:
        flags = "A" if kind in ("frag", "badsum") else kind
        pkt = Ether() / ip / TCP(sport=1000 + flow, dport=80, flags=flags) / (b"x" * 10)
    if kind == "frag":
        pkt[IP].flags = "MF"
    raw = bytearray(bytes(pkt))
    if kind == "badsum":
        raw[24] ^= 0xFF  # IP checksum
    return bytes(raw)


@settings(max_examples=60, deadline=None)
@given(st.lists(packet, min_size=1, max_size=120), st.sampled_from([4, 64]))
def test_cached_plan_equals_naive_chain(packets, capacity):
    frames = [frame(f, k) for f, k, _ in packets]
    stamps = list(np.cumsum([gap for _, _, gap in packets]))
    plan = compile_chain(chain(capacity))
    assert plan.graph.graph["cache"]["nodes"] == ["fw/p", "map/m", "map/m2", "map/unstrip"]
    naive = run_chain(plan, "naive", Frames(frames, stamps), batch_size=16, capture=True)
    msh = run_chain(plan, "msh", Frames(frames, stamps), batch_size=16, capture=True)
    assert msh.outputs == naive.outputs
    assert msh.drops_by_middlebox() == naive.drops_by_middlebox()
    assert msh.counters.element("fw/p")["out"] == naive.counters.element("fw/p")["out"]


def test_later_packets_of_a_flow_hit():
    frames = [frame(1, "S")] + [frame(1, "A")] * 9 + [frame(2, "udp")] * 5
    stamps = [k * 1000 for k in range(len(frames))]
    plan = compile_chain(chain())
    msh = run_chain(plan, "msh", Frames(frames, stamps), capture=True)
    cache = msh.counters.cache
    # the SYN misses and records the flow; its 9 ACKs hit; UDP: 1 miss + 4 hits
    assert (cache["walked"], cache["misses"], cache["hits"]) == (0, 2, 13)
    naive = run_chain(plan, "naive", Frames(frames, stamps), capture=True)
    assert msh.outputs == naive.outputs


def _update16(check, old, new):
    """RFC 1624 eqn. 3 in plain Python, the oracle for the cache's delta arithmetic."""
    s = (~check & 0xFFFF) + (~old & 0xFFFF) + new
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _update_words(check, fields):
    """What the mapping elements do: every field that changes, word by word."""
    for old, new, words in fields:
        if old != new:
            for k in reversed(range(words)):
                check = _update16(check, (old >> 16 * k) & 0xFFFF, (new >> 16 * k) & 0xFFFF)
    return check


edgy16 = st.sampled_from([0, 1, 0xFFFE, 0xFFFF]) | st.integers(0, 0xFFFF)
edgy32 = st.builds(lambda hi, lo: hi << 16 | lo, edgy16, edgy16)


@st.composite
def change(draw, words):
    """(old, new) of a field: often unchanged, or changed in one 16-bit half only."""
    old = draw(edgy32 if words == 2 else edgy16)
    keep = draw(st.sampled_from(["all", "high", "low", "none"] if words == 2 else ["all", "none"]))
    new = draw(edgy32 if words == 2 else edgy16)
    if keep == "all":
        new = old
    elif keep == "high":
        new = (old & 0xFFFF0000) | (new & 0xFFFF)
    elif keep == "low":
        new = (new & 0xFFFF0000) | (old & 0xFFFF)
    return old, new, words


@settings(max_examples=400, deadline=None)
@given(edgy16, change(2), change(2), change(1), change(1))
# Both zeros: checksum 0xFFFF, where only the changed words' terms are zero and an
# unchanged half's update still turns it into 0x0000
@example(0xFFFF, (0x1234FFFF, 0x12340000, 2), (7, 7, 2), (9, 9, 1), (5, 5, 1))
@example(0xFFFF, (1, 1, 2), (7, 7, 2), (0xFFFF, 0, 1), (5, 5, 1))
def test_one_delta_gives_the_bits_of_word_by_word_updates(check, sa, da, sp, dp):
    """A hit adds the flow's precomputed delta once; the elements update each word in
    turn. One's-complement addition regroups exactly, including both zeros."""
    delta = delta_step(delta_step(_delta32(_delta32(np.uint32(0), *sa[:2]), *da[:2]), *sp[:2]),
                       *dp[:2])
    assert int(add_delta(check, delta)) == _update_words(check, [sa, da, sp, dp])
