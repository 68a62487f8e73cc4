"""Source NAT end to end: IPRewriter over the reference trace and by number of flows.

    python bench/nat.py [--packets 1000000] [--batch 1024] [--runs 5] [--json FILE]
    python -m bench.nat ...

Graphs (built in code; packets from FromPcap replaying the trace from /dev/shm, or
from TrafficGen with the trace's distribution and a given number of flows):

- ``wire``: source -> Wire -> out (reading and the walk alone);
- ``check``: source -> CheckIPHeader(14) -> out (the NAT's front, without the NAT);
- ``nat``: source -> CheckIPHeader(14) -> IPRewriter("pattern 198.51.100.1 1024-65535
  - - 0 1", "drop") -> out, over the trace (the reference one has 10,000 flows) and
  over TrafficGen traffic of 1k, 100k and 1M flows (capacity 2 x flows).

Each run is checked: every packet leaves by out[0], no mapping failed, and the NAT
holds one mapping per flow of the trace (at most one per flow of TrafficGen, which
draws flows at random). Click 2.1 does 5.9 Mpps on this
trace (its IPRewriter, one core); the target here is 12 Mpps.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/nat.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.endtoend import checked_graph, parser, time_case, trace_flows, wire_graph, write_doc
from bench.harness import BenchError, element, resident_trace, source
from msh import graph as G
from msh.runtime import Counters

PUBLIC = "198.51.100.1"


def trafficgen(packets: int, flows: int):
    src = element("TrafficGen", "src", {"count": packets, "flows": flows, "seed": 7})
    src.tables()
    return src


def build(kind: str, packets: int, pcap: str | None, flows: int):
    def make():
        src = source(pcap, packets) if pcap else trafficgen(packets, flows)
        if kind == "wire":
            return wire_graph(f"nat-{kind}", src), None
        g = checked_graph(f"nat-{kind}", src)
        if kind == "check":
            G.connect(g, "chk", 0, G.OUT, 0)
            return g, None
        G.add_element(g, element("IPRewriter", "nat", {
            "inputs": [f"pattern {PUBLIC} 1024-65535 - - 0 1", "drop"],
            "capacity": max(2 * flows, 1024)}))
        G.connect(g, "chk", 0, "nat", 0)
        G.connect(g, "nat", 0, G.OUT, 0)
        G.connect(g, "nat", 1, G.OUT, 1)
        return g, None
    return make


def check(kind: str, packets: int, flows: int, exact: bool):
    def ok(c: Counters) -> None:
        if c.entered != packets or int(c.exits[0]) != packets:
            raise BenchError(f"{kind}: {c.entered} entered, {c.exits} left; {c.to_dict()}")
        if kind == "nat":
            nat = c.element("nat")
            # the trace plays every flow; TrafficGen draws flows at random (most appear)
            wrong = nat["nmappings"] != flows if exact else not 0 < nat["nmappings"] <= flows
            if wrong or nat["mapping_failures"]:
                raise BenchError(f"nat: {nat['nmappings']} mappings for {flows} flows,"
                                 f" {nat['mapping_failures']} failures")
    return ok


def main(argv: list[str] | None = None) -> dict:
    p = parser("python -m bench.nat", __doc__)
    p.add_argument("--flows", default="1000,100000,1000000",
                   help="TrafficGen flow counts to time the NAT at (comma list; '' for none)")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    pcap = resident_trace(a.pcap)
    flows = trace_flows(pcap)
    cases = [("wire", pcap, flows), ("check", pcap, flows), ("nat", pcap, flows)]
    cases += [("nat", None, int(f)) for f in a.flows.split(",") if f]
    results = {}
    for kind, trace, flows in cases:
        name = f"nat/{kind}" + ("/trace" if trace else f"/{flows}-flows")
        results[name] = time_case(a, name, build(kind, a.packets, trace, flows),
                                  check(kind, a.packets, flows, trace is not None))
    return write_doc(a, pcap, results)


if __name__ == "__main__":
    main()
