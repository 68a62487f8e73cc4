"""L4Gateway: double-NAT round trips with scapy-checked checksums, port allocation and
reuse, expiry, drops, kernel == reference."""

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from l4_helpers import checksums_ok, ip_batch, kernel_vs_reference, one, run
from pydantic import ValidationError
from scapy.layers.inet import ICMP, IP, TCP, UDP

from elements.gateway.l4gateway import L4Gateway, L4GatewayConfig
from elements.net import flow_hash5

VIP, GW, BACKEND = "203.0.113.1", "10.0.0.1", "10.0.0.10"
SEC = 10**9


def ip(s):
    return int(ipaddress.IPv4Address(s))


def make(**kw):
    cfg = {"vip": VIP, "vport": 443, "backend": BACKEND, "backend_port": 8443, "source": GW}
    el = L4Gateway("gw", L4GatewayConfig(**{**cfg, **kw}))
    return el, el.make_state(2)


@pytest.mark.parametrize("l4", [TCP, UDP])
def test_round_trip_rewrites_both_ends_with_valid_checksums(l4):
    el, s = make()
    req = IP(src="198.51.100.7", dst=VIP, ttl=33, id=77) / l4(sport=50000, dport=443) / b"GET"
    r, frame, b = one(el, s, req)
    assert r == 0
    fwd = IP(frame)
    gport = fwd[l4].sport
    assert (fwd.src, fwd.dst, fwd[l4].dport) == (GW, BACKEND, 8443)
    assert 1024 <= gport <= 65535
    assert (fwd.ttl, fwd.id, bytes(fwd[l4].payload)) == (33, 77, b"GET")  # nothing else changes
    assert checksums_ok(frame)
    assert (b.saddr[0], b.daddr[0], b.sport[0], b.dport[0]) == (ip(GW), ip(BACKEND), gport,
                                                                8443)
    assert b.flow_hash[0] == flow_hash5(ip(GW), ip(BACKEND), gport, 8443, fwd.proto)
    rep = IP(src=BACKEND, dst=GW) / l4(sport=8443, dport=gport) / b"200 OK"
    r, frame, b = one(el, s, rep, inp=1, ts=10)
    assert r == 1
    back = IP(frame)
    assert (back.src, back.dst, back[l4].sport, back[l4].dport) == (VIP, "198.51.100.7", 443,
                                                                    50000)
    assert checksums_ok(frame) and bytes(back[l4].payload) == b"200 OK"
    assert el.counters(s)["connections"] == 1 and el.counters(s)["relayed_back"] == 1


def test_each_connection_gets_its_own_port():
    el, s = make()
    pkts = [IP(src=c, dst=VIP) / TCP(sport=p, dport=443)
            for c in ("198.51.100.7", "198.51.100.8") for p in (5000, 5001)]
    b = ip_batch([bytes(p) for p in pkts] * 2)
    assert run(el, s, b) == [0] * 8
    ports = [int(b.sport[i]) for i in range(8)]
    assert len(set(ports[:4])) == 4 and ports[4:] == ports[:4]  # stable per connection
    assert el.counters(s)["connections"] == 4


def test_ports_run_out_then_are_reused_after_expiry():
    el, s = make(port_low=2000, port_high=2001, timeout=1.0)
    conn = [IP(src="198.51.100.7", dst=VIP) / TCP(sport=p, dport=443) for p in (1, 2, 3)]
    assert one(el, s, conn[0], ts=0)[0] == 0
    assert one(el, s, conn[1], ts=0)[0] == 0
    assert one(el, s, conn[2], ts=0)[0] == -1 - el.drops.index("no_port")
    assert one(el, s, conn[0], ts=SEC // 2)[0] == 0  # keeps port 2000 alive to 1.5 s
    r, frame, _ = one(el, s, conn[2], ts=SEC + 1)  # port 2001 has expired
    assert r == 0 and IP(frame)[TCP].sport == 2001
    old_reply = IP(src=BACKEND, dst=GW) / TCP(sport=8443, dport=2001)
    r, frame, _ = one(el, s, old_reply, inp=1, ts=SEC + 2)
    assert r == 1 and IP(frame)[TCP].dport == 3  # the port's new owner


def test_backend_packets_of_no_connection_are_dropped():
    el, s = make(timeout=1.0)
    d = el.drops
    assert one(el, s, IP(src=BACKEND, dst=GW) / TCP(sport=8443, dport=1024), inp=1)[0] == \
        -1 - d.index("no_flow")
    req = IP(src="198.51.100.7", dst=VIP) / TCP(sport=9, dport=443)
    _, frame, _ = one(el, s, req, ts=0)
    rep = IP(src=BACKEND, dst=GW) / TCP(sport=8443, dport=IP(frame)[TCP].sport)
    assert one(el, s, rep, inp=1, ts=SEC)[0] == 1
    assert one(el, s, rep, inp=1, ts=3 * SEC)[0] == -1 - d.index("no_flow")  # expired
    wrong_port = IP(src=BACKEND, dst=GW) / TCP(sport=8444, dport=IP(frame)[TCP].sport)
    assert one(el, s, wrong_port, inp=1, ts=0)[0] == -1 - d.index("no_flow")


def test_drops_by_reason():
    el, s = make()
    d = el.drops
    assert one(el, s, IP(src="1.1.1.1", dst=VIP) / TCP(dport=80))[0] == -1 - d.index(
        "not_for_vip")
    assert one(el, s, IP(src="1.1.1.1", dst="203.0.113.2") / TCP(dport=443))[0] == \
        -1 - d.index("not_for_vip")
    assert one(el, s, IP(src="1.1.1.1", dst=VIP) / ICMP())[0] == -1 - d.index("not_tcp_udp")
    assert one(el, s, IP(src="1.1.1.1", dst=VIP, frag=3) / TCP(dport=443))[0] == \
        -1 - d.index("fragment")
    full = bytes(IP(src="1.1.1.1", dst=VIP) / TCP(dport=443))
    assert run(el, s, ip_batch([full[:39], full[:10], b""])) == [
        -1 - d.index("truncated"), -1 - d.index("not_ip"), -1 - d.index("not_ip")]


def test_config_errors():
    with pytest.raises(ValidationError, match="port_low"):
        L4GatewayConfig(vip=VIP, vport=1, backend=BACKEND, port_low=10, port_high=9)
    with pytest.raises(ValidationError, match="IPv4"):
        L4GatewayConfig(vip=VIP, vport=1, backend="10.0.0.300")
    with pytest.raises(ValidationError):
        L4GatewayConfig(vip=VIP, vport=0, backend=BACKEND)
    with pytest.raises(ValidationError):
        L4GatewayConfig(vip=VIP, backend=BACKEND)


# -- kernel == reference ------------------------------------------------------------------


@st.composite
def traffic(draw):
    """Client packets of a few connections and backend packets to the three gateway
    ports; some cut short or random; time advances by up to 0.4 s (timeout 1 s)."""
    t = 0
    out = []
    for _ in range(draw(st.integers(1, 40))):
        inp = draw(st.integers(0, 1))
        l4 = draw(st.sampled_from([TCP, UDP]))
        if inp == 0:
            pkt = IP(src=draw(st.sampled_from(["198.51.100.7", "198.51.100.8"])),
                     dst=draw(st.sampled_from([VIP] * 4 + [GW]))) / l4(
                sport=draw(st.sampled_from([7000, 7001])),
                dport=draw(st.sampled_from([443] * 4 + [444])))
        else:
            pkt = IP(src=BACKEND, dst=draw(st.sampled_from([GW] * 4 + [VIP]))) / l4(
                sport=draw(st.sampled_from([8443] * 4 + [443])),
                dport=draw(st.sampled_from([3000, 3001, 3002])))
        frame = bytes(pkt / draw(st.binary(max_size=8)))
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
    el, s = make(port_low=3000, port_high=3002, timeout=1.0)
    frames, inps, ts = zip(*packets)
    kernel_vs_reference(el, s, list(frames), list(inps), list(ts))


# -- the docstring example and graphs/gateway.yaml -----------------------------------------


def test_docstring_example_runs():
    from elementkit import example_yaml
    from l4_helpers import push

    from msh.runtime import Program
    from msh.yamlgraph import load

    prog = Program(load("<example>", text=example_yaml(L4Gateway)), batch_size=8)
    req = IP(src="198.51.100.7", dst="203.0.113.1") / TCP(sport=5555, dport=443)
    [(port, frame)] = push(prog, 0, [bytes(req)])
    fwd = IP(frame)
    assert port == 0 and (fwd.src, fwd.dst, fwd[TCP].dport) == ("10.0.0.1", "10.0.0.10", 443)
    rep = IP(src="10.0.0.10", dst="10.0.0.1") / TCP(sport=443, dport=fwd[TCP].sport)
    [(port, frame)] = push(prog, 1, [bytes(rep)])
    assert port == 1 and (IP(frame).dst, IP(frame)[TCP].dport) == ("198.51.100.7", 5555)
    prog.finish()


def test_graph_file_round_trip():
    from pathlib import Path

    from l4_helpers import push
    from scapy.layers.l2 import Ether

    from msh.runtime import Program
    from msh.yamlgraph import load

    g = load(Path(__file__).resolve().parents[2] / "graphs" / "gateway.yaml",
             {"vip": VIP, "vport": 443})
    prog = Program(g, batch_size=64)
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    reqs = [eth / IP(src=f"198.51.100.{k}", dst=VIP) / TCP(sport=6000, dport=443) / b"hi"
            for k in range(1, 21)]
    seen = push(prog, 0, [bytes(p) for p in reqs])
    fwd = [IP(f) for port, f in seen if port == 0]
    assert len(fwd) == 20 and len({p[TCP].sport for p in fwd}) == 20
    assert all(p.src == "10.20.0.1" and p.dst == "10.20.0.10" and p[TCP].dport == 8080
               and checksums_ok(bytes(p)) for p in fwd)
    reps = [eth / IP(src=p.dst, dst=p.src) / TCP(sport=8080, dport=p[TCP].sport) for p in fwd]
    back = push(prog, 1, [bytes(p) for p in reps])
    assert sorted(IP(f).dst for _, f in back) == sorted(f"198.51.100.{k}" for k in range(1, 21))
    assert all(port == 1 and IP(f).src == VIP and IP(f)[TCP].sport == 443 and checksums_ok(f)
               for port, f in back)
    prog.finish()
