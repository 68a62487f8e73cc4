"""Microbenchmarks: reading, one element, or a whole YAML graph, over a replayed trace.

Every benchmark builds a fresh graph per run, runs it once untimed to compile (that
time is reported apart as ``compile_s``) and to validate what it did (counts), then
times ``--runs`` runs of ``--packets`` packets and reports the median, min/max and
quartiles as Mpps and ns/packet. ``--batch`` takes a list (``32,64,...``) to sweep.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Self

import networkx as nx

from elements.batch import make_batch
from elements.element import lookup
from elements.io.pcapfile import PcapFeed
from msh import graph as G
from msh.runtime import DEFAULT_BATCH, Counters, Program, run

ROOT = Path(__file__).resolve().parents[1]
SHARED_TRACE = ROOT.parent / "shared" / "data" / "traffic_100k.pcap"
SWEEP = "32,64,128,256,512,1024,2048"


class BenchError(RuntimeError):
    """A benchmark whose output is not what it should be: its timings mean nothing."""


@dataclass
class Result:
    """One benchmark at one batch size."""

    name: str
    batch: int
    packets: int
    runs: list[float]  # seconds per run on the chosen clock
    compile_s: float
    clock: str = "wall"
    other_clock: list[float] = field(default_factory=list)  # the same runs, other clock
    baseline_ns: float | None = None  # reading alone at this batch size (element runs)

    @property
    def summary(self) -> dict:
        s = sorted(self.runs)
        q = statistics.quantiles(s, n=4) if len(s) > 1 else [s[0]] * 3
        med = statistics.median(s)
        return {
            "median_s": med, "min_s": s[0], "max_s": s[-1], "q1_s": q[0], "q3_s": q[2],
            "mpps": self.packets / med / 1e6, "mpps_best": self.packets / s[0] / 1e6,
            "ns_per_packet": med / self.packets * 1e9,
            "ns_per_packet_best": s[0] / self.packets * 1e9,
        }

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(self.summary)
        return d

    def line(self) -> str:
        m = self.summary
        over = ("" if self.baseline_ns is None
                else f"  = read + {m['ns_per_packet'] - self.baseline_ns:.1f}")
        return (f"{self.name:<24} {self.clock:>4} batch {self.batch:>5}  {m['mpps']:7.2f} Mpps"
                f"  {m['ns_per_packet']:7.1f} ns/pkt{over}  (best {m['ns_per_packet_best']:.1f},"
                f" worst {m['max_s'] / self.packets * 1e9:.1f}; compile {self.compile_s:.2f} s)")


def versions() -> dict:
    import numba
    import numpy

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                check=False, capture_output=True, text=True,
                                timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"python": platform.python_version(), "numba": numba.__version__,
            "numpy": numpy.__version__, "cpu": cpu, "cpus": os.cpu_count(),
            "platform": platform.platform(), "commit": commit}


def resident_trace(path: str | None) -> str:
    """The trace to time, copied to /dev/shm first (on /tmp parts of a large file may
    not be resident)."""
    src = Path(path) if path else SHARED_TRACE
    if not src.exists():
        raise SystemExit(f"bench: no trace at {src} (give --pcap)")
    shm = Path("/dev/shm")
    if not shm.is_dir() or str(src).startswith("/dev/shm/"):
        return str(src)
    dst = shm / f"msh-bench-{src.name}"
    if not dst.exists() or dst.stat().st_size != src.stat().st_size:
        tmp = dst.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    return str(dst)


def element(kind: str, name: str, config: dict | None = None):
    cls = lookup(kind)
    return cls(name, cls.Config(**(config or {})))


def source(pcap: str | None, packets: int):
    """The source element, ready to play exactly ``packets`` packets: a FromPcap that
    replays ``pcap`` (already read and indexed), or with ``pcap`` None a TrafficGen
    with the shared trace's distribution (its tables already built)."""
    if pcap is None:
        src = element("TrafficGen", "src", {"count": packets})
        src.tables()
        return src
    records = PcapFeed(pcap).records
    if records == 0:
        raise BenchError(f"{pcap} has no packets")
    src = element("FromPcap", "src", {"file": pcap, "repeat": math.ceil(packets / records),
                                      "limit": packets})
    src.feed  # noqa: B018 - read and index the file outside the timed region
    return src


class Clock:
    """Wall and CPU time of one timed region. ``--clock cpu`` counts only the time
    this process ran: on a shared machine it is the steadier figure."""

    def __enter__(self) -> Self:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def measure(name: str, batch: int, packets: int, runs: int, once: Callable[[], Clock],
            clock: str = "wall", bar=None) -> Result:
    """Call ``once`` (which builds, runs, checks and returns the ``Clock`` of its timed
    part) once to warm up, then ``runs`` times. The warm-up's excess over the median
    is the JIT compile (or cache load) time."""
    other = "cpu" if clock == "wall" else "wall"
    first = getattr(once(), clock)
    clocks = []
    for _ in range(runs):
        clocks.append(once())
        if bar is not None:
            bar.update(1)
    times = [getattr(c, clock) for c in clocks]
    return Result(name, batch, packets, times, max(first - statistics.median(times), 0.0),
                  clock, [getattr(c, other) for c in clocks])


def run_timed(name: str, batch: int, packets: int, runs: int,
              build: Callable[[], tuple[nx.MultiDiGraph, object]],
              check: Callable[[Counters], None], clock: str = "wall", bar=None) -> Result:
    """Time ``run`` on a fresh graph from ``build`` (graph construction, the walk's
    code generation and opening the trace are not timed); ``check`` its counters."""
    def once() -> Clock:
        g, feed = build()
        program = Program(g, batch)
        with Clock() as c:
            counters = run(program, feed=feed)
        check(counters)
        return c

    return measure(name, batch, packets, runs, once, clock, bar)


def expect_entered(packets: int) -> Callable[[Counters], None]:
    def check(c: Counters) -> None:
        if c.entered != packets:
            raise BenchError(f"{c.entered} packets entered, {packets} expected")
    return check


# ---- the benchmarks ---------------------------------------------------------------------

def bench_feed(pcap: str | None, packets: int, batch: int, runs: int, clock: str = "wall",
               bar=None) -> Result:
    """The source alone (the pcap feed or the generator): fill batches, no walk."""
    b = make_batch(batch)

    def once() -> Clock:
        feed = source(pcap, packets)
        n = 0
        with Clock() as c:
            while k := feed.fill(b, batch):
                n += k
        if n != packets:
            raise BenchError(f"the feed gave {n} packets, {packets} expected")
        return c

    name = "read/feed" if pcap else "read/TrafficGen.fill"
    return measure(name, batch, packets, runs, once, clock, bar)


def build_read(pcap: str | None, packets: int):
    def build():
        g = G.new_graph("read")
        G.add_element(g, source(pcap, packets))
        G.add_element(g, element("Discard", "sink"))
        G.connect(g, "src", 0, "sink", 0)
        return g, None
    return build


def bench_read(pcap: str | None, packets: int, batch: int, runs: int, clock: str = "wall",
               bar=None) -> Result:
    """FromPcap (or TrafficGen) -> Discard through the runtime: reading plus an empty
    walk."""
    def check(c: Counters) -> None:
        expect_entered(packets)(c)
        if c.element("sink")["drops"].get("discarded") != packets:
            raise BenchError(f"Discard saw {c.element('sink')}, not {packets} packets")
    name = "read/FromPcap->Discard" if pcap else "read/TrafficGen->Discard"
    return run_timed(name, batch, packets, runs,
                     build_read(pcap, packets), check, clock, bar)


def build_element(pcap: str | None, packets: int, kind: str, config: dict | None,
                  pre: list[tuple[str, dict]]):
    spec = lookup(kind).port_spec()
    outputs = max(spec.outputs.low, 1) if spec.outputs.high > 0 else 0

    def build():
        g = G.new_graph(f"element-{kind}")
        G.add_element(g, source(pcap, packets))
        chain = ["src"]
        for k, (pkind, pconfig) in enumerate(pre):
            G.add_element(g, element(pkind, f"pre{k}", pconfig))
            chain.append(f"pre{k}")
        G.add_element(g, element(kind, "el", config))
        chain.append("el")
        for a, b in pairwise(chain):
            G.connect(g, a, 0, b, 0)
        for port in range(outputs):
            G.add_element(g, element("Discard", f"sink{port}"))
            G.connect(g, "el", port, f"sink{port}", 0)
        return g, None
    return build


def bench_element(pcap: str | None, packets: int, batch: int, runs: int, kind: str,
                  config: dict | None, pre: list[tuple[str, dict]], clock: str = "wall",
                  bar=None) -> Result:
    """FromPcap -> [pre...] -> KIND -> Discard on each output."""
    return run_timed(f"element/{kind}", batch, packets, runs,
                     build_element(pcap, packets, kind, config, pre),
                     expect_entered(packets), clock, bar)


def load_yaml_graph(path: str, params: list[str]):
    from msh import yamlgraph

    loader = getattr(yamlgraph, "load_graph", None) or yamlgraph.load
    return loader(path, params or None)


def bench_graph(pcap: str | None, packets: int, batch: int, runs: int, path: str,
                params: list[str], clock: str = "wall", bar=None) -> Result:
    """A YAML graph: its own source if it has one, else the trace fed to ``in``."""
    def build():
        g = load_yaml_graph(path, params)
        sources = [el for _, el in G.elements(g) if el.source]
        if sources:
            for el in sources:
                getattr(el, "feed", None)  # open a pcap source outside the clock
            return g, None
        if G.IN not in g:
            raise BenchError(f"{path}: no source element and no 'in' to feed")
        return g, source(pcap, packets)

    probe, feed = build()
    entered = packets if feed is not None else None
    if entered is None:
        src = next(el for _, el in G.elements(probe) if el.source)
        entered = getattr(src, "total", None)

    def check(c: Counters) -> None:
        if entered is not None and c.entered != entered:
            raise BenchError(f"{c.entered} packets entered, {entered} expected")
    return run_timed(f"graph/{Path(path).stem}", batch, entered or packets, runs, build,
                     check, clock, bar)


def with_baseline(res: Result, read: Result) -> Result:
    """``res`` with the reading-alone cost at its batch size, to show the element's own."""
    res.baseline_ns = read.summary["ns_per_packet"]
    return res


# ---- command line -----------------------------------------------------------------------

def parse_pre(items: list[str]) -> list[tuple[str, dict]]:
    out = []
    for item in items:
        kind, _, conf = item.partition(":")
        out.append((kind, json.loads(conf) if conf else {}))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--pcap", help=f"trace to replay (default {SHARED_TRACE}, copied to /dev/shm)")
    p.add_argument("--gen", action="store_true",
                   help="packets from TrafficGen (the trace's distribution) instead of a pcap")
    p.add_argument("--packets", type=int, default=1_000_000, help="packets per run (replayed)")
    p.add_argument("--batch", default=str(DEFAULT_BATCH),
                   help=f"batch size, or a comma list to sweep (e.g. {SWEEP})")
    p.add_argument("--runs", type=int, default=5, help="timed runs per point")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="time to report (both are recorded): cpu = this process's CPU time")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("read", help="reading only: the feed alone and FromPcap -> Discard")
    r.add_argument("--mode", choices=["both", "feed", "graph"], default="both")
    e = sub.add_parser("element", help="FromPcap -> [--pre ...] -> KIND -> Discard")
    e.add_argument("kind")
    e.add_argument("--config", default="{}", help="the element's config as JSON")
    e.add_argument("--pre", action="append", default=[],
                   help='an element before it, KIND or KIND:{"json": "config"} (repeatable)')
    gr = sub.add_parser("graph", help="a YAML graph (msh.yamlgraph)")
    gr.add_argument("path")
    gr.add_argument("-p", "--param", action="append", default=[], help="NAME=VALUE")
    a = p.parse_args(argv)

    batches = [int(x) for x in str(a.batch).split(",") if x.strip()]
    if any(b < 1 for b in batches) or a.packets < 1 or a.runs < 1:
        p.error("--batch, --packets and --runs must be >= 1")
    pcap = None if a.gen else resident_trace(a.pcap)
    jobs: list[Callable] = []
    for batch in batches:
        if a.cmd == "read":
            if a.mode in ("both", "feed"):
                jobs.append(lambda bar, bs=batch: bench_feed(pcap, a.packets, bs, a.runs, a.clock, bar))
            if a.mode in ("both", "graph"):
                jobs.append(lambda bar, bs=batch: bench_read(pcap, a.packets, bs, a.runs, a.clock, bar))
        elif a.cmd == "element":
            config, pre = json.loads(a.config), parse_pre(a.pre)
            jobs.append(lambda bar, bs=batch, c=config, pr=pre: with_baseline(
                bench_element(pcap, a.packets, bs, a.runs, a.kind, c, pr, a.clock, bar),
                bench_read(pcap, a.packets, bs, a.runs, a.clock)))
        else:
            jobs.append(lambda bar, bs=batch: bench_graph(pcap, a.packets, bs, a.runs, a.path,
                                                          a.param, a.clock, bar))
    bar = None
    if not a.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(jobs) * a.runs, unit="run", leave=False)
    results = []
    try:
        for job in jobs:
            res = job(bar)
            results.append(res)
            (bar.write if bar is not None else print)(res.line())
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
    if len(batches) > 1:
        by_name: dict[str, Result] = {}
        for res in results:
            if res.name not in by_name or res.summary["median_s"] < by_name[res.name].summary["median_s"]:
                by_name[res.name] = res
        for name, res in by_name.items():
            print(f"best batch for {name}: {res.batch} ({res.summary['mpps']:.2f} Mpps)")
    if a.json:
        doc = {"command": a.cmd, "argv": sys.argv[1:] if argv is None else argv, "pcap": pcap,
               "packets": a.packets, "runs": a.runs, "versions": versions(),
               "results": [res.to_dict() for res in results]}
        Path(a.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0
