"""MaglevLB: spread by weights, stickiness, disruption on backend change, reply path
with scapy-checked checksums, drops, kernel == reference."""

import ipaddress
import random

import numpy as np
import pytest
from elementkit import make as make_el
from hypothesis import given, settings
from hypothesis import strategies as st
from l4_helpers import checksums_ok, ip_batch, kernel_vs_reference, one, run
from pydantic import ValidationError
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

from elements.batch import load_frames
from elements.lb.maglevlb import MaglevLB, MaglevLBConfig
from elements.net import flow_hash5
from msh import graph as G
from msh.chain import Chain, Middlebox
from msh.chainrun import run_chain
from msh.compiler import compile_chain

VIP = "10.0.0.100"


def ip(s):
    return int(ipaddress.IPv4Address(s))


def make(backends, **kw):
    el = MaglevLB("lb", MaglevLBConfig(vip=VIP, backends=backends, **kw))
    return el, el.make_state(2)


def flows(n, seed=1, dport=80, proto="tcp"):
    rnd = random.Random(seed)
    l4 = TCP if proto == "tcp" else UDP
    return [IP(src=f"172.16.{rnd.randrange(256)}.{rnd.randrange(1, 255)}", dst=VIP)
            / l4(sport=rnd.randrange(1024, 65536), dport=dport) for _ in range(n)]


def destinations(el, s, pkts, ts=0):
    b = ip_batch([bytes(p) for p in pkts], [ts] * len(pkts))
    verdicts = run(el, s, b, 0)
    assert verdicts == [0] * len(pkts)
    return [int(b.daddr[i]) for i in range(len(pkts))]


def test_spread_follows_weights():
    backends = [{"addr": f"192.168.1.{k + 1}", "weight": w} for k, w in enumerate([1, 2, 3, 4])]
    el, s = make(backends)
    dst = destinations(el, s, flows(20000))
    counts = np.array([dst.count(ip(f"192.168.1.{k + 1}")) for k in range(4)])
    expected = 20000 * np.array([1, 2, 3, 4]) / 10
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 16.3  # 3 degrees of freedom, p = 0.001
    c = el.counters(s)
    assert [c[f"backend{k}_flows"] for k in range(4)] == list(counts)
    assert c["new_flows"] == 20000


def test_table_shares_match_weights():
    _, s = make([{"addr": "192.168.1.1", "weight": 1}, {"addr": "192.168.1.2", "weight": 3},
                  {"addr": "192.168.1.3", "weight": 0}], table_size=65537)
    share = np.bincount(s.table, minlength=3) / len(s.table)
    assert abs(share[0] - 0.25) < 0.001 and abs(share[1] - 0.75) < 0.001 and share[2] == 0


def test_flows_stick_and_survive_backend_changes():
    el, s = make([{"addr": f"192.168.1.{k}"} for k in range(1, 6)])
    pkts = flows(500)
    first = destinations(el, s, pkts)
    assert destinations(el, s, pkts, ts=10**9) == first
    el.set_backends(s, [{"addr": "192.168.2.1"}])  # every old backend gone
    assert destinations(el, s, pkts, ts=2 * 10**9) == first  # tracked flows stay
    assert set(destinations(el, s, flows(50, seed=2), ts=2 * 10**9)) == {ip("192.168.2.1")}
    assert el.counters(s)["known_flow_packets"] == 1000


def lookups(el, s, pkts):
    """The backend a new flow would get now (table only, flow table bypassed)."""
    hashes = [flow_hash5(ip(p.src), ip(p.dst), p.sport, p.dport, 6) for p in pkts]
    return [int(s.b_addr[s.table[h % len(s.table)]]) for h in hashes]


def test_disruption_when_removing_one_of_ten_is_near_its_share():
    backends = [{"addr": f"192.168.1.{k}"} for k in range(1, 11)]
    el, s = make(backends)
    pkts = flows(20000, seed=3)
    before = np.array(lookups(el, s, pkts))
    el.set_backends(s, backends[:4] + backends[5:])
    after = np.array(lookups(el, s, pkts))
    moved = (before != after).mean()
    removed = before == ip("192.168.1.5")
    assert (after[removed] != ip("192.168.1.5")).all()
    assert 0.08 < moved < 0.12  # ideal: 0.10, the removed backend's share
    assert (before != after)[~removed].mean() < 0.02  # others barely move
    el.set_backends(s, backends)  # adding it back restores the table exactly
    assert (np.array(lookups(el, s, pkts)) == before).all()


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_forward_and_reply_rewrite_with_valid_checksums(proto):
    el, s = make([{"addr": "192.168.1.7", "port": 8080}], vport=80)
    l4 = TCP if proto == "tcp" else UDP
    req = IP(src="172.16.0.9", dst=VIP) / l4(sport=40000, dport=80) / b"hello"
    r, frame, b = one(el, s, req)
    assert r == 0
    out = IP(frame)
    assert (out.src, out.dst, out[l4].sport, out[l4].dport) == ("172.16.0.9", "192.168.1.7",
                                                                 40000, 8080)
    assert checksums_ok(frame)
    assert (b.daddr[0], b.dport[0]) == (ip("192.168.1.7"), 8080)
    assert b.flow_hash[0] == flow_hash5(ip("172.16.0.9"), ip("192.168.1.7"), 40000, 8080,
                                        out.proto)
    rep = IP(src="192.168.1.7", dst="172.16.0.9") / l4(sport=8080, dport=40000) / b"world"
    r, frame, b = one(el, s, rep, inp=1, ts=5)
    assert r == 1
    back = IP(frame)
    assert (back.src, back.dst, back[l4].sport, back[l4].dport) == (VIP, "172.16.0.9", 80,
                                                                    40000)
    assert checksums_ok(frame) and bytes(back[l4].payload) == b"world"
    assert (b.saddr[0], b.sport[0]) == (ip(VIP), 80)
    assert el.counters(s)["replies"] == 1


def test_udp_without_checksum_stays_without():
    el, s = make([{"addr": "192.168.1.7"}])
    req = IP(src="172.16.0.9", dst=VIP) / UDP(sport=5, dport=53, chksum=0) / b"q"
    r, frame, _ = one(el, s, req)
    assert r == 0 and IP(frame)[UDP].chksum == 0 and IP(frame).dst == "192.168.1.7"
    assert checksums_ok(frame)


def test_flows_expire_by_packet_time():
    el, s = make([{"addr": "192.168.1.7"}], timeout=2.0)
    req = IP(src="172.16.0.9", dst=VIP) / TCP(sport=1000, dport=80)
    rep = IP(src="192.168.1.7", dst="172.16.0.9") / TCP(sport=80, dport=1000)
    assert one(el, s, req, ts=0)[0] == 0
    assert one(el, s, rep, inp=1, ts=2 * 10**9)[0] == 1  # refreshed: lives to 4 s
    assert one(el, s, req, ts=3 * 10**9)[0] == 0  # the reply kept the request side alive
    assert el.counters(s)["known_flow_packets"] == 1
    assert one(el, s, rep, inp=1, ts=5 * 10**9 + 1)[0] == -9  # no_flow
    assert one(el, s, req, ts=6 * 10**9)[0] == 0  # a new flow
    assert el.counters(s)["new_flows"] == 2


def test_drops_are_counted_by_reason():
    el, s = make([{"addr": "192.168.1.7"}], vport=80)
    reasons = el.drops
    cases = {
        "not_for_vip": IP(src="1.2.3.4", dst="10.0.0.101") / TCP(dport=80),
        "not_tcp_udp": IP(src="1.2.3.4", dst=VIP) / ICMP(),
        "fragment": IP(src="1.2.3.4", dst=VIP, flags="MF") / TCP(dport=80),
    }
    for reason, pkt in cases.items():
        assert one(el, s, pkt)[0] == -1 - reasons.index(reason), reason
    assert one(el, s, IP(src="1.2.3.4", dst=VIP) / TCP(dport=81))[0] == -1 - reasons.index(
        "not_for_vip")
    truncated = bytes(IP(src="1.2.3.4", dst=VIP) / TCP(dport=80))[:30]
    b = ip_batch([truncated])
    assert run(el, s, b) == [-1 - reasons.index("truncated")]
    b = ip_batch([b"\x45" + bytes(5)])  # no IP header marked
    assert run(el, s, b) == [-1 - reasons.index("not_ip")]
    unsolicited = IP(src="192.168.1.7", dst="1.2.3.4") / TCP(sport=80, dport=9)
    assert one(el, s, unsolicited, inp=1)[0] == -1 - reasons.index("no_flow")


def test_flow_table_full_is_a_counted_drop():
    el, s = make([{"addr": "192.168.1.7"}], capacity=4)  # 16 slots, 2 per flow
    verdicts = run(el, s, ip_batch([bytes(p) for p in flows(40)]))
    full = -1 - el.drops.index("flow_table_full")
    assert set(verdicts) == {0, full} and verdicts.count(0) >= 8
    assert el.counters(s)["insert_failures"] >= 1


def test_config_errors():
    with pytest.raises(ValidationError, match="prime"):
        MaglevLBConfig(vip=VIP, backends=[{"addr": "1.1.1.1"}], table_size=65536)
    with pytest.raises(ValidationError, match="IPv4"):
        MaglevLBConfig(vip="10.0.0", backends=[{"addr": "1.1.1.1"}])
    with pytest.raises(ValidationError, match="twice"):
        MaglevLBConfig(vip=VIP, backends=[{"addr": "1.1.1.1"}, {"addr": "1.1.1.1"}])
    with pytest.raises(ValidationError, match="weight above 0"):
        MaglevLBConfig(vip=VIP, backends=[{"addr": "1.1.1.1", "weight": 0}])
    with pytest.raises(ValidationError):
        MaglevLBConfig(vip=VIP, backends=[])
    with pytest.raises(ValidationError):
        MaglevLBConfig(vip=VIP, backends=[{"addr": "1.1.1.1", "wieght": 2}])
    el, s = make([{"addr": "1.1.1.1"}])
    with pytest.raises(ValueError, match="weight above 0"):
        el.set_backends(s, [{"addr": "1.1.1.1", "weight": 0}])


# -- kernel == reference on random traffic, malformed included ----------------------------

CLIENTS = ["172.16.0.1", "172.16.0.2"]
BACKENDS = ["192.168.1.1", "192.168.1.2"]


@st.composite
def traffic(draw, port_rewrite):
    """Requests and replies of four flows, so that replies often match; one packet in
    five is cut short and one in ten is random bytes."""
    inp = draw(st.integers(0, 1))
    f = draw(st.integers(0, 3))
    c, cport, l4 = CLIENTS[f % 2], 1000 + f // 2, TCP if f % 2 == 0 else UDP
    if inp == 0:
        pkt = IP(src=c, dst=draw(st.sampled_from([VIP, VIP, VIP, "10.0.0.1"]))) / l4(
            sport=cport, dport=draw(st.sampled_from([80, 80, 81])))
    else:
        sport = draw(st.sampled_from([8080, 8080, 80] if port_rewrite else [80, 80, 81]))
        pkt = IP(src=draw(st.sampled_from(BACKENDS)), dst=c) / l4(sport=sport, dport=cport)
    frame = bytes(pkt / draw(st.binary(max_size=12)))
    damage = draw(st.integers(0, 9))
    if damage < 2:
        frame = frame[: draw(st.integers(0, len(frame)))]
    elif damage == 2:
        frame = draw(st.binary(max_size=48))
    return frame, inp, draw(st.integers(0, 10**9))


@settings(max_examples=150, deadline=None)
@given(st.booleans(), st.data())
def test_kernel_matches_reference(port_rewrite, data):
    packets = data.draw(st.lists(traffic(port_rewrite), min_size=1, max_size=40))
    backends = [{"addr": a, "port": 8080} if port_rewrite else {"addr": a} for a in BACKENDS]
    el, s = make(backends, timeout=0.3, table_size=251)
    frames, inps, ts = zip(*packets)
    kernel_vs_reference(el, s, list(frames), list(inps), sorted(ts))


# -- the docstring example and graphs/lb.yaml ---------------------------------------------


def test_docstring_example_runs():
    from elementkit import example_yaml
    from l4_helpers import push

    from msh.runtime import Program
    from msh.yamlgraph import load

    prog = Program(load("<MaglevLB example>", text=example_yaml(MaglevLB)), batch_size=8)
    req = IP(src="172.16.0.9", dst="10.0.0.100") / TCP(sport=4000, dport=80, flags="S")
    [(port, frame)] = push(prog, 0, [bytes(req)])
    assert port == 0 and IP(frame).dport == 8080 and checksums_ok(frame)
    rep = IP(src=IP(frame).dst, dst="172.16.0.9") / TCP(sport=8080, dport=4000, flags="SA")
    [(port, frame)] = push(prog, 1, [bytes(rep)])
    assert port == 1 and (IP(frame).src, IP(frame).sport) == ("10.0.0.100", 80)
    prog.finish()


def test_lb_graph_balances_and_replies():
    from pathlib import Path

    from l4_helpers import push
    from scapy.layers.l2 import Ether

    from msh.runtime import Program
    from msh.yamlgraph import load

    g = load(Path(__file__).resolve().parents[2] / "graphs" / "lb.yaml",
             {"vip": VIP, "backends": [{"addr": "192.168.9.1"}, {"addr": "192.168.9.2"}]})
    prog = Program(g, batch_size=256)
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    reqs = [eth / p for p in flows(200, seed=9)] + [eth / IP(dst="10.9.9.9") / TCP(dport=80)]
    seen = push(prog, 0, [bytes(p) for p in reqs])
    assert [port for port, _ in seen] == [0] * 200 + [-1]
    outs = [Ether(frame)[IP] for _, frame in seen[:200]]  # lb.yaml emits frames
    assert {p.dst for p in outs} == {"192.168.9.1", "192.168.9.2"}
    assert all(checksums_ok(bytes(p)) for p in outs)
    replies = [eth / IP(src=p.dst, dst=p.src) / TCP(sport=80, dport=p[TCP].sport) for p in outs]
    back = push(prog, 1, [bytes(p) for p in replies])
    assert all(port == 1 and Ether(f)[IP].src == VIP and checksums_ok(bytes(Ether(f)[IP]))
               for port, f in back)
    c = prog.finish()
    assert c.element("lb")["drops"] == {"not_for_vip": 1}
    assert c.element("lb")["replies"] == 200


# -- the decision cache: a compiled chain replays MaglevLB's mapping exactly ---------------


class Stamped:
    """A feed of frames with their timestamps (ns), for ``run_chain``."""

    def __init__(self, frames, stamps):
        self.frames, self.stamps, self.total = list(frames), list(stamps), len(frames)

    def fill(self, b, n):
        take, self.frames = self.frames[:n], self.frames[n:]
        ts, self.stamps = self.stamps[:n], self.stamps[n:]
        return load_frames(b, take, ts) if take else 0


def linear(name, *elements):
    """A middlebox in -> e1 -> e2 ... -> out."""
    g = G.new_graph(name)
    prev = G.IN
    for el in elements:
        G.add_element(g, el)
        G.connect(g, prev, 0, el.name, 0)
        prev = el.name
    G.connect(g, prev, 0, G.OUT, 0)
    return Middlebox(name, g)


def test_cached_plan_equals_naive_chain_with_maglev():
    backends = [{"addr": "192.168.1.1"}, {"addr": "192.168.1.2"}]
    # the firewall keeps a mapping of each flow too: a region is cached from two mappings
    chain = Chain("fw-lb", [
        linear("fw", make_el("Strip", "strip", length=14), make_el("CheckIPHeader", "chk"),
               make_el("Paint", "p", color=5), make_el("IPRewriter", "keep", inputs=["keep 0 0"]),
               make_el("Unstrip", "unstrip", length=14)),
        linear("lb", make_el("Strip", "strip", length=14), make_el("CheckIPHeader", "chk"),
               make_el("MaglevLB", "m", vip=VIP, backends=backends, timeout=1.0,
                       table_size=251),
               make_el("Unstrip", "unstrip", length=14)),
    ])
    plan = compile_chain(chain)
    assert {"fw/keep", "lb/m"} <= set(plan.graph.graph["cache"]["nodes"])

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["A", "PA", "S", "F", "R",
                                                                   "udp", "other"]),
                              st.integers(0, 700_000_000)), min_size=1, max_size=80))
    def check(packets):
        frames = []
        for flow, kind, _ in packets:
            dst = "10.9.9.9" if kind == "other" else VIP
            l4 = UDP(sport=2000 + flow, dport=53) if kind == "udp" else TCP(
                sport=1000 + flow, dport=80, flags="A" if kind == "other" else kind)
            frames.append(bytes(Ether() / IP(src=f"172.16.0.{flow % 3 + 1}", dst=dst) / l4))
        stamps = list(np.cumsum([gap for _, _, gap in packets]))
        naive = run_chain(plan, "naive", Stamped(frames, stamps), batch_size=16, capture=True)
        msh = run_chain(plan, "msh", Stamped(frames, stamps), batch_size=16, capture=True)
        assert msh.outputs == naive.outputs
        assert msh.drops_by_middlebox() == naive.drops_by_middlebox()

    check()
    frames = [bytes(Ether() / IP(src="172.16.0.1", dst=VIP) / TCP(sport=7, dport=80, flags=f))
              for f in ["S"] + ["A"] * 6]
    stamps = [k * 1000 for k in range(len(frames))]
    msh = run_chain(plan, "msh", Stamped(frames, stamps), capture=True)
    assert msh.counters.cache["hits"] == 6  # the SYN walks and records, every ACK hits
    assert msh.outputs == run_chain(plan, "naive", Stamped(frames, stamps), capture=True).outputs
