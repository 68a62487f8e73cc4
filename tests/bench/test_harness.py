"""The bench harness: each benchmark runs, validates its counts and writes its JSON."""

from __future__ import annotations

import json

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from bench import harness
from elements.io.pcapfile import write_pcap


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "t.pcap"
    frames = [bytes(Ether() / IP(dst=f"10.0.0.{k}") / UDP(dport=k)) for k in range(1, 101)]
    write_pcap(path, frames, [1000 * k for k in range(100)])
    return str(path)


def test_read_sweep_writes_json(tmp_path, trace, capsys):
    out = tmp_path / "r.json"
    code = harness.main(["--pcap", trace, "--packets", "1000", "--batch", "32,256",
                         "--runs", "3", "--json", str(out), "--quiet", "read"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert {r["name"] for r in doc["results"]} == {"read/feed", "read/FromPcap->Discard"}
    assert [r["batch"] for r in doc["results"]] == [32, 32, 256, 256]
    for r in doc["results"]:
        assert len(r["runs"]) == 3 and r["min_s"] <= r["median_s"] <= r["max_s"]
        assert r["mpps"] == pytest.approx(1000 / r["median_s"] / 1e6)
    assert set(doc["versions"]) >= {"python", "numba", "numpy", "cpu"}
    assert "best batch for read/feed" in capsys.readouterr().out


def test_element_with_pre_and_cpu_clock(tmp_path, trace):
    out = tmp_path / "e.json"
    assert harness.main(["--pcap", trace, "--packets", "500", "--runs", "2", "--clock", "cpu",
                         "--json", str(out), "--quiet", "element", "Strip",
                         "--config", '{"length": 14}', "--pre", "Counter"]) == 0
    (r,) = json.loads(out.read_text())["results"]
    assert r["name"] == "element/Strip" and r["clock"] == "cpu" and r["packets"] == 500
    assert r["baseline_ns"] > 0


def test_graph_fed_at_in(tmp_path, trace):
    yaml_path = tmp_path / "g.yaml"
    yaml_path.write_text("elements:\n  s: {kind: Strip, config: {length: 14}}\n"
                         "connections:\n  - in -> s -> out\n")
    out = tmp_path / "g.json"
    assert harness.main(["--pcap", trace, "--packets", "300", "--runs", "1", "--json", str(out),
                         "--quiet", "graph", str(yaml_path)]) == 0
    assert json.loads(out.read_text())["results"][0]["packets"] == 300


def test_a_wrong_count_fails_the_benchmark(trace, monkeypatch, capsys):
    expect = harness.expect_entered
    monkeypatch.setattr(harness, "expect_entered", lambda n: expect(n + 1))
    assert harness.main(["--pcap", trace, "--packets", "100", "--runs", "1", "--quiet",
                         "element", "Counter"]) == 1
    assert "bench: error: 100 packets entered, 101 expected" in capsys.readouterr().err


def test_generator_source(tmp_path):
    out = tmp_path / "gen.json"
    assert harness.main(["--gen", "--packets", "2000", "--runs", "1", "--batch", "512",
                         "--json", str(out), "--quiet", "read"]) == 0
    names = [r["name"] for r in json.loads(out.read_text())["results"]]
    assert names == ["read/TrafficGen.fill", "read/TrafficGen->Discard"]
