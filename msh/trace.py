"""The default trace: what ``msh run`` plays when a graph takes packets at ``in`` and no
trace is named. It is generated once (TrafficGen, seed 1: 100,000 Ethernet/IPv4
frames with the mix of the project's reference trace, 10,000 flows) and kept in the
cache directory, so a fresh checkout runs every graph with no data to fetch."""

from __future__ import annotations

import os
from pathlib import Path

PACKETS = 100_000


def default_trace() -> str:
    """``$MSH_TRACE`` if set, else the generated trace (made on first use)."""
    if os.environ.get("MSH_TRACE"):
        return os.environ["MSH_TRACE"]
    from elements.codegen import cache_dir

    path = cache_dir().parent / f"trace-{PACKETS // 1000}k-seed1.pcap"
    if not path.exists():
        _generate(path)
    return str(path)


def _generate(path: Path) -> None:
    from elements.element import lookup
    from msh import graph as G
    from msh.runtime import Program, run

    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    gen, sink = lookup("TrafficGen"), lookup("ToPcap")
    g = G.new_graph("make-trace")
    G.add_element(g, gen("gen", gen.Config(count=PACKETS, seed=1)))
    G.add_element(g, sink("pcap", sink.Config(file=str(tmp))))
    G.connect(g, "gen", 0, "pcap", 0)
    run(Program(g, 1024))
    tmp.replace(path)
