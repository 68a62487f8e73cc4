"""TrafficGen: a seeded source of valid Ethernet/IPv4 TCP, UDP and ICMP traffic.

Flows (5-tuples) are drawn once from the config with numpy; each packet is then
stamped straight into its batch slot by a numba kernel. Packet ``k``'s choices
(flow, size, TCP flags, sequence number, IP id, payload) come from a counter-based
hash of ``(seed, k)``, so the traffic does not depend on the batch size. Payloads
are slices of a seeded pool whose 16-bit prefix sums make each checksum O(1).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numba import njit
from pydantic import Field, model_validator

from elements.batch import HEADROOM, MAX_FRAME, reset_annotations
from elements.codegen import Fast
from elements.element import Element, ElementConfig
from elements.io.pcapfile import copy_bytes
from elements.jit import inlined
from elements.net import (
    ETHER_HLEN,
    IP_PROTO_ICMP,
    IP_PROTO_TCP,
    IP_PROTO_UDP,
    fold,
    sum16,
    wr16,
    wr32,
)

# The shared trace's distribution (/work/shared/data/README.md); the size shares are
# as measured on the file (the README rounds them to 40/20/40), uniform in each range.
TRACE_SIZES = ((0.443, 64, 80), (0.195, 81, 300), (0.362, 301, 600))  # (share, min, max)
TRACE_TCP_PORTS = (80, 443, 22, 25, 110, 143, 993, 3306, 5432, 8080, 8443, 6379)
TRACE_UDP_PORTS = (53, 123, 161, 500, 1900, 5353, 4500, 514)
# TCP flags as the trace has them: PA, A, S, FA, SA, R.
TCP_FLAGS = np.array([0x18, 0x10, 0x02, 0x11, 0x12, 0x04], np.uint8)
TCP_FLAG_SHARES = (0.419, 0.415, 0.079, 0.046, 0.038, 0.003)
TRACE_START_NS = 1_700_000_000_000_000_000
MAC_DST = bytes.fromhex("020000000002")
MAC_SRC = bytes.fromhex("020000000001")
POOL = 1 << 16  # payload pool bytes (a payload starts at an even offset below POOL)
MIN_FRAME = ETHER_HLEN + 20 + 20  # room for the largest header set (TCP)

_WORDS = ["the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be", "at", "by", "this", "had", "not", "are", "but", "from", "or", "have", "an", "they", "which", "one", "you", "were", "her", "all", "she", "there", "would", "their", "we", "him", "been", "has", "when", "who", "will", "more", "no", "if", "out", "so", "said", "what", "up", "its", "about", "into", "than", "them", "can", "only", "other", "new", "some", "could", "time", "these", "two", "may", "then", "do", "first", "any", "my", "now", "such", "like", "our"]


class SizeRange(ElementConfig):
    min: int = Field(ge=MIN_FRAME, le=MAX_FRAME, description="smallest frame, bytes")
    max: int = Field(ge=MIN_FRAME, le=MAX_FRAME, description="largest frame, bytes")

    @model_validator(mode="after")
    def _ordered(self) -> SizeRange:
        if self.min > self.max:
            raise ValueError(f"min {self.min} > max {self.max}")
        return self


class ProtocolMix(ElementConfig):
    tcp: float = Field(default=0.897, ge=0, description="share of TCP flows")
    udp: float = Field(default=0.103, ge=0, description="share of UDP flows")
    icmp: float = Field(default=0.0, ge=0, description="share of ICMP echo flows")

    @model_validator(mode="after")
    def _some(self) -> ProtocolMix:
        if self.tcp + self.udp + self.icmp <= 0:
            raise ValueError("at least one protocol needs a share > 0")
        return self


class TrafficGenConfig(ElementConfig):
    count: int = Field(default=100_000, ge=0, description="packets to generate")
    flows: int = Field(default=10_000, ge=1, le=1 << 24, description="distinct 5-tuples")
    seed: int = Field(default=1, ge=0, description="the same seed gives the same packets")
    sizes: Literal["trace"] | SizeRange = Field(
        default="trace", description="frame sizes: the shared trace's mix, or uniform {min, max}")
    protocols: ProtocolMix = Field(default_factory=ProtocolMix, description="flow shares")
    payload: Literal["random", "text", "zeros"] = Field(default="random")
    tcp_ports: list[int] = Field(default=list(TRACE_TCP_PORTS), min_length=1,
                                 description="TCP destination ports")
    udp_ports: list[int] = Field(default=list(TRACE_UDP_PORTS), min_length=1,
                                 description="UDP destination ports")
    random_port_share: float = Field(default=0.2, ge=0, le=1,
                                     description="flows whose destination port is a random high port")
    interval_ns: int = Field(default=1000, ge=0, description="time between packets")
    start_ns: int = Field(default=TRACE_START_NS, ge=0, description="first timestamp")

    @model_validator(mode="after")
    def _ports(self) -> TrafficGenConfig:
        for p in self.tcp_ports + self.udp_ports:
            if not 0 <= p <= 65535:
                raise ValueError(f"port {p} is not 0-65535")
        return self


@inlined
def _hash(x):
    """splitmix64's finaliser: a bijective 64-bit mix (one random draw per input)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@inlined
def _pick(cum, r):
    """Index of the bucket of cumulative shares ``cum`` that ``r`` (0..1) falls in."""
    j = 0
    while j < cum.shape[0] - 1 and r >= cum[j]:
        j += 1
    return j


@njit(cache=True)
def gen_fill(data, length, timestamp, n, first, key, start_ns, interval_ns, visit, saddr,
             daddr, sport, dport, proto, size_cum, size_lo, size_hi, flag_cum, flags, pool,
             prefix, template):
    """Stamp packets ``first..first+n-1`` into rows 0..n-1 of the batch arrays (not
    the batch: each array argument costs a little per call). Packet ``k < flows`` is
    flow ``(k * visit[0] + visit[1]) % flows`` (a permutation: every flow appears);
    later packets pick a flow at random."""
    unit = 1.0 / 9007199254740992.0  # 2**-53
    nflows = saddr.shape[0]
    for i in range(n):
        k = np.uint64(first + i)
        base = key + k * np.uint64(8)
        if k < np.uint64(nflows):
            f = (k * np.uint64(visit[0]) + np.uint64(visit[1])) % np.uint64(nflows)
        else:
            f = _hash(base) % np.uint64(nflows)
        pr = proto[f]
        bucket = _pick(size_cum, (_hash(base + np.uint64(1)) >> np.uint64(11)) * unit)
        span = np.uint64(size_hi[bucket] - size_lo[bucket] + 1)
        size = size_lo[bucket] + np.int64(_hash(base + np.uint64(2)) % span)
        r3 = _hash(base + np.uint64(3))
        r4 = _hash(base + np.uint64(4))
        h = HEADROOM
        row = data[i]
        copy_bytes(row, h, template, 0, ETHER_HLEN)
        ip = h + ETHER_HLEN
        l4 = ip + 20
        end = h + size
        # IPv4 header: no options, TTL 64, DF clear, random id.
        row[ip] = 0x45
        row[ip + 1] = 0
        wr16(row, ip + 2, size - ETHER_HLEN)
        wr16(row, ip + 4, np.uint32(r3 & np.uint64(0xFFFF)))
        wr16(row, ip + 6, 0)
        row[ip + 8] = 64
        row[ip + 9] = pr
        wr16(row, ip + 10, 0)
        wr32(row, ip + 12, saddr[f])
        wr32(row, ip + 16, daddr[f])
        wr16(row, ip + 10, fold(sum16(row, ip, 20)))
        if pr == IP_PROTO_TCP:
            hl = 20
            fl = flags[_pick(flag_cum, (r4 >> np.uint64(11)) * unit)]
            wr16(row, l4, sport[f])
            wr16(row, l4 + 2, dport[f])
            wr32(row, l4 + 4, np.uint32(r3 >> np.uint64(32)))
            wr32(row, l4 + 8, 0 if fl == 0x02 else 2000)
            row[l4 + 12] = 0x50
            row[l4 + 13] = fl
            wr16(row, l4 + 14, 0xFFFF)
            wr32(row, l4 + 16, 0)  # checksum and urgent pointer
        else:
            hl = 8
            if pr == IP_PROTO_UDP:
                wr16(row, l4, sport[f])
                wr16(row, l4 + 2, dport[f])
                wr16(row, l4 + 4, end - l4)
                wr16(row, l4 + 6, 0)
            else:  # ICMP echo request: id = the flow's sport, sequence from k
                row[l4] = 8
                row[l4 + 1] = 0
                wr16(row, l4 + 2, 0)
                wr16(row, l4 + 4, sport[f])
                wr16(row, l4 + 6, np.uint32(k & np.uint64(0xFFFF)))
        plen = end - l4 - hl
        off = np.int64((r4 & np.uint64(POOL // 2 - 1)) * np.uint64(2))
        copy_bytes(row, l4 + hl, pool, off, plen)
        s = prefix[(off + plen) // 2] - prefix[off // 2]
        if plen & 1:
            s += np.uint64(pool[off + plen - 1]) << np.uint64(8)
        s += sum16(row, l4, hl)
        if pr != IP_PROTO_ICMP:
            seg = end - l4
            s += (np.uint64(saddr[f] >> 16) + np.uint64(saddr[f] & 0xFFFF)
                  + np.uint64(daddr[f] >> 16) + np.uint64(daddr[f] & 0xFFFF)
                  + np.uint64(pr) + np.uint64(seg))
        c = fold(s)
        if pr == IP_PROTO_TCP:
            wr16(row, l4 + 16, c)
        elif pr == IP_PROTO_UDP:
            wr16(row, l4 + 6, c if c != 0 else 0xFFFF)
        else:
            wr16(row, l4 + 2, c)
        length[i] = size
        timestamp[i] = start_ns + np.int64(k) * interval_ns


_gen_fill_fast = Fast(gen_fill)


class TrafficGen(Element):
    """Generate ``count`` seeded Ethernet/IPv4 packets of ``flows`` distinct flows.

    By default the traffic has the shared trace's distribution (README of
    traffic_100k.pcap): 10,000 flows, 89.7% TCP / 10.3% UDP, TCP flags mostly A/PA
    with some S/SA/FA/R, frames 64-600 B (44% 64-80, 19% 81-300, 36% 301-600, mean 232),
    sources in 10.0.0.0/16, destinations 192.168.1.1-254, source ports 1024-65535,
    well-known destination ports with 20% random high ports, one packet per µs.
    Every flow appears once in the first ``flows`` packets (in a scrambled order),
    then packets pick a flow uniformly. Every IP, TCP, UDP and ICMP checksum is
    valid. The same seed gives the same packets whatever the batch size.

    Ports: ``0/1``.

    Example::

        elements:
          gen: {kind: TrafficGen, config: {count: 1000, flows: 100, seed: 7,
                sizes: {min: 64, max: 128}, payload: text}}
          sink: {kind: Discard}
        connections:
          - gen -> sink

    Counters: ``count`` (packets generated). See also: FromPcap.
    """

    ports = "0/1"
    Config = TrafficGenConfig
    writes = ("head", "length", "timestamp")
    source = True
    _tables = None  # built on first use from the config

    def tables(self) -> tuple:
        """The flows, the size and flag distributions and the payload pool."""
        if self._tables is not None:
            return self._tables
        c = self.config
        rng = np.random.default_rng(c.seed)
        nf = c.flows
        shares = np.array([c.protocols.tcp, c.protocols.udp, c.protocols.icmp])
        proto = np.array([IP_PROTO_TCP, IP_PROTO_UDP, IP_PROTO_ICMP], np.uint8)[
            rng.choice(3, size=nf, p=shares / shares.sum())]
        saddr = (0x0A000000 | rng.integers(0, 1 << 16, nf)).astype(np.uint32)
        daddr = (0xC0A80100 | rng.integers(1, 255, nf)).astype(np.uint32)
        sport = rng.integers(1024, 65536, nf).astype(np.uint16)
        known = np.where(proto == IP_PROTO_TCP,
                         rng.choice(np.array(c.tcp_ports), nf),
                         rng.choice(np.array(c.udp_ports), nf))
        high = rng.random(nf) < c.random_port_share
        dport = np.where(high, rng.integers(1024, 65536, nf), known)
        dport = np.where(proto == IP_PROTO_ICMP, 0, dport).astype(np.uint16)
        while True:  # distinct 5-tuples: draw the source port again for repeats
            tuples = np.stack([saddr, daddr, sport, dport, proto]).T.astype(np.int64)
            _, first = np.unique(tuples, axis=0, return_index=True)
            again = np.setdiff1d(np.arange(nf), first)
            if again.size == 0:
                break
            sport[again] = rng.integers(1024, 65536, again.size)
        stride = int(rng.integers(1, nf + 1))
        while math.gcd(stride, nf) != 1:
            stride += 1
        visit = np.array([stride, rng.integers(0, nf)], np.int64)
        if c.sizes == "trace":
            share, lo, hi = (np.array(x) for x in zip(*TRACE_SIZES))
        else:
            share, lo, hi = np.ones(1), np.array([c.sizes.min]), np.array([c.sizes.max])
        pool = self._pool(rng)
        words = pool.view(">u2").astype(np.uint64)
        prefix = np.concatenate([[0], np.cumsum(words)]).astype(np.uint64)
        template = np.frombuffer(MAC_DST + MAC_SRC + b"\x08\x00", np.uint8).copy()
        self._tables = (
            visit, saddr, daddr, sport, dport, proto,
            np.cumsum(share / share.sum()), lo.astype(np.int64), hi.astype(np.int64),
            np.cumsum(TCP_FLAG_SHARES) / sum(TCP_FLAG_SHARES), TCP_FLAGS, pool, prefix, template,
        )
        return self._tables

    def _pool(self, rng: np.random.Generator) -> np.ndarray:
        size = POOL + MAX_FRAME
        kind = self.config.payload
        if kind == "zeros":
            return np.zeros(size, np.uint8)
        if kind == "random":
            return rng.integers(0, 256, size, dtype=np.uint8)
        text = " ".join(rng.choice(_WORDS, size // 3)).encode()
        return np.frombuffer(text[:size], np.uint8).copy()

    @property
    def total(self) -> int:
        return self.config.count

    @property
    def delivered(self) -> int:
        return getattr(self, "_next", 0)

    def fill(self, b, n: int) -> int:
        c = self.config
        first = self.delivered
        n = min(n, c.count - first, b.head.shape[0])
        if n <= 0:
            reset_annotations(b, 0)
            return 0
        reset_annotations(b, n)
        key = np.uint64((c.seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        _gen_fill_fast(b.data, b.length, b.timestamp, n, first, key, c.start_ns,
                       c.interval_ns, *self.tables())
        self._next = first + n
        return n

    def counters(self, state=None) -> dict[str, int]:
        return {"count": self.delivered}

    def close(self, state=None) -> None:
        self._tables = None
