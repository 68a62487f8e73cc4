"""The end-to-end benchmarks (bench/nat.py, bench/lb.py) on their shared part
(bench/endtoend.py): options, output lines and the JSON document, on a small trace."""

from __future__ import annotations

import json

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from bench import endtoend, lb, nat
from bench.harness import element
from elements.io.pcapfile import write_pcap
from msh import graph as G
from msh.validate import check_graph

FLOWS = 60


@pytest.fixture
def trace(tmp_path, monkeypatch):
    """One UDP packet for each of FLOWS flows, left where it is (not copied to
    /dev/shm, so the balancer's VIP copy is written next to it, in tmp_path)."""
    path = tmp_path / "flows.pcap"
    frames = [bytes(Ether() / IP(src=f"10.0.0.{k + 1}", dst="192.168.1.9")
                    / UDP(sport=1000 + k, dport=53)) for k in range(FLOWS)]
    write_pcap(path, frames, [1000 * k for k in range(FLOWS)])
    for bench in (nat, lb):
        monkeypatch.setattr(bench, "resident_trace", lambda p: p)
    return str(path)


def test_the_shared_fronts_are_valid_graphs():
    src = element("TrafficGen", "src", {"count": 10})
    assert not check_graph(endtoend.wire_graph("w", src))
    g = endtoend.checked_graph("c", src)
    assert list(g.nodes) == ["src", "chk", "bad"]
    G.connect(g, "chk", 0, G.OUT, 0)
    assert not check_graph(g)


def test_a_trace_has_its_distinct_5_tuples_as_flows(tmp_path):
    path = tmp_path / "twice.pcap"
    frames = [bytes(Ether() / IP(src="10.0.0.1", dst="192.168.1.9") / UDP(sport=k % 3, dport=53))
              for k in range(12)]  # 3 flows, 4 packets each
    write_pcap(path, frames, [1000 * k for k in range(12)])
    assert endtoend.trace_flows(str(path)) == 3


def test_nat_lines_and_json(trace, tmp_path, capsys):
    out = tmp_path / "nat.json"
    doc = nat.main(["--pcap", trace, "--packets", str(FLOWS), "--runs", "2", "--flows", "",
                    "--json", str(out)])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["nat/wire/trace", "nat/check/trace",
                                                   "nat/nat/trace"]
    assert all(" wall batch  1024 " in line and "ns/pkt" in line for line in lines)
    assert json.loads(out.read_text()) == doc
    assert list(doc) == ["packets", "batch", "runs", "pcap", "results", "versions"]
    assert (doc["packets"], doc["batch"], doc["runs"], doc["pcap"]) == (FLOWS, 1024, 2, trace)
    assert list(doc["results"]) == ["nat/wire/trace", "nat/check/trace", "nat/nat/trace"]
    assert all(len(r["runs"]) == 2 for r in doc["results"].values())


def test_lb_lines_and_json(trace, tmp_path, capsys):
    out = tmp_path / "lb.json"
    doc = lb.main(["--pcap", trace, "--packets", "100", "--runs", "1", "--only", "wire",
                   "--only", "rr", "--clock", "cpu", "--json", str(out)])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:2]] == ["lb/wire", "lb/rr"]
    assert " cpu batch  1024 " in lines[0]
    assert lines[2].startswith("maglev: removing 1 of 10 backends moves ") and \
        f" of {FLOWS} flows (its share " in lines[2]
    assert json.loads(out.read_text()) == doc
    assert list(doc) == ["packets", "batch", "runs", "pcap", "results", "disruption",
                         "versions"]
    assert list(doc["results"]) == ["wire", "rr"]
    assert doc["results"]["rr"]["name"] == "lb/rr" and doc["disruption"]["flows"] == FLOWS
