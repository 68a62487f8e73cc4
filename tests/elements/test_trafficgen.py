"""TrafficGen: deterministic by seed whatever the batch size, valid checksums (scapy is
the oracle), the configured distribution."""

from __future__ import annotations

import collections
import re
import shutil
import subprocess

import numpy as np
import pytest
from elementkit import example_yaml, make
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scapy.layers.inet import IP, TCP, UDP, in4_chksum
from scapy.layers.l2 import Ether
from scapy.utils import checksum

from elements.batch import HEADROOM, make_batch, packet_bytes
from elements.element import lookup
from elements.io.pcapfile import PcapWriter
from msh.runtime import Program, run


def generate(batch: int = 256, **config) -> tuple[list[bytes], list[int]]:
    gen = make("TrafficGen", "gen", **config)
    b = make_batch(batch)
    frames, stamps = [], []
    while n := gen.fill(b, batch):
        frames += [packet_bytes(b, i) for i in range(n)]
        stamps += [int(t) for t in b.timestamp[:n]]
    return frames, stamps


def scapy_checksums_ok(frame: bytes) -> bool:
    """scapy's checksum routines, over the raw header and segment bytes with the
    checksum field zeroed, give the checksums the frame carries."""
    ip = Ether(frame)[IP]
    if len(frame) != 14 + ip.len or checksum(frame[14:14 + ip.ihl * 4]) != 0:
        return False
    seg = bytearray(frame[14 + ip.ihl * 4:])
    at = {6: 16, 17: 6, 1: 2}[ip.proto]
    carried = int.from_bytes(seg[at:at + 2], "big")
    seg[at:at + 2] = b"\0\0"
    want = checksum(bytes(seg)) if ip.proto == 1 else in4_chksum(ip.proto, ip, bytes(seg))
    if ip.proto == 17 and want == 0:
        want = 0xFFFF
    return carried == want


def assert_scapy_valid(frame: bytes) -> None:
    assert scapy_checksums_ok(frame), frame.hex()


def test_checksum_oracle_catches_damage():
    frame = generate(count=1, protocols={"tcp": 1, "udp": 0, "icmp": 0})[0][0]
    assert scapy_checksums_ok(frame)
    for at in (20, 40, len(frame) - 1):  # IP header, TCP header, payload
        bad = bytearray(frame)
        bad[at] ^= 0x01
        assert not scapy_checksums_ok(bytes(bad))


@settings(max_examples=30)
@given(seed=st.integers(0, 2**32), tcp=st.floats(0, 1), udp=st.floats(0, 1),
       icmp=st.floats(0.01, 1), payload=st.sampled_from(["random", "text", "zeros"]),
       lo=st.integers(54, 300), span=st.integers(0, 1600))
def test_checksums_are_valid(seed, tcp, udp, icmp, payload, lo, span):
    frames, _ = generate(count=40, flows=7, seed=seed, payload=payload,
                         protocols={"tcp": tcp, "udp": udp, "icmp": icmp},
                         sizes={"min": lo, "max": min(lo + span, 1920)})
    for f in frames:
        assert lo <= len(f) <= lo + span
        assert_scapy_valid(f)


def test_deterministic_by_seed_whatever_the_batch():
    a = generate(batch=256, count=1000, seed=5)
    assert generate(batch=7, count=1000, seed=5) == a
    assert generate(batch=1000, count=1000, seed=5) == a
    assert generate(count=1000, seed=6)[0] != a[0]


def test_default_mimics_the_shared_trace():
    frames, stamps = generate(batch=1024, count=20_000)
    pkts = [Ether(f) for f in frames[:4000]]
    lengths = np.array([len(f) for f in frames])
    assert lengths.min() >= 64 and lengths.max() <= 600
    assert abs((lengths <= 80).mean() - 0.443) < 0.02
    assert abs(((lengths > 80) & (lengths <= 300)).mean() - 0.195) < 0.02
    assert abs(lengths.mean() - 229) < 8
    protos = collections.Counter(p[IP].proto for p in pkts)
    assert abs(protos[6] / 4000 - 0.897) < 0.05 and protos[1] == 0
    tuples = [(p[IP].src, p[IP].dst, p.sport, p.dport, p[IP].proto) for p in
              (Ether(f) for f in frames)]
    assert len(set(tuples[:10_000])) == 10_000  # every flow once, first
    assert len(set(tuples)) == 10_000
    for p in pkts[:500]:
        assert p[IP].src.startswith("10.0.") and p[IP].dst.startswith("192.168.1.")
        assert p.sport >= 1024
        assert p.dst == "02:00:00:00:00:02" and p[IP].ttl == 64
    flags = collections.Counter(str(p[TCP].flags) for p in pkts if TCP in p)
    assert set(flags) == {"PA", "A", "S", "FA", "SA", "R"}
    assert flags["PA"] > flags["S"] > flags["R"]
    assert stamps == [1_700_000_000_000_000_000 + 1000 * k for k in range(20_000)]
    for f in frames[:300]:
        assert_scapy_valid(f)


def test_ports_and_payload_kinds():
    frames, _ = generate(count=300, flows=20, tcp_ports=[8080], udp_ports=[53],
                         random_port_share=0.0, payload="zeros",
                         protocols={"tcp": 1.0, "udp": 1.0, "icmp": 0.0})
    for f in frames:
        p = Ether(f)
        assert p.dport == (8080 if TCP in p else 53)
        assert set(bytes(p[TCP].payload if TCP in p else p[UDP].payload)) <= {0}
    frames, _ = generate(count=50, payload="text", sizes={"min": 400, "max": 400})
    body = frames[0][54:]
    assert all(32 <= c < 127 for c in body)


def test_runs_as_a_source():
    gen = make("TrafficGen", "gen", count=5000)
    counters = run(Program(_graph(gen), 512))
    assert counters.entered == 5000 and gen.counters() == {"count": 5000}


def _graph(src):
    from msh import graph as G

    g = G.new_graph("t")
    G.add_element(g, src)
    G.add_element(g, make("Discard", "sink"))
    G.connect(g, src.name, 0, "sink", 0)
    return g


@pytest.mark.parametrize("config", [
    {"count": -1}, {"flows": 0}, {"sizes": {"min": 50, "max": 60}},
    {"sizes": {"min": 100, "max": 90}}, {"sizes": "imix"},
    {"protocols": {"tcp": 0, "udp": 0, "icmp": 0}}, {"payload": "ones"},
    {"tcp_ports": [70000]}, {"udp_ports": []}, {"random_port_share": 2.0}, {"rate": 5},
])
def test_bad_config(config):
    with pytest.raises(ValidationError):
        lookup("TrafficGen").Config(**config)


def test_docstring_example_runs(tmp_path):
    from msh.yamlgraph import load

    g = load(tmp_path / "example.yaml", text=example_yaml(lookup("TrafficGen")))
    assert run(Program(g)).entered == 1000


@pytest.mark.parametrize("flows", [1, 2, 3, 97, 1000])
def test_each_flow_once_first(flows):
    frames, _ = generate(count=flows, flows=flows, seed=flows,
                         protocols={"tcp": 1.0, "udp": 1.0, "icmp": 1.0})
    keys = set()
    for f in frames:
        p = Ether(f)
        l4 = bytes(p[IP].payload)
        keys.add((p[IP].src, p[IP].dst, p[IP].proto, l4[4:6] if p[IP].proto == 1 else l4[:4]))
    assert len(keys) == flows


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
def test_tcpdump_finds_every_checksum_right(tmp_path):
    """tcpdump -vv checks IP, TCP, UDP and ICMP checksums: a second, independent oracle."""
    gen = make("TrafficGen", count=300, flows=30, protocols={"tcp": 1.0, "udp": 1.0, "icmp": 1.0})
    b = make_batch(300)
    gen.fill(b, 300)
    bad = re.compile(r"incorrect|bad udp cksum|bad cksum|wrong icmp cksum")

    def complaints() -> int:
        path = tmp_path / "g.pcap"
        with PcapWriter(path) as w:
            w.write_batch(b)
        out = subprocess.run(["tcpdump", "-vv", "-nn", "-r", str(path)], capture_output=True,
                             text=True, check=True).stdout
        return len(bad.findall(out))

    assert complaints() == 0
    b.data[5, HEADROOM + 14 + 20 + 4] ^= 0x10  # a byte covered by the L4 checksum
    assert complaints() == 1
