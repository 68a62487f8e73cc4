"""IPRewriter in packet time: Click's timeouts (TCP no-data/data/done, UDP, streaming),
guarantees and MAPPING_CAPACITY eviction, driven by packet timestamps."""

from elementkit import make, outcome
from nat_helpers import S, run_timed, tcp, udp
from scapy.layers.inet import TCP, UDP
from scapy.layers.l2 import Ether

PUB = "198.51.100.1"
SEQ = [f"pattern {PUB} 2000-2999# - - 0 1", "drop"]


def nat(**config):
    config.setdefault("inputs", SEQ)
    return make("IPRewriter", **config)


def outcomes(el, got):
    return [outcome(el, r) for r in got.results]


def sport(frame):
    p = Ether(frame)
    return (p[TCP] if TCP in p else p[UDP]).sport


def test_udp_timeout_default_300s():
    el = nat()
    out, rep = udp("10.0.0.1", "9.9.9.9", 5, 53), udp("9.9.9.9", PUB, 53, 2000)
    times = [0, 299 * S, 598 * S, 898 * S + 1, 898 * S + 2]
    got = run_timed(el, [out, rep, rep, rep, out], [0, 1, 1, 1, 0], times)
    # each packet restarts the clock; 300 s of silence ends the mapping
    assert outcomes(el, got) == ["out0", "out1", "out1", "drop:no_mapping", "out0"]
    assert sport(got.frames[4]) == 2001  # a new mapping: the next sequential port


def test_tcp_nodata_done_and_data_timeouts():
    el = nat(tcp_nodata_timeout=10, tcp_done_timeout=3, tcp_timeout=100, tcp_guarantee=0)
    a = ("10.0.0.1", "8.8.8.8", 5, 80)
    out = lambda flags, data=b"": tcp(*a, flags, data)
    rep = lambda flags, data=b"": tcp("8.8.8.8", PUB, 80, 2000, flags, data)
    frames = [out("S"), rep("SA"), rep("A"),  # no data yet: 10 s
              out("PA", b"x"), rep("PA", b"y"),  # data both ways: 100 s
              rep("A"),
              out("FA"), rep("FA"),  # FIN both ways: 3 s
              rep("A")]
    times = [0, 1 * S, 10 * S, 12 * S, 13 * S, 112 * S, 113 * S, 114 * S, 117 * S]
    got = run_timed(el, frames, [0, 1, 1, 0, 1, 1, 0, 1, 1], times)
    assert outcomes(el, got) == ["out0", "out1", "out1", "out0", "out1", "out1", "out0",
                                 "out1", "drop:no_mapping"]


def test_tcp_nodata_timeout_expires():
    el = nat(tcp_nodata_timeout=10, tcp_guarantee=0)
    frames = [tcp("10.0.0.1", "8.8.8.8", 5, 80, "S"), tcp("8.8.8.8", PUB, 80, 2000, "SA")]
    got = run_timed(el, frames, [0, 1], [0, 10 * S])
    assert outcomes(el, got) == ["out0", "drop:no_mapping"]


def test_rst_ends_the_flow_after_the_done_timeout():
    el = nat(tcp_done_timeout=2, tcp_guarantee=0)
    frames = [tcp("10.0.0.1", "8.8.8.8", 5, 80, "S"), tcp("8.8.8.8", PUB, 80, 2000, "R"),
              tcp("10.0.0.1", "8.8.8.8", 5, 80, "A")]
    got = run_timed(el, frames, [0, 1, 0], [0, S, 3 * S + 1])
    assert outcomes(el, got) == ["out0", "out1", "out0"]
    assert sport(got.frames[2]) == 2001  # the RST flow died: a new mapping


def test_guarantee_keeps_a_flow_alive_past_a_shorter_timeout():
    el = nat(udp_timeout=1, udp_guarantee=5)
    frames = [udp("10.0.0.1", "9.9.9.9", 5, 53), udp("9.9.9.9", PUB, 53, 2000)]
    got = run_timed(el, frames, [0, 1], [0, 4 * S])
    assert outcomes(el, got) == ["out0", "out1"]


def test_capacity_refuses_new_flows_while_all_are_guaranteed():
    el = nat(capacity=2, tcp_guarantee=5)
    flows = [tcp(f"10.0.0.{k}", "8.8.8.8", 5, 80, "S") for k in (1, 2, 3)]
    got = run_timed(el, flows + [flows[2]], [0] * 4, [0, S, 2 * S, 6 * S])
    assert outcomes(el, got) == ["out0", "out0", "drop:mapping_failure", "out0"]
    c = el.counters(got.state)
    assert c["mapping_failures"] == 1 and c["nmappings"] == 2 and c["capacity"] == 2


def test_capacity_evicts_the_earliest_best_effort_expiry():
    el = nat(capacity=2, udp_guarantee=0)
    frames = [udp("10.0.0.1", "9.9.9.9", 5, 53), udp("10.0.0.2", "9.9.9.9", 5, 53),
              udp("10.0.0.1", "9.9.9.9", 5, 53),  # refreshes flow 1: flow 2 expires first
              udp("10.0.0.3", "9.9.9.9", 5, 53),  # evicts flow 2
              udp("9.9.9.9", PUB, 53, 2001), udp("9.9.9.9", PUB, 53, 2000)]
    got = run_timed(el, frames, [0, 0, 0, 0, 1, 1], [0, S, 2 * S, 3 * S, 4 * S, 5 * S])
    assert outcomes(el, got) == ["out0"] * 4 + ["drop:no_mapping", "out1"]


def test_capacity_refuses_a_new_flow_that_would_expire_first():
    """Guarantee 0: the new flow (no-data timeout) expires before data flows (TCP_TIMEOUT),
    so Click's eviction picks the new flow itself: refused, counted."""
    el = nat(capacity=1, tcp_guarantee=0)
    frames = [tcp("10.0.0.1", "8.8.8.8", 5, 80, "PA", b"x"),
              tcp("8.8.8.8", PUB, 80, 2000, "PA", b"y"),
              tcp("10.0.0.2", "8.8.8.8", 5, 80, "S")]
    got = run_timed(el, frames, [0, 1, 0], [0, S, 2 * S])
    assert outcomes(el, got) == ["out0", "out1", "drop:mapping_failure"]


def test_expired_flows_free_capacity():
    el = nat(capacity=1, udp_timeout=10, udp_guarantee=0)
    frames = [udp("10.0.0.1", "9.9.9.9", 5, 53), udp("10.0.0.2", "9.9.9.9", 5, 53)]
    got = run_timed(el, frames, [0, 0], [0, 10 * S])
    assert outcomes(el, got) == ["out0", "out0"]
    assert el.counters(got.state)["nmappings"] == 1


def test_udp_streaming_timeout_after_replies_and_three_packets():
    el = nat(udp_timeout=10, udp_streaming_timeout=100, udp_guarantee=0)
    out, rep = udp("10.0.0.1", "9.9.9.9", 5, 53), udp("9.9.9.9", PUB, 53, 2000)
    got = run_timed(el, [out, rep, out, rep], [0, 1, 0, 1], [0, S, 2 * S, 80 * S])
    assert outcomes(el, got) == ["out0", "out1", "out0", "out1"]
    short = run_timed(nat(udp_timeout=10, udp_streaming_timeout=100, udp_guarantee=0),
                      [out, rep, rep], [0, 1, 1], [0, S, 80 * S])
    assert outcomes(el, short)[2] == "drop:no_mapping"  # 2 packets: not streaming yet
