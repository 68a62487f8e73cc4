"""ToPcap: the file holds exactly the packets that reached it, as they were there."""

from __future__ import annotations

import pytest
from elementkit import make, run_kernel
from pydantic import ValidationError
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from elements.element import lookup
from elements.io.pcapfile import read_pcap, write_pcap
from msh import graph as G
from msh.runtime import Program, run

FRAMES = [bytes(Ether() / IP(dst=f"10.2.0.{k % 250}") / TCP(dport=k) / (b"z" * (k % 70)))
          for k in range(500)]
STAMPS = [1_700_000_000_000_000_000 + 1_001 * k for k in range(500)]


def pipeline(tmp_path, connect_out: bool, **config):
    src_path = tmp_path / "in.pcap"
    write_pcap(src_path, FRAMES, STAMPS, nanosecond=True)
    g = G.new_graph("t")
    G.add_element(g, make("FromPcap", "src", file=str(src_path)))
    G.add_element(g, make("Strip", "strip", length=14))
    G.add_element(g, make("ToPcap", "dump", file=str(tmp_path / "out.pcap"), **config))
    G.connect(g, "src", 0, "strip", 0)
    G.connect(g, "strip", 0, "dump", 0)
    if connect_out:
        G.connect(g, "dump", 0, G.OUT, 0)
    return g


@pytest.mark.parametrize("nanosecond", [False, True])
@pytest.mark.parametrize("connect_out", [False, True])
def test_writes_packets_as_they_are_here(tmp_path, nanosecond, connect_out):
    g = pipeline(tmp_path, connect_out, nanosecond=nanosecond, linktype=228)
    counters = run(Program(g, 64))
    frames, stamps, linktype = read_pcap(tmp_path / "out.pcap")
    assert frames == [f[14:] for f in FRAMES]  # after Strip: raw IP
    assert linktype == 228
    assert stamps == (STAMPS if nanosecond else [t // 1000 * 1000 for t in STAMPS])
    dump = counters.element("dump")
    assert dump["count"] == 500
    if connect_out:
        assert list(counters.exits) == [500] and dump["drops"] == {}
    else:
        assert dump["drops"] == {"written": 500}
    assert [bytes(p) for p in rdpcap(str(tmp_path / "out.pcap"))] == frames


def test_kernel_results(tmp_path):
    el = make("ToPcap", file=str(tmp_path / "k.pcap"))
    got = run_kernel(el, FRAMES[:3], n_outputs=1)
    assert got.results == [0, 0, 0]
    el.close(got.state)
    assert read_pcap(tmp_path / "k.pcap")[0] == FRAMES[:3]
    el = make("ToPcap", file=str(tmp_path / "k2.pcap"))
    got = run_kernel(el, FRAMES[:2], n_outputs=0)
    assert got.results == [-1, -1]  # drop(0): "written"
    el.close(got.state)


def test_full_buffer_is_a_counted_drop(tmp_path, monkeypatch):
    from elements.io import topcap

    monkeypatch.setattr(topcap, "BUFFER_ROWS", 1)  # the writer's smallest buffer, 64 KiB
    el = make("ToPcap", file=str(tmp_path / "f.pcap"))
    got = run_kernel(el, [bytes(1900)] * 40, n_outputs=1)
    fit = (1 << 16) // (16 + 1900)
    assert got.results == [0] * fit + [-2] * (40 - fit)  # drop(1): "no_room"
    el.close(got.state)
    assert len(read_pcap(tmp_path / "f.pcap")[0]) == fit


@pytest.mark.parametrize("config", [{}, {"file": "x", "nanosecond": "yes"}, {"file": "x", "snap": 1}])
def test_bad_config(config):
    with pytest.raises(ValidationError):
        lookup("ToPcap").Config(**config)


def test_bad_linktype(tmp_path):
    with pytest.raises(ValueError, match="linktype 7"):
        make("ToPcap", file=str(tmp_path / "x.pcap"), linktype=7).make_state(0)


def test_docstring_example_loads(tmp_path):
    from elementkit import example_yaml

    from msh.yamlgraph import load

    text = example_yaml(lookup("ToPcap")).replace("out.pcap", str(tmp_path / "out.pcap"))
    g = load(tmp_path / "e.yaml", text=text + "connections:\n  - in -> dump\n")
    assert g.nodes["dump"]["element"].config.file == str(tmp_path / "out.pcap")
