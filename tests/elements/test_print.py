"""Print: known lines, the bytes as they are at that point of the graph, the ring limit."""

from __future__ import annotations

import pytest
from elementkit import example_yaml, make, run_kernel
from pydantic import ValidationError
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

from elements.batch import load_frames, make_batch
from elements.element import lookup
from elements.io.pcapfile import write_pcap
from msh import graph as G
from msh.runtime import Program, run

E = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
TCP_SYN = E / IP(src="10.0.0.1", dst="192.168.1.1", id=1) / TCP(sport=1234, dport=80, flags="S",
                                                              seq=1000, window=65535)
TCP_DATA = E / IP(src="10.0.0.1", dst="192.168.1.1") / TCP(sport=1234, dport=80, flags="PA",
                                                          seq=4294967290, ack=77, window=512) / (b"d" * 10)
UDP_DNS = E / IP(src="10.0.0.2", dst="8.8.8.8") / UDP(sport=5000, dport=53) / (b"q" * 12)
PING = E / IP(src="10.0.0.3", dst="10.0.0.4") / ICMP(type=8, id=7, seq=9)
UNREACH = E / IP(src="10.0.0.4", dst="10.0.0.3") / ICMP(type=3, code=1) / (b"\0" * 28)
FRAG = E / IP(src="1.1.1.1", dst="2.2.2.2", id=42, frag=185, flags="MF", proto=17) / (b"f" * 24)
GRE = E / IP(src="1.1.1.1", dst="2.2.2.2", proto=47) / (b"g" * 4)
IPV6 = Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01", type=0x86DD) / (b"\x60" + b"\0" * 39)
SHORT = bytes(E / IP(src="1.1.1.1", dst="2.2.2.2") / TCP())[:40]  # TCP header cut

LINES = [
    "t: 1.000002 10.0.0.1.1234 > 192.168.1.1.80: S 1000:1000(0) win 65535 len 54",
    "t: 1.000002 10.0.0.1.1234 > 192.168.1.1.80: P. 4294967290:4(10) ack 77 win 512 len 64",
    "t: 1.000002 10.0.0.2.5000 > 8.8.8.8.53: udp 12 len 54",
    "t: 1.000002 10.0.0.3 > 10.0.0.4: icmp echo request id 7 seq 9 len 42",
    "t: 1.000002 10.0.0.4 > 10.0.0.3: icmp unreachable len 70",
    "t: 1.000002 1.1.1.1 > 2.2.2.2: (frag 42:24@1480+) len 58",
    "t: 1.000002 1.1.1.1 > 2.2.2.2: ip-proto-47 4 len 38",
    "t: 1.000002 ether type 0x86dd len 54",
    "t: 1.000002 1.1.1.1 > 2.2.2.2: tcp (truncated) len 40",
]


def print_frames(frames, **config):
    el = make("Print", **config)
    got = run_kernel(el, frames, annotations={"timestamp": 1_000_002_999})
    assert got.results == [0] * len(frames)
    el.flush(got.state)
    return el, got


def test_known_lines(capsys):
    print_frames([TCP_SYN, TCP_DATA, UDP_DNS, PING, UNREACH, FRAG, GRE, IPV6, SHORT], label="t")
    assert capsys.readouterr().out.splitlines() == LINES


def test_hex_dump_no_label_no_time(capsys):
    print_frames([PING], maxlength=18, timestamp=False)
    assert capsys.readouterr().out == (
        "10.0.0.3 > 10.0.0.4: icmp echo request id 7 seq 9 len 42"
        " | 02000000 00020200 00000001 08004500 001c\n")


def test_raw_ip_offset_and_file(tmp_path, capsys):
    out = tmp_path / "p.txt"
    out.write_text("old run\n")
    el, got = print_frames([bytes(UDP_DNS)[14:]], offset=0, timestamp=False, file=str(out))
    b = make_batch(1)
    load_frames(b, [bytes(UDP_DNS)[14:]])
    el.kernel(b, 0, got.state, 0)
    el.flush(got.state)  # a second batch appends
    assert capsys.readouterr().out == ""
    assert out.read_text() == "10.0.0.2.5000 > 8.8.8.8.53: udp 12 len 40\n" * 2


def test_prints_the_bytes_at_its_place_in_the_graph(tmp_path, capsys):
    """Print after Strip sees the stripped packet, even though a later element in the
    same walk moves its head again (the kernel copies the bytes when the packet passes)."""
    path = tmp_path / "in.pcap"
    write_pcap(path, [bytes(UDP_DNS)] * 3, [5_000_000_000] * 3)
    g = G.new_graph("t")
    for el in (make("FromPcap", "src", file=str(path)), make("Strip", "strip", length=14),
               make("Print", "p", label="ip", maxlength=4, offset=0),
               make("Strip", "strip2", length=20)):
        G.add_element(g, el)
    G.connect(g, "src", 0, "strip", 0)
    G.connect(g, "strip", 0, "p", 0)
    G.connect(g, "p", 0, "strip2", 0)
    G.connect(g, "strip2", 0, G.OUT, 0)
    counters = run(Program(g, 2))
    line = "ip: 5.000000 10.0.0.2.5000 > 8.8.8.8.53: udp 12 len 40 | 45000028"
    assert capsys.readouterr().out.splitlines() == [line] * 3
    assert counters.element("p")["count"] == 3


def test_ring_full_counts_missed(capsys, monkeypatch):
    from elements.standard import print as print_module

    monkeypatch.setattr(print_module, "RING", 2)
    el, got = print_frames([PING] * 5, label="r", timestamp=False)
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["r: 10.0.0.3 > 10.0.0.4: icmp echo request id 7 seq 9 len 42"] * 2
    assert out[2] == "r: ... 3 packets not shown (more than 2 in a batch)"
    assert el.counters(got.state) == {"count": 2, "missed": 3}
    el.flush(got.state)  # nothing new: nothing printed again
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("config", [{"maxlength": -1}, {"maxlength": 4096}, {"label": 3},
                                    {"offset": -2}, {"length": 4}])
def test_bad_config(config):
    with pytest.raises(ValidationError):
        lookup("Print").Config(**config)


def test_docstring_example_loads(tmp_path):
    from msh.yamlgraph import load

    load(tmp_path / "e.yaml", text=example_yaml(lookup("Print")) + "connections:\n  - in -> p -> out\n")
