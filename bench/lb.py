"""Load balancers end to end over the reference trace: RoundRobinSwitch and MaglevLB,
with Wire as the baseline, and Maglev's disruption when a backend goes away.

    python -m bench.lb [--packets 1000000] [--batch 1024] [--runs 5] [--json FILE]

Graphs (built in code, packets from FromPcap replaying the trace from /dev/shm):

- ``wire``: FromPcap -> Wire -> out (the framework's own cost, reading included);
- ``rr``: FromPcap -> CheckIPHeader(14) -> RoundRobinSwitch -> out[0..9];
- ``maglev``: FromPcap -> CheckIPHeader(14) -> MaglevLB (10 backends) -> out, on a
  copy of the trace whose destinations are all the VIP (so every packet is balanced:
  10,000 flows, each tracked, rewritten and its checksums patched).

Each graph's output is checked before timing (every packet leaves by the expected
ports; Maglev's new flows spread over the backends by their weights). The disruption
figure: the fraction of the trace's flows whose Maglev lookup (the backend a new flow
would get) changes when 1 of 10 equal backends is removed, against the ideal 1/10.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bench.endtoend import checked_graph, parser, time_case, wire_graph, write_doc
from bench.harness import BenchError, element, resident_trace, source
from elements.batch import HEADROOM, make_batch
from elements.io.pcapfile import PcapFeed, PcapWriter
from elements.lb.l4rewrite import set_daddr
from elements.net import flow_hash5, ipv4_int, mark_ip
from msh import graph as G
from msh.runtime import Counters

VIP = "192.168.100.1"
BACKENDS = [{"addr": f"10.10.0.{k}"} for k in range(1, 11)]
N_OUT = 10


def vip_trace(pcap: str) -> tuple[str, list[tuple]]:
    """A copy of ``pcap`` (next to it) with every destination rewritten to the VIP,
    checksums patched; and the distinct 5-tuples of the copy."""
    out = Path(pcap).with_name(Path(pcap).stem + "-vip.pcap")
    feed = PcapFeed(pcap)
    b = make_batch(1024)
    vip = np.uint32(ipv4_int(VIP))
    tuples = set()
    tmp = out.with_suffix(f".{os.getpid()}.tmp")  # two runs at once write apart
    with PcapWriter(tmp) as w:
        while n := feed.fill(b, 1024):
            for i in range(n):
                mark_ip(b, i, HEADROOM + 14)
                set_daddr(b, i, vip)
                tuples.add((int(b.saddr[i]), int(b.daddr[i]), int(b.sport[i]), int(b.dport[i]),
                            int(b.proto[i])))
            w.write_batch(b)
    tmp.replace(out)
    return str(out), sorted(tuples)


def build(kind: str, pcap: str, packets: int, config: dict | None = None):
    def make():
        if kind == "wire":
            return wire_graph(f"lb-{kind}", source(pcap, packets)), None
        g = checked_graph(f"lb-{kind}", source(pcap, packets))
        if kind == "rr":
            G.add_element(g, element("RoundRobinSwitch", "lb"))
            for k in range(N_OUT):
                G.connect(g, "lb", k, G.OUT, k)
        else:
            G.add_element(g, element("MaglevLB", "lb", config))
            G.connect(g, "lb", 0, G.OUT, 0)
        G.connect(g, "chk", 0, "lb", 0)
        return g, None
    return make


def check(kind: str, packets: int):
    def ok(c: Counters) -> None:
        if c.entered != packets:
            raise BenchError(f"{kind}: {c.entered} packets entered, {packets} expected")
        exits = [int(x) for x in c.exits]
        if kind == "rr":
            want = [packets // N_OUT + (k < packets % N_OUT) for k in range(N_OUT)]
            if exits != want:
                raise BenchError(f"rr: outputs {exits}, expected {want}")
        elif exits[0] != packets:
            raise BenchError(f"{kind}: {exits[0]} of {packets} packets left; {c.to_dict()}")
        if kind == "maglev":
            lb = c.element("lb")
            flows = [lb[f"backend{j}_flows"] for j in range(len(BACKENDS))]
            if min(flows) < 0.7 * max(flows) or lb["known_flow_packets"] == 0:
                raise BenchError(f"maglev: flows per backend {flows}, {lb}")
    return ok


def disruption(tuples: list[tuple]) -> dict:
    """Fraction of the flows whose Maglev lookup moves when backend 5 of 10 goes."""
    lb = element("MaglevLB", "lb", {"vip": VIP, "backends": BACKENDS})
    s = lb.make_state(1)
    hashes = np.array([flow_hash5(*t) for t in tuples], np.int64)

    def backends() -> np.ndarray:
        return s.b_addr[s.table[hashes % len(s.table)]]

    before = backends()
    removed = ipv4_int(BACKENDS[4]["addr"])
    lb.set_backends(s, BACKENDS[:4] + BACKENDS[5:])
    after = backends()
    moved = before != after
    share = float((before == removed).mean())
    return {"flows": len(tuples), "moved_fraction": float(moved.mean()),
            "removed_backend_share": share, "ideal": 1 / len(BACKENDS),
            "moved_not_from_removed": float(moved[before != removed].mean())}


def main(argv: list[str] | None = None) -> dict:
    p = parser("python -m bench.lb", __doc__)
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    p.add_argument("--only", choices=["wire", "rr", "maglev"], action="append",
                   help="run only this graph (repeatable; default all three)")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    pcap = resident_trace(a.pcap)
    vip_pcap, tuples = vip_trace(pcap)
    # Sized for the trace's flows, as an operator would: the flow table is the working
    # set (every packet touches a random flow), so its size decides the speed.
    config = {"vip": VIP, "backends": BACKENDS, "capacity": len(tuples)}
    results = {}
    for kind, trace, cfg in (("wire", pcap, None), ("rr", pcap, None),
                             ("maglev", vip_pcap, config)):
        if a.only and kind not in a.only:
            continue
        results[kind] = time_case(a, f"lb/{kind}", build(kind, trace, a.packets, cfg),
                                  check(kind, a.packets))
    moved = disruption(tuples)
    print(f"maglev: removing 1 of 10 backends moves {moved['moved_fraction']:.4f} of"
          f" {moved['flows']} flows (its share {moved['removed_backend_share']:.4f};"
          f" others moved {moved['moved_not_from_removed']:.4f})")
    return write_doc(a, pcap, results, disruption=moved)


if __name__ == "__main__":
    main()
