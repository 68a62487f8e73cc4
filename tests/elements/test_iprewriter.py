"""IPRewriter: known answers against Click's semantics, scapy as the checksum oracle, and
the plain-Python reference agreeing with the kernel on every packet."""

import pytest
from elementkit import make, outcome
from nat_helpers import S, checksums_ok, marked_batch, run_timed, tcp, udp
from pydantic import ValidationError
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

from elements.net import flow_hash5, ipv4_int

PUB = "198.51.100.1"
SNAT = [f"pattern {PUB} 1024-65535 - - 0 1", "drop"]


def nat(**config):
    config.setdefault("inputs", SNAT)
    return make("IPRewriter", **config)


def test_both_directions_rewritten_with_valid_checksums():
    el = nat()
    frames = [tcp("10.0.0.1", "8.8.8.8", 5555, 80, "S"),
              tcp("8.8.8.8", PUB, 80, 5555, "SA"),
              tcp("10.0.0.1", "8.8.8.8", 5555, 80, "A", b"GET /"),
              udp("10.0.0.2", "9.9.9.9", 4000, 53, b"query"),
              udp("9.9.9.9", PUB, 53, 4000, b"answer")]
    got = run_timed(el, frames, [0, 1, 0, 0, 1], [0, S, 2 * S, 3 * S, 4 * S])
    assert got.results == [0, 1, 0, 0, 1]
    out = [Ether(f) for f in got.frames]
    assert (out[0][IP].src, out[0][TCP].sport, out[0][IP].dst) == (PUB, 5555, "8.8.8.8")
    assert (out[1][IP].dst, out[1][TCP].dport, out[1][IP].src) == ("10.0.0.1", 5555, "8.8.8.8")
    assert out[2][TCP].payload.load == b"GET /" and out[2][IP].src == PUB
    assert (out[3][IP].src, out[3][UDP].sport) == (PUB, 4000)
    assert (out[4][IP].dst, out[4][UDP].dport) == ("10.0.0.2", 4000)
    for f in got.frames:
        assert checksums_ok(f)
    for p, frame in zip(got.packets, out):  # annotations follow the bytes
        l4 = frame[IP].payload
        assert (p.saddr, p.daddr) == (ipv4_int(frame[IP].src), ipv4_int(frame[IP].dst))
        assert (p.sport, p.dport) == (l4.sport, l4.dport)
        assert p.flow_hash == flow_hash5(p.saddr, p.daddr, p.sport, p.dport, frame[IP].proto)
        assert p.dst_anno == p.daddr
    assert el.counters(got.state)["nmappings"] == 2


def test_udp_checksum_zero_stays_zero():
    el = nat()
    got = run_timed(el, [udp("10.0.0.2", "9.9.9.9", 4000, 53, chksum=0),
                         udp("9.9.9.9", PUB, 53, 4000, chksum=0)], [0, 1], [0, 1])
    assert [Ether(f)[UDP].chksum for f in got.frames] == [0, 0]
    assert got.results == [0, 1] and all(checksums_ok(f) for f in got.frames)


def test_default_allocation_keeps_the_port_when_the_reply_tuple_is_free():
    el = nat(seed=7)
    frames = [tcp("10.0.0.1", "8.8.8.8", 5555, 80, "S"),
              tcp("10.0.0.2", "8.8.4.4", 5555, 80, "S"),  # other reply tuple: same port
              tcp("10.0.0.3", "8.8.8.8", 5555, 80, "S"),  # same reply tuple: another port
              tcp("10.0.0.4", "8.8.8.8", 80, 80, "S")]  # port below the range: random
    got = run_timed(el, frames, [0] * 4, [0] * 4)
    ports = [Ether(f)[TCP].sport for f in got.frames]
    assert ports[:2] == [5555, 5555]
    assert ports[2] != 5555 and 1024 <= ports[2] <= 65535
    assert 1024 <= ports[3] <= 65535
    # the same seed gives the same choice, another seed (almost surely) another
    again = run_timed(nat(seed=7), frames, [0] * 4, [0] * 4)
    other = run_timed(nat(seed=8), frames, [0] * 4, [0] * 4)
    assert [Ether(f)[TCP].sport for f in again.frames] == ports
    assert [Ether(f)[TCP].sport for f in other.frames][2:] != ports[2:]


def test_sequential_allocation_and_exhaustion():
    el = nat(inputs=[f"pattern {PUB} 2000-2002# - - 0 1", "drop"])
    frames = [tcp(f"10.0.0.{k}", "8.8.8.8", 5555, 80, "S") for k in range(1, 6)]
    frames.append(udp("10.0.0.9", "8.8.8.8", 5555, 80))  # UDP has its own port space
    got = run_timed(el, frames, [0] * 6, [0] * 6)
    assert [Ether(f)[TCP].sport for f in got.frames[:3]] == [2000, 2001, 2002]
    assert [outcome(el, r) for r in got.results] == ["out0"] * 3 + ["drop:mapping_failure"] * 2 \
        + ["out0"]
    assert Ether(got.frames[5])[UDP].sport == 2000
    c = el.counters(got.state)
    assert c["mapping_failures"] == 2 and c["nmappings"] == 4


def test_ports_are_reused_per_reply_tuple_and_flows_stick():
    el = nat(inputs=[f"pattern {PUB} 3000-3001# - - 0 1", "drop"])
    frames = [tcp("10.0.0.1", "8.8.8.8", 1, 80), tcp("10.0.0.2", "8.8.8.8", 1, 80),
              tcp("10.0.0.3", "8.8.8.8", 1, 80), tcp("10.0.0.4", "1.1.1.1", 1, 80),
              tcp("10.0.0.1", "8.8.8.8", 1, 80), tcp("8.8.8.8", PUB, 80, 3001)]
    got = run_timed(el, frames, [0, 0, 0, 0, 0, 1], [0] * 6)
    assert [outcome(el, r) for r in got.results] == [
        "out0", "out0", "drop:mapping_failure", "out0", "out0", "out1"]
    assert [Ether(f)[TCP].sport for f in got.frames[:2] + got.frames[3:5]] == [3000, 3001,
                                                                                3000, 3000]
    assert Ether(got.frames[5])[IP].dst == "10.0.0.2"


def test_a_single_port_pattern_does_not_check_and_the_newer_mapping_wins():
    """Click checks uniqueness only for ranges; a new mapping whose reply key is taken
    replaces the old mapping (IPRewriterBase::store_flow)."""
    el = nat(inputs=[f"pattern {PUB} 3000 - - 0 1", "drop"])
    frames = [tcp("10.0.0.1", "8.8.8.8", 1, 80), tcp("10.0.0.2", "8.8.8.8", 1, 80),
              tcp("8.8.8.8", PUB, 80, 3000)]
    got = run_timed(el, frames, [0, 0, 1], [0] * 3)
    assert got.results == [0, 0, 1] and Ether(got.frames[2])[IP].dst == "10.0.0.2"
    assert el.counters(got.state)["nmappings"] == 1


def test_pass_keep_drop_and_unhandled_packets():
    el = make("IPRewriter", inputs=["pass 1", "keep 0 1", "drop"])
    icmp = Ether() / IP(src="10.0.0.1", dst="8.8.8.8") / ICMP()
    frag = tcp("10.0.0.1", "8.8.8.8", 1, 2, frag=10)
    frames = [tcp("10.0.0.1", "8.8.8.8", 1, 2), tcp("10.0.0.1", "8.8.8.8", 3, 4),
              tcp("8.8.8.8", "10.0.0.1", 4, 3), tcp("8.8.8.8", "10.0.0.1", 9, 9), icmp, icmp,
              frag, frag]
    got = run_timed(el, frames, [0, 1, 2, 2, 0, 2, 0, 1], [0] * 8)
    assert [outcome(el, r) for r in got.results] == [
        "out1", "out0", "out1", "drop:no_mapping", "out1", "drop:unhandled", "out1",
        "drop:unhandled"]
    assert got.frames[1] == bytes(frames[1])  # keep: mapped, not rewritten


def test_short_tcp_header_gets_addresses_only():
    """As Click: 8 to 17 TCP bytes get the addresses rewritten, not the ports."""
    head = bytes(TCP(sport=5555, dport=80))[:12]
    frame = Ether() / IP(src="10.0.0.1", dst="8.8.8.8", proto=6) / head
    got = run_timed(nat(), [frame], [0], [0])
    out = Ether(got.frames[0])
    assert got.results == [0]
    assert out[IP].src == PUB and bytes(out[IP].payload) == head
    fresh = IP(bytes(out[IP]))
    del fresh.chksum
    assert IP(bytes(fresh)).chksum == out[IP].chksum


@pytest.mark.parametrize("bad", [
    {"inputs": []}, {"inputs": ["pattern 1.2.3.4 1024-65535 - -"]},
    {"inputs": ["pattern 1.2.3.400 1024 - - 0 1"]}, {"inputs": ["pattern - 9-3 - - 0 1"]},
    {"inputs": ["bogus"]}, {"inputs": ["drop 1"]}, {"inputs": ["roundrobin"]},
    {"inputs": SNAT, "capacity": 0}, {"inputs": SNAT, "tcp_timeout": -1},
    {"inputs": SNAT, "udp_timeout": "5"}, {"inputs": SNAT, "mapping_capacity": 5}])
def test_bad_config_is_a_clear_error(bad):
    with pytest.raises(ValidationError):
        make("IPRewriter", **bad)


def test_bad_spec_message_names_the_spec():
    with pytest.raises(ValidationError) as e:
        make("IPRewriter", inputs=["drop", "pattern 1.2.3.4 70000 - - 0 1"])
    assert "inputs[1]" in str(e.value) and "bad source port '70000'" in str(e.value)


def test_output_port_beyond_the_connected_outputs_is_refused():
    with pytest.raises(ValueError, match="output port 3 out of range"):
        nat(inputs=[f"pattern {PUB} 1024-65535 - - 0 3"]).make_state(2)


def test_a_flow_is_found_by_its_bytes_whatever_its_annotations_say():
    """The lookup takes the 5-tuple from the packet; the ``flow_hash`` annotation serves
    only when the annotations hold that 5-tuple. A second packet of the flow whose
    annotations describe another flow still finds the flow's mapping."""
    el = nat()
    b = marked_batch([bytes(tcp("10.0.0.1", "8.8.8.8", 5555, 80, "S")),
                      bytes(tcp("10.0.0.1", "8.8.8.8", 5555, 80, "A"))], [0, S])
    other = (ipv4_int("10.0.0.9"), ipv4_int("8.8.4.4"), 6666, 53, 6)
    b.saddr[1], b.daddr[1], b.sport[1], b.dport[1], b.proto[1] = other
    b.flow_hash[1] = flow_hash5(*other)
    state = el.make_state(2)
    assert [int(el.kernel(b, i, state, 0)) for i in range(2)] == [0, 0]
    assert el.counters(state)["nmappings"] == 1
    assert [Ether(bytes(b.data[i, b.head[i]:b.head[i] + b.length[i]]))[TCP].sport
            for i in range(2)] == [5555, 5555]
