"""FromPcap in graphs: every packet of the file, in order, with accounting; config errors."""

from __future__ import annotations

import pytest
from elementkit import example_yaml, make
from pydantic import ValidationError
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from elements.batch import packet_bytes
from elements.element import lookup
from elements.io.pcapfile import PcapError, write_pcap
from msh import graph as G
from msh.runtime import Program, run

FRAMES = [bytes(Ether() / IP(dst=f"10.1.{k // 250}.{k % 250}") / UDP(dport=k) / (b"p" * (k % 50))) for k in range(300)]
STAMPS = [1_000 * k for k in range(300)]


def source_to_discard(src):
    g = G.new_graph("t")
    G.add_element(g, src)
    G.add_element(g, make("Discard", "sink"))
    G.connect(g, src.name, 0, "sink", 0)
    return g


@pytest.mark.parametrize("batch", [1, 64, 256])
def test_plays_file_in_order(tmp_path, batch):
    path = tmp_path / "in.pcap"
    write_pcap(path, FRAMES, STAMPS)
    src = make("FromPcap", "src", file=str(path), repeat=2, limit=550)
    seen, stamps = [], []

    def on_batch(b):
        n = int(b.meta[0])
        seen.extend(packet_bytes(b, i) for i in range(n))
        stamps.extend(int(t) for t in b.timestamp[:n])

    counters = run(Program(source_to_discard(src), batch), on_batch=on_batch)
    assert seen == (FRAMES * 2)[:550]
    assert stamps == sorted(stamps) and len(set(stamps)) == 550
    assert counters.element("sink")["drops"] == {"discarded": 550}
    assert src.counters() == {"count": 550, "truncated": 0, "linktype": 1}


def test_corrupt_file_is_a_pcap_error(tmp_path):
    path = tmp_path / "bad.pcap"
    path.write_bytes(b"not a pcap file at all, sorry")
    with pytest.raises(PcapError, match="byte offset 0: bad magic"):
        run(Program(source_to_discard(make("FromPcap", "src", file=str(path)))))


@pytest.mark.parametrize("config", [{}, {"file": "x", "repeat": 0}, {"file": "x", "limit": -1},
                                    {"file": "x", "loop": 2}, {"file": 3}])
def test_bad_config(config):
    with pytest.raises(ValidationError):
        lookup("FromPcap").Config(**config)


def test_docstring_example_runs(tmp_path):
    from msh.yamlgraph import load

    path = tmp_path / "trace.pcap"
    write_pcap(path, FRAMES[:10], STAMPS[:10])
    text = example_yaml(lookup("FromPcap")).replace("trace.pcap", str(path))
    g = load(tmp_path / "example.yaml", text=text)
    counters = run(Program(g))
    assert counters.entered == 100
