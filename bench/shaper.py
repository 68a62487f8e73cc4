"""Shaper accuracy (configured vs measured rate) and throughput of the pull side.

    python -m bench.shaper [--packets N] [--runs R] [--out FILE.json]

Accuracy: a synthetic trace (frames of 64, 576 and 1500 bytes in turn) offered at
twice the configured rate into Queue -> BandwidthShaper -> out (and Queue ->
RatedUnqueue -> out for packet rates); the measured rate is the bytes (packets) of all
but the last departure over the span of the departure timestamps. Throughput: wall
time of ``msh.runtime.run`` (the walk, the releases, the walk of released packets),
after a warm-up run that compiles, over the same kind of trace: a shaper that keeps
up (every packet is queued and released), one that is overloaded 2x (half are dropped
at the queue), the TokenBucketPolicer alone, and graphs/shaper.yaml (classify, three
queues, two schedulers, two shapers). Every run is checked (all packets accounted
for, nothing left in a queue) before it is timed. Prints a table; writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from bench.harness import versions
from elements.batch import HEADROOM, reset_annotations
from elements.element import lookup
from msh import graph as G
from msh.runtime import Program, run
from msh.yamlgraph import load

ROOT = Path(__file__).resolve().parents[1]
BATCH = 256
S = 1_000_000_000


def frames() -> list[bytes]:
    """Three Ethernet/IPv4 frames of 64, 576 and 1500 bytes (voice, ssh, bulk for
    graphs/shaper.yaml's classifier); 256 rows hold them in turn."""
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    ip = IP(src="10.0.0.1", dst="10.0.0.2")
    out = [eth / ip / UDP(sport=5060, dport=5060), eth / ip / TCP(sport=5555, dport=22),
           eth / ip / TCP(sport=6666, dport=80)]
    return [bytes(f) + bytes(size - len(f)) for f, size in zip(out, (64, 576, 1500))]


class Trace:
    """``packets`` frames at fixed spacing, fed a batch at a time. Row i of a batch
    always holds frame i % 3, so the bytes are written into the batch once; each fill
    only sets lengths, timestamps and fresh annotations, and feeding costs little next
    to what is measured."""

    def __init__(self, packets: int, gap_ns: float):
        self.frames = frames()
        self.packets = packets
        self.total = packets
        self.timestamps = (np.arange(packets) * gap_ns).astype(np.int64)
        self.lengths = np.array([len(self.frames[i % 3]) for i in range(BATCH)], np.int32)
        self.done = 0
        self.written = None

    def fill(self, b, n: int) -> int:
        n = min(n, self.packets - self.done)
        if n <= 0:
            return 0
        if self.written is not b:
            for i in range(len(b.head)):
                f = self.frames[i % 3]
                b.data[i, HEADROOM : HEADROOM + len(f)] = np.frombuffer(f, np.uint8)
            self.written = b
        reset_annotations(b, n)
        b.length[:n] = self.lengths[:n]
        b.timestamp[:n] = self.timestamps[self.done : self.done + n]
        self.done += n
        return n


MEAN = (64 + 576 + 1500) / 3


def chain(kind: str, config: dict, capacity: int = 1000, outputs: int = 1):
    """in -> Queue -> kind -> out (or in -> kind -> out for a push element); output k of
    the element is graph output k."""
    g = G.new_graph(kind)
    cls = lookup(kind)
    G.add_element(g, cls("x", cls.Config(**config)))
    if getattr(cls, "pull_role", None):
        q = lookup("Queue")
        G.add_element(g, q("q", q.Config(capacity=capacity)))
        G.connect(g, G.IN, 0, "q", 0)
        G.connect(g, "q", 0, "x", 0)
    else:
        G.connect(g, G.IN, 0, "x", 0)
    for k in range(outputs):
        G.connect(g, "x", k, G.OUT, k)
    return g


def departures(g, trace: Trace) -> tuple[list[tuple[int, int]], object]:
    out: list[tuple[int, int]] = []

    def seen(b):
        n = int(b.meta[0])
        keep = b.port[:n] == 0
        out.extend(zip(b.timestamp[:n][keep].tolist(), b.length[:n][keep].tolist()))

    return out, run(Program(g, BATCH), feed=trace, on_batch=seen)


def accuracy(packets: int) -> list[dict]:
    rows = []
    for rate in (125_000, 1_250_000, 12_500_000, 125_000_000, 1_250_000_000):
        trace = Trace(packets, MEAN * S / (2 * rate))
        out, c = departures(chain("BandwidthShaper", {"rate": rate}, capacity=packets), trace)
        assert len(out) == packets and c.entered == packets
        span = out[-1][0] - out[0][0]
        measured = sum(length for _, length in out[:-1]) * S / span
        rows.append({"element": "BandwidthShaper", "configured": rate, "unit": "B/s",
                     "measured": measured, "error_pct": 100 * (measured / rate - 1)})
    for rate in (1_000, 10_000, 100_000, 1_000_000):
        trace = Trace(packets, S / (2 * rate))
        out, c = departures(chain("RatedUnqueue", {"rate": rate, "burst_size": 10},
                                  capacity=packets), trace)
        assert len(out) == packets
        steady = out[packets // 4 :]  # past the burst the bucket starts with
        measured = (len(steady) - 1) * S / (steady[-1][0] - steady[0][0])
        rows.append({"element": "RatedUnqueue", "configured": rate, "unit": "packets/s",
                     "measured": measured, "error_pct": 100 * (measured / rate - 1)})
    return rows


def timed(name: str, make_graph, packets: int, gap_ns: float, runs: int, check) -> dict:
    """Median wall time of ``run`` over fresh programs (built outside the clock)."""
    times = []
    for k in range(runs + 1):
        program = Program(make_graph(), BATCH)
        trace = Trace(packets, gap_ns)
        t0 = time.perf_counter()
        c = run(program, feed=trace)
        dt = time.perf_counter() - t0
        check(c)
        if k:  # the first run compiles
            times.append(dt)
    med = statistics.median(times)
    return {"name": name, "packets": packets, "runs": runs, "median_s": med,
            "ns_per_packet": med * 1e9 / packets, "mpps": packets / med / 1e6,
            "spread_s": [min(times), max(times)]}


def throughput(packets: int, runs: int) -> list[dict]:
    def all_out(c):
        assert c.entered == packets and int(c.exits.sum()) == packets

    def accounted(c):
        assert c.entered == packets == int(c.exits.sum()) + c.total_dropped()

    rate = 1_250_000_000  # 10 Gbit/s of trace time
    return [
        timed("Queue -> out (no shaping)", lambda: chain("Unqueue", {}), packets,
              MEAN * S / rate, runs, all_out),
        timed("Queue -> BandwidthShaper, keeps up (0.8x)",
              lambda: chain("BandwidthShaper", {"rate": rate}), packets,
              MEAN * S / (0.8 * rate), runs, all_out),
        timed("Queue -> BandwidthShaper, overloaded (2x)",
              lambda: chain("BandwidthShaper", {"rate": rate}), packets,
              MEAN * S / (2 * rate), runs, accounted),
        timed("Queue -> RatedUnqueue, keeps up (0.8x)",
              lambda: chain("RatedUnqueue", {"rate": 10**9}), packets, S / (0.8 * 10**9),
              runs, all_out),
        timed("TokenBucketPolicer (split), 2x", lambda: chain(
            "TokenBucketPolicer", {"rate": rate, "burst": 3000, "action": "split"}, outputs=2),
            packets, MEAN * S / (2 * rate), runs, all_out),
        timed("graphs/shaper.yaml, keeps up (0.8x)", lambda: load(
            ROOT / "graphs/shaper.yaml", params={"rate": rate, "voice_rate": rate}),
            packets, MEAN * S / (0.8 * rate), runs, accounted),
    ]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=200_000, help="per throughput run")
    ap.add_argument("--accuracy-packets", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", help="write the JSON result here too")
    args = ap.parse_args(argv)
    result = {"benchmark": "shaper", "batch": BATCH, "versions": versions(),
              "accuracy": accuracy(args.accuracy_packets),
              "throughput": throughput(args.packets, args.runs)}
    print(f"{'element':<18}{'configured':>16}{'measured':>18}{'error':>10}")
    for r in result["accuracy"]:
        print(f"{r['element']:<18}{r['configured']:>12} {r['unit']:<4}"
              f"{r['measured']:>17.1f} {r['error_pct']:>+9.4f}%")
    print()
    print(f"{'graph':<44}{'ns/packet':>10}{'Mpps':>8}")
    for r in result["throughput"]:
        print(f"{r['name']:<44}{r['ns_per_packet']:>10.0f}{r['mpps']:>8.2f}")
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    return result


if __name__ == "__main__":
    main()
