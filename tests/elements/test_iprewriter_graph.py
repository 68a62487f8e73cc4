"""graphs/nat.yaml end to end: loaded from YAML, inside traffic translated at in[0],
replies mapped back at in[1], and the docstring examples of the NAT elements load."""

import re
from pathlib import Path

from nat_helpers import checksums_ok, tcp, udp
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from elements.batch import load_frames, packet_bytes
from elements.element import lookup
from msh import graph as G
from msh.runtime import Program
from msh.yamlgraph import load

ROOT = Path(__file__).resolve().parents[2]


def push(program, frames, entry):
    n = load_frames(program.batch, [bytes(f) for f in frames])
    b = program.push(n, entry)
    return [(int(b.port[i]), packet_bytes(b, i)) for i in range(n)]


def test_nat_graph_translates_both_directions():
    g = load(ROOT / "graphs" / "nat.yaml", params=["public=203.0.113.7", "ports=40000-40009#"])
    program = Program(g, 64)
    inside = program.entry(G.IN)
    outside = program.index["check_out"], 0
    out = push(program, [tcp("10.0.1.2", "192.168.1.9", 33000, 443, "S"),
                         udp("10.0.7.7", "192.168.1.53", 5353, 53),
                         Ether() / IP(src="10.0.1.2", dst="192.168.1.9") / b"\x45"], inside)
    assert [port for port, _ in out] == [0, 0, -1]
    first, second = Ether(out[0][1]), Ether(out[1][1])
    assert (first[IP].src, first[TCP].sport) == ("203.0.113.7", 40000)
    assert (second[IP].src, second[UDP].sport) == ("203.0.113.7", 40001)  # one counter
    back = push(program, [tcp("192.168.1.9", "203.0.113.7", 443, 40000, "SA"),
                          tcp("192.168.1.9", "203.0.113.7", 443, 40001, "SA")], outside)
    assert [port for port, _ in back] == [1, -1]
    assert (Ether(back[0][1])[IP].dst, Ether(back[0][1])[TCP].dport) == ("10.0.1.2", 33000)
    assert all(checksums_ok(f) for _, f in out[:2] + back[:1])
    c = program.finish()
    assert c.element("nat")["nmappings"] == 2
    assert c.element("nat")["drops"] == {"no_mapping": 1, "unhandled": 1}  # not TCP/UDP


def test_docstring_examples_load(tmp_path):
    for kind in ("IPRewriter", "ICMPPingRewriter"):
        doc = lookup(kind).__doc__
        example = re.search(r"Example::\n\n(.*?)\n\n", doc, re.DOTALL).group(1)
        text = "graph: example\n" + "\n".join(line[8:] for line in example.splitlines())
        path = tmp_path / f"{kind}.yaml"
        path.write_text(text)
        g = load(path)
        assert [el.kind() for _, el in G.elements(g)] == [kind]
