"""What the end-to-end middlebox benchmarks (``bench/nat.py``, ``bench/lb.py``) share:
their first options, the front of their graphs, timing one case, and the JSON
document they write.

Each benchmark names its cases, builds each graph on ``wire_graph`` (the baseline) or
``checked_graph`` (the IP front every middlebox graph starts with), times it with
``time_case`` and ends with ``write_doc``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import networkx as nx

from bench.harness import SHARED_TRACE, element, run_timed, versions
from elements.batch import HEADROOM, make_batch
from elements.io.pcapfile import PcapFeed
from elements.net import mark_ip
from msh import graph as G
from msh.runtime import DEFAULT_BATCH, Counters


def parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """``--pcap``, ``--packets``, ``--batch`` and ``--runs``, with ``doc``'s first line
    as the description; the benchmark adds its own options after them."""
    p = argparse.ArgumentParser(prog=prog, description=doc.split("\n")[0])
    p.add_argument("--pcap", help=f"trace (default {SHARED_TRACE}, copied to /dev/shm)")
    p.add_argument("--packets", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    p.add_argument("--runs", type=int, default=5)
    return p


def trace_flows(pcap: str) -> int:
    """The distinct 5-tuples of a trace of Ethernet/IPv4 frames: what a mapping
    element holds one entry for after playing it."""
    feed = PcapFeed(pcap)
    b = make_batch(1024)
    flows = set()
    while n := feed.fill(b, 1024):
        for i in range(n):
            mark_ip(b, i, HEADROOM + 14)
            flows.add((int(b.saddr[i]), int(b.daddr[i]), int(b.sport[i]), int(b.dport[i]),
                       int(b.proto[i])))
    return len(flows)


def wire_graph(name: str, src) -> nx.MultiDiGraph:
    """``src -> Wire -> out``: reading and the walk alone, the baseline."""
    g = G.new_graph(name)
    G.add_element(g, src)
    G.add_element(g, element("Wire", "w"))
    G.connect(g, "src", 0, "w", 0)
    G.connect(g, "w", 0, G.OUT, 0)
    return g


def checked_graph(name: str, src) -> nx.MultiDiGraph:
    """``src -> CheckIPHeader(offset 14)`` named ``chk``, bad headers to Discard
    ``bad``: the caller connects ``chk[0]``. ``src`` is named ``src``."""
    g = G.new_graph(name)
    G.add_element(g, src)
    G.add_element(g, element("CheckIPHeader", "chk", {"offset": 14}))
    G.add_element(g, element("Discard", "bad"))
    G.connect(g, "src", 0, "chk", 0)
    G.connect(g, "chk", 1, "bad", 0)
    return g


def time_case(a: argparse.Namespace, name: str,
              build: Callable[[], tuple[nx.MultiDiGraph, object]],
              check: Callable[[Counters], None]) -> dict:
    """Time one graph with the run options in ``a`` (``harness.run_timed``), print its
    line and return its JSON entry."""
    res = run_timed(name, a.batch, a.packets, a.runs, build, check, a.clock)
    print(res.line(), flush=True)
    return res.to_dict()


def write_doc(a: argparse.Namespace, pcap: str, results: dict, **more) -> dict:
    """The benchmark's JSON document (``more`` goes after the results), written to
    ``a.json`` when given."""
    doc = {"packets": a.packets, "batch": a.batch, "runs": a.runs, "pcap": pcap,
           "results": results, **more, "versions": versions()}
    if a.json:
        Path(a.json).write_text(json.dumps(doc, indent=2) + "\n")
    return doc
