"""Every graph in ``graphs/`` validates and runs a few hundred packets, all accounted for.

``graphs/chains/`` holds chain files (another format) and ``graphs/lib/`` include
libraries of compound classes (used by the graphs here), so both are skipped. A graph
that declares an ``input`` parameter, or takes its packets at ``in``, is fed a small
trace of good, malformed and non-IP frames made here with scapy.
"""

from pathlib import Path

import pytest
from elementkit import run_graph
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

from elements.io.pcapfile import PcapFeed, PcapWriter
from msh import graph as G
from msh.runtime import Program, run
from msh.yamlgraph import load

ROOT = Path(__file__).resolve().parents[2]
SKIP = ("chains", "lib")
GRAPHS = sorted(p for p in (ROOT / "graphs").rglob("*.yaml")
                if p.relative_to(ROOT / "graphs").parts[0] not in SKIP)
PACKETS = 300


def trace_frames() -> list[bytes]:
    """A mix: TCP to common ports, UDP, ICMP, and frames a checker must drop."""
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    frames = []
    for k in range(8):
        ip = IP(src=f"10.0.{k}.{k + 1}", dst=f"192.168.1.{k + 10}")
        for port in (80, 443, 22, 8080):
            frames.append(bytes(eth / ip / TCP(sport=1024 + k, dport=port, flags="PA")
                                / (b"x" * k)))
        frames.append(bytes(eth / ip / UDP(sport=5000 + k, dport=53) / b"q"))
        frames.append(bytes(eth / ip / ICMP()))
    good = bytes(eth / IP(src="10.0.0.1", dst="192.168.1.1") / TCP(dport=80))
    frames.append(good[:20])  # cut inside the IP header
    bad_sum = bytearray(good)
    bad_sum[24] ^= 0xFF  # the IP checksum
    frames.append(bytes(bad_sum))
    frames.append(bytes(eth / ARP()))
    frames.append(bytes(14))  # a bare Ethernet header
    return frames


def write_trace(path: Path) -> Path:
    with PcapWriter(path) as w:
        for k, frame in enumerate(trace_frames()):
            w.write(frame, timestamp_ns=k * 1000)
    return path


@pytest.fixture(scope="module")
def trace(tmp_path_factory) -> Path:
    return write_trace(tmp_path_factory.mktemp("trace") / "mix.pcap")


def test_there_are_graphs():
    assert any(p.name == "firewall-demo.yaml" for p in GRAPHS)


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: str(p.relative_to(ROOT)))
def test_graph_validates_and_runs(path, trace):
    g = load(path)
    if "input" in g.graph["params"]:
        g = load(path, {"input": str(trace)})
    sources = [n for n, el in G.elements(g) if el.source]
    feed = None if sources else PcapFeed(trace, repeat=PACKETS // 40 + 1)
    counters = run(Program(g), feed=feed, limit=PACKETS)  # finish() checks accounting
    assert 0 < counters.entered <= PACKETS
    if feed is not None:
        assert counters.entered == PACKETS


@pytest.mark.parametrize("params, ports", [(None, {80, 443, 53}),
                                           (["web_port=8080"], {8080, 443, 53})])
def test_firewall_demo_known_answer(params, ports):
    frames = trace_frames()
    g = load(ROOT / "graphs" / "firewall-demo.yaml", params)
    seen, counters = run_graph(g, frames)
    passed = [IP(frame) for port, frame in seen if port == 0]  # Ethernet was stripped
    assert {p.payload.dport for p in passed} == ports
    assert len(passed) == 24  # 8 hosts x (two TCP ports + DNS)
    info = counters.element("fw")
    assert info["drops"] == {"denied": 24}  # the other TCP port and ICMP, 8 hosts each
    assert counters.element("bad")["drops"] == {"discarded": 4}  # cut, bad sum, ARP, empty
