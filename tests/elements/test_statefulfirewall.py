"""StatefulFirewall: the TCP state machine case by case, replies, rules, timeouts,
drop reasons, malformed packets, kernel == reference."""

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from l4_helpers import ip_batch, kernel_vs_reference, one, run
from pydantic import ValidationError
from scapy.layers.inet import ICMP, IP, TCP, UDP

from elements.firewall.statefulfirewall import StatefulFirewall, StatefulFirewallConfig

IN_HOST, OUT_HOST = "10.1.0.5", "93.184.216.34"
RULES = ["allow tcp dst port 80 or 443", "allow udp dst port 53", "allow icmp",
         "deny all"]
SEC = 10**9


def ip(s):
    return int(ipaddress.IPv4Address(s))


def make(rules=RULES, **kw):
    el = StatefulFirewall("fw", StatefulFirewallConfig(rules=rules, **kw))
    return el, el.make_state(2)


def out(flags, sport=40000, dport=80):
    return IP(src=IN_HOST, dst=OUT_HOST) / TCP(sport=sport, dport=dport, flags=flags)


def back(flags, sport=40000, dport=80):
    return IP(src=OUT_HOST, dst=IN_HOST) / TCP(sport=dport, dport=sport, flags=flags)


class Conn:
    """Drive one connection through the firewall, naming verdicts."""

    def __init__(self, el, s):
        self.el, self.s, self.t = el, s, 0

    def send(self, pkt, inp):
        self.t += 1000
        r = one(self.el, self.s, pkt, inp=inp, ts=self.t)[0]
        return ("pass" if r == inp else "?") if r >= 0 else self.el.drops[-1 - r]

    def state(self, sport=40000, dport=80):
        return self.el.connection_state(self.s, ip(IN_HOST), ip(OUT_HOST), sport, dport, 6,
                                        self.t)


def test_full_tcp_lifecycle():
    c = Conn(*make())
    steps = [(out("S"), 0, "pass", "syn_sent"),
             (out("S"), 0, "pass", "syn_sent"),  # retransmitted SYN
             (back("SA"), 1, "pass", "syn_received"),
             (back("SA"), 1, "pass", "syn_received"),  # retransmitted SYN-ACK
             (back("A"), 1, "bad_state", "syn_received"),  # data before our ACK
             (out("A"), 0, "pass", "established"),
             (back("PA"), 1, "pass", "established"),
             (out("PA"), 0, "pass", "established"),
             (back("SA"), 1, "pass", "established"),  # late SYN-ACK copy
             (out("S"), 0, "bad_state", "established"),
             (out("FA"), 0, "pass", "fin_wait"),
             (back("A"), 1, "pass", "fin_wait"),
             (out("FA"), 0, "pass", "fin_wait"),  # retransmitted FIN
             (back("FA"), 1, "pass", "time_wait"),
             (out("A"), 0, "pass", "time_wait"),
             (out("S"), 0, "pass", "syn_sent")]  # the 5-tuple reused
    for pkt, inp, verdict, state in steps:
        assert (c.send(pkt, inp), c.state()) == (verdict, state), pkt.summary()
    assert c.el.counters(c.s)["connections"] == 2


def test_rst_closes_and_nothing_but_a_new_syn_passes_after():
    c = Conn(*make())
    assert c.send(out("S"), 0) == "pass"
    assert c.send(back("R"), 1) == "pass" and c.state() == "closed"  # refused
    assert c.send(back("A"), 1) == "bad_state"
    assert c.send(back("R"), 1) == "bad_state"
    assert c.send(out("A"), 0) == "bad_state"
    assert c.send(out("S"), 0) == "pass" and c.state() == "syn_sent"
    assert c.send(back("SA"), 1) == "pass"
    assert c.send(out("A"), 0) == "pass"
    assert c.send(out("RA"), 0) == "pass" and c.state() == "closed"


@pytest.mark.parametrize("flags", ["SA", "A", "PA", "S", "FA", "R"])
def test_unsolicited_inbound_is_dropped(flags):
    c = Conn(*make())
    assert c.send(back(flags), 1) == "no_connection"


@pytest.mark.parametrize("flags", ["SA", "A", "R", "F", "FS"])
def test_outbound_non_syn_cannot_open(flags):
    c = Conn(*make())
    assert c.send(out(flags), 0) == "no_connection"


def test_handshake_violations():
    c = Conn(*make())
    c.send(out("S"), 0)
    assert c.send(back("S"), 1) == "bad_state"  # simultaneous open is not allowed
    assert c.send(out("A"), 0) == "bad_state"  # ACK before the SYN-ACK
    assert c.send(back("A"), 1) == "bad_state"
    assert c.send(out("SA"), 0) == "bad_state"
    assert c.send(back(""), 1) == "bad_state"  # no flags at all
    assert c.send(back("SF"), 1) == "bad_state"
    assert c.state() == "syn_sent"


def test_rules_decide_new_connections():
    c = Conn(*make())
    assert c.send(out("S", dport=22), 0) == "denied"
    assert c.send(back("SA", dport=22), 1) == "no_connection"
    assert c.send(out("S", dport=443), 0) == "pass"
    dns = IP(src=IN_HOST, dst="8.8.8.8") / UDP(sport=5353, dport=53)
    assert c.send(dns, 0) == "pass"
    assert c.send(IP(src="8.8.8.8", dst=IN_HOST) / UDP(sport=53, dport=5353), 1) == "pass"
    assert c.send(IP(src="8.8.8.8", dst=IN_HOST) / UDP(sport=53, dport=5354), 1) == \
        "no_connection"
    assert c.send(IP(src=IN_HOST, dst="8.8.8.8") / UDP(dport=123), 0) == "denied"
    assert c.send(IP(src=IN_HOST, dst=OUT_HOST) / ICMP(type=8), 0) == "pass"
    assert c.send(IP(src=OUT_HOST, dst=IN_HOST) / ICMP(type=0), 1) == "pass"


def test_timeouts_by_packet_time():
    el, s = make(tcp_transitory_timeout=1.0, tcp_timeout=5.0, other_timeout=2.0)
    assert one(el, s, out("S"), 0, ts=0)[0] == 0
    assert one(el, s, back("SA"), 1, ts=1 * SEC + 1)[0] == -1 - el.drops.index("no_connection")
    assert one(el, s, out("S"), 0, ts=2 * SEC)[0] == 0
    assert one(el, s, back("SA"), 1, ts=2 * SEC + 10)[0] == 1
    assert one(el, s, out("A"), 0, ts=3 * SEC)[0] == 0  # established: lives 5 s
    assert one(el, s, back("A"), 1, ts=8 * SEC)[0] == 1
    assert one(el, s, back("A"), 1, ts=13 * SEC + 1)[0] == -1 - el.drops.index("no_connection")
    udp = IP(src=IN_HOST, dst="8.8.8.8") / UDP(sport=5353, dport=53)
    rep = IP(src="8.8.8.8", dst=IN_HOST) / UDP(sport=53, dport=5353)
    assert one(el, s, udp, 0, ts=20 * SEC)[0] == 0
    assert one(el, s, rep, 1, ts=22 * SEC)[0] == 1
    assert one(el, s, rep, 1, ts=24 * SEC + 1)[0] == -1 - el.drops.index("no_connection")


def test_malformed_and_fragments_are_counted_drops():
    el, s = make(["allow all"])
    d = el.drops
    full = bytes(out("S"))
    frames = [full[:25], full[:33], b"\x45\x00", bytes(20),
              bytes(IP(src=IN_HOST, dst=OUT_HOST, frag=10, proto=6) / (b"x" * 8)),
              bytes(IP(src=IN_HOST, dst=OUT_HOST, frag=10) / ICMP()),
              bytes(IP(src=IN_HOST, dst=OUT_HOST, flags="MF") / TCP(flags="S", dport=80))]
    got = run(el, s, ip_batch(frames), 0)
    assert got == [-1 - d.index("truncated"), -1 - d.index("truncated"),
                   -1 - d.index("not_ip"), -1 - d.index("not_ip"),
                   -1 - d.index("fragment"), -1 - d.index("fragment"), 0]


def test_table_full_is_counted():
    el, s = make(["allow all"], capacity=4)
    frames = [bytes(out("S", sport=1000 + k)) for k in range(40)]
    got = run(el, s, ip_batch(frames), 0)
    assert set(got) == {0, -1 - el.drops.index("table_full")}
    assert el.counters(s)["insert_failures"] == got.count(-1 - el.drops.index("table_full"))


def test_config_errors():
    with pytest.raises(ValidationError, match="allow, deny or drop"):
        StatefulFirewallConfig(rules=["2 tcp"])
    with pytest.raises(ValidationError, match="unknown word 'prot'"):
        StatefulFirewallConfig(rules=["allow tcp dst prot 80"])
    with pytest.raises(ValidationError):
        StatefulFirewallConfig(rules=[])
    with pytest.raises(ValidationError):
        StatefulFirewallConfig(rules=["allow all"], tcp_timeout=0)


# -- kernel == reference: random conversations over few tuples, malformed included --------

FLAGS = ["S", "SA", "A", "PA", "FA", "R", "RA", "F", "", "SF"]
# A whole connection, (direction, flags): the steps random traffic mostly follows.
SCRIPT = [(0, "S"), (1, "SA"), (0, "A"), (1, "PA"), (0, "PA"), (0, "FA"), (1, "A"),
          (1, "FA"), (0, "A"), (0, "S"), (1, "SA"), (1, "R")]


def packet(inp, kind, flags, sport, dport):
    src, dst = (IN_HOST, OUT_HOST) if inp == 0 else (OUT_HOST, IN_HOST)
    if kind == "tcp":
        ports = (sport, dport) if inp == 0 else (dport, sport)
        return IP(src=src, dst=dst) / TCP(sport=ports[0], dport=ports[1], flags=flags)
    if kind == "udp":
        return IP(src=src, dst=dst) / UDP(sport=53 if inp else 5353, dport=5353 if inp else 53)
    return IP(src=src, dst=dst) / ICMP(type=0 if inp else 8)


@st.composite
def traffic(draw):
    """Mostly the next step of SCRIPT on one of two connections, sometimes any segment,
    UDP, ICMP, a cut-short frame or random bytes; time advances by up to 0.4 s."""
    at = [0, 0]
    t = 0
    out = []
    for _ in range(draw(st.integers(1, 40))):
        c = draw(st.integers(0, 1))
        sport, dport = 40000 + c, draw(st.sampled_from([80] * 5 + [22]))
        choice = draw(st.integers(0, 9))
        if choice < 6:
            inp, flags = SCRIPT[at[c] % len(SCRIPT)]
            at[c] += 1
            pkt = packet(inp, "tcp", flags, sport, dport)
        else:
            inp = draw(st.integers(0, 1))
            kind = draw(st.sampled_from(["tcp", "tcp", "udp", "icmp"]))
            pkt = packet(inp, kind, draw(st.sampled_from(FLAGS)), sport, dport)
        frame = bytes(pkt)
        damage = draw(st.integers(0, 19))
        if damage == 0:
            frame = frame[: draw(st.integers(0, len(frame)))]
        elif damage == 1:
            frame = draw(st.binary(max_size=48))
        t += draw(st.integers(0, 4 * SEC // 10))
        out.append((frame, inp, t))
    return out


@settings(max_examples=200, deadline=None)
@given(traffic())
def test_kernel_matches_reference(packets):
    el, s = make(["allow tcp dst port 80", "allow udp", "allow icmp", "deny all"],
                 tcp_transitory_timeout=1.0, tcp_timeout=2.0, tcp_closed_timeout=0.5,
                 other_timeout=1.0)
    frames, inps, ts = zip(*packets)
    kernel_vs_reference(el, s, list(frames), list(inps), list(ts))


# -- the docstring example and graphs/stateful-firewall.yaml ------------------------------


def test_docstring_example_runs():
    from elementkit import example_yaml
    from l4_helpers import push

    from msh.runtime import Program
    from msh.yamlgraph import load

    prog = Program(load("<example>", text=example_yaml(StatefulFirewall)), batch_size=8)
    assert [p for p, _ in push(prog, 0, [bytes(out("S")), bytes(out("S", dport=25))])] == [0, -1]
    assert [p for p, _ in push(prog, 1, [bytes(back("SA")), bytes(back("SA", dport=25))])] == \
        [1, -1]
    c = prog.finish()
    assert c.element("fw")["drops"] == {"denied": 1, "no_connection": 1}


def test_graph_file_handshake_and_unsolicited():
    from pathlib import Path

    from l4_helpers import push
    from scapy.layers.l2 import Ether

    from msh.runtime import Program
    from msh.yamlgraph import load

    g = load(Path(__file__).resolve().parents[2] / "graphs" / "stateful-firewall.yaml",
             {"web_port": 8080})
    prog = Program(g, batch_size=16)
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    assert [p for p, _ in push(prog, 0, [bytes(eth / out("S", dport=8080)),
                                         bytes(eth / out("S", dport=80))])] == [0, -1]
    assert [p for p, _ in push(prog, 1, [bytes(eth / back("SA", dport=8080)),
                                         bytes(eth / back("SA", sport=1, dport=8080))])] == \
        [1, -1]
    seen = push(prog, 0, [bytes(eth / out("A", dport=8080))])
    assert seen[0][0] == 0 and IP(seen[0][1])[TCP].flags == "A"  # Ethernet stripped
    c = prog.finish()
    assert c.element("fw")["drops"] == {"denied": 1, "no_connection": 1}
    assert c.element("fw")["connections"] == 1
