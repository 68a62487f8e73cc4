"""Test kit for queues, schedulers and shapers: timed feeds, graphs built in code, the
packets that leave, and a plain-Python event simulation of queues -> scheduler ->
link (the oracle for msh.schedule).

    feed = Feed([(t_ns, frame, {"paint": 1}), ...])     # frames with timestamps
    g = graph({"q": ("Queue", {}), "bw": ("BandwidthShaper", {"rate": 1000})},
              ["in -> q", "q -> bw", "bw -> out"])
    counters, out = run_graph(g, feed, batch_size=32)   # out: Departure per packet
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

from elements.batch import load_frames
from elements.element import lookup
from msh import graph as G
from msh.runtime import Program, run


class Feed:
    """Frames with timestamps (ns) and optional annotations, fed to a graph's ``in``."""

    def __init__(self, items):
        self.items = list(items)

    def fill(self, b, n):
        take, self.items = self.items[:n], self.items[n:]
        if not take:
            return 0
        load_frames(b, [bytes(f) for _, f, *_ in take], [t for t, *_ in take])
        for i, (_, _, *ann) in enumerate(take):
            for key, value in (ann[0] if ann else {}).items():
                getattr(b, key)[i] = value
        return len(take)


def graph(elements: dict, connections: list[str]):
    """A graph from ``{name: (kind, config)}`` and ``"a[1] -> [2]b"`` lines (one arrow each)."""
    g = G.new_graph("test")
    for name, (kind, config) in elements.items():
        cls = lookup(kind)
        G.add_element(g, cls(name, cls.Config(**config)))
    for line in connections:
        src, dst = (part.strip() for part in line.split("->"))
        sport = int(src[src.index("[") + 1 : -1]) if src.endswith("]") else 0
        dport = int(dst[1 : dst.index("]")]) if dst.startswith("[") else 0
        G.connect(g, src.split("[")[0], sport, dst.split("]")[-1], dport)
    return g


@dataclass
class Departure:
    port: int  # graph output
    t: int  # timestamp when it left
    length: int
    paint: int
    frame: bytes


def run_graph(g, feed: Feed, batch_size: int = 64):
    """Run ``g`` over ``feed``; return the counters and every packet that left, in order."""
    out: list[Departure] = []

    def seen(b):
        for i in range(int(b.meta[0])):
            if b.port[i] >= 0:
                h = int(b.head[i])
                out.append(Departure(int(b.port[i]), int(b.timestamp[i]), int(b.length[i]),
                                     int(b.paint[i]), bytes(b.data[i, h : h + b.length[i]])))

    counters = run(Program(g, batch_size=batch_size), feed=feed, on_batch=seen)
    return counters, out


def measured_rate(out: list[Departure], unit: str = "bytes") -> float:
    """Units per second over the departure times: what the first n-1 packets carried
    over the time from the first departure to the last (the last packet's own
    transmission time is outside that span)."""
    span = out[-1].t - out[0].t
    carried = sum(d.length for d in out[:-1]) if unit == "bytes" else len(out) - 1
    return carried * 1e9 / span


def simulate(arrivals, n_queues: int, policy: str, rate: int, capacity: int):
    """Queues -> PrioSched or RoundRobinSched -> BandwidthShaper(rate), by events.

    ``arrivals``: ``(t, queue, length, id)`` sorted by t. A packet that arrives at the
    time of a departure is queued first. Returns ``(departures, dropped)`` with
    departures ``(t, id)``. The link model, exact: a packet of L bytes keeps the link
    busy for L/rate s after the previous one is through (``free``) or, after an idle
    time, after it leaves; it leaves at the first whole ns when it is there and the
    link is free. What rounding up to whole ns adds is taken back from the next
    packet, up to one ns.
    """
    queues = [deque() for _ in range(n_queues)]
    free = None
    k = 0
    rr = 0
    departures, dropped = [], []
    while True:
        heads = [q[0][0] for q in queues if q]
        t = max(min(heads), math.ceil(free) if free is not None else min(heads)) \
            if heads else None
        if k < len(arrivals) and (t is None or arrivals[k][0] <= t):
            at, qi, length, ident = arrivals[k]
            k += 1
            if len(queues[qi]) >= capacity:
                dropped.append(ident)
            else:
                queues[qi].append((at, length, ident))
            continue
        if t is None:
            return departures, dropped
        ready = [i for i in range(n_queues) if queues[i] and queues[i][0][0] <= t]
        if policy == "prio":
            qi = ready[0]
        else:
            qi = next((rr + a) % n_queues for a in range(n_queues)
                      if (rr + a) % n_queues in ready)
            rr = qi + 1
        _, length, ident = queues[qi].popleft()
        departures.append((t, ident))
        start = t - Fraction(rate - 1, rate)
        free = (start if free is None else max(free, start)) + Fraction(length * 10**9, rate)
