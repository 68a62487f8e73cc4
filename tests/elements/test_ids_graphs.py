"""graphs/ids.yaml and graphs/ips.yaml with graphs/rules/web.rules, end to end."""

import json
from pathlib import Path

from elementkit import run_graph
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

from elements.ids.snortrules import load_rules
from msh.yamlgraph import load

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "graphs" / "rules" / "web.rules"


def tcp(src, dport, seq, data, sport=40000, flags="PA"):
    return bytes(Ether() / IP(src=src, dst="10.0.0.5") / TCP(sport=sport, dport=dport, seq=seq,
                                                            flags=flags) / data)


def traffic():
    return [
        tcp("1.2.3.4", 80, 100, b"GET /etc/pa"),          # 0  sid 1000002 split ...
        tcp("1.2.3.4", 80, 111, b"SSWD HTTP/1.0\r\n"),    # 1  ... completes here (nocase)
        tcp("1.2.3.4", 8080, 7, b"wget http://x/bin/sh", sport=40001),  # 2 sid 1000004 drop
        tcp("1.2.3.4", 8080, 27, b" more", sport=40001),  # 3 blocked in ips mode
        tcp("1.2.3.4", 23, 0, b"", sport=40002, flags="S"),  # 4 sid 1000005 (no content)
        tcp("10.9.9.9", 80, 5, b"GET /../../x", sport=40003),  # 5 pass 1000007 silences 1000001
        bytes(Ether() / IP(src="8.8.8.8", dst="10.0.0.5") / UDP(sport=5353, dport=53)
              / b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04EVIL\x07example\x00"),  # 6
        bytes(Ether() / IP(src="8.8.8.8", dst="10.0.0.5") / ICMP() / b"xxPING-MExx"),  # 7
        bytes(Ether() / IP(src="8.8.8.8", dst="10.0.0.5") / TCP(dport=80) / b"../.."),  # 8
        b"\x00" * 20,                                       # 9 not IPv4: CheckedIP drops it
    ]


def run(name, tmp_path):
    alerts = tmp_path / "alerts.json"
    g = load(ROOT / "graphs" / name, params={"rules": str(RULES), "alerts": str(alerts)})
    frames = traffic()
    seen, counters = run_graph(g, frames)
    got = [(a["row"], a["sid"], a["blocked"]) for a in map(json.loads, alerts.read_text().splitlines())]
    return frames, seen, counters, got


def test_rules_file_parses():
    assert len(load_rules(RULES, {"HOME_NET": "10.0.0.0/8"})) == 8


def test_ids_graph_alerts_and_passes_everything(tmp_path):
    frames, seen, counters, alerts = run("ids.yaml", tmp_path)
    assert sorted(alerts) == [(1, 1000002, False), (2, 1000004, False), (4, 1000005, False),
                              (6, 1000006, False), (7, 1000008, False), (8, 1000001, False)]
    assert [port for port, _ in seen] == [0] * 9 + [-1]
    assert [data for _, data in seen[:9]] == frames[:9]
    assert counters.element("ids")["passed"] == 1


def test_ips_graph_drops_and_blocks(tmp_path):
    _frames, seen, counters, alerts = run("ips.yaml", tmp_path)
    assert sorted(alerts) == [(1, 1000002, False), (2, 1000004, True), (4, 1000005, True),
                              (6, 1000006, False), (7, 1000008, False), (8, 1000001, False)]
    assert [port for port, _ in seen] == [0, 0, -1, -1, -1, 0, 0, 0, 0, -1]
    assert counters.element("ids")["drops"] == {"rule_drop": 2, "flow_blocked": 1}
