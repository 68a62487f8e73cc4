"""PrioSched and RoundRobinSched over Queues, classified by PaintSwitch, behind a
BandwidthShaper or not: known orders, per-class shaping, and the schedule against a
plain-Python event simulation (drops included)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shaperkit import Feed, graph, measured_rate, run_graph, simulate

MS = 1_000_000
S = 1_000_000_000


def classed(sched: str, n: int, rate: int | None, capacity: int = 1000):
    """in -> PaintSwitch -> n Queues -> sched [-> BandwidthShaper(rate)] -> out."""
    elements = {"ps": ("PaintSwitch", {}), "sched": (sched, {})}
    lines = ["in -> ps"]
    for k in range(n):
        elements[f"q{k}"] = ("Queue", {"capacity": capacity})
        lines += [f"ps[{k}] -> q{k}", f"q{k} -> [{k}]sched"]
    if rate is None:
        lines.append("sched -> out")
    else:
        elements["bw"] = ("BandwidthShaper", {"rate": rate})
        lines += ["sched -> bw", "bw -> out"]
    return graph(elements, lines)


def packet(t, cls, tag, length=1000):
    return (t, bytes([tag]) * length, {"paint": cls})


def tags(out):
    return [d.frame[0] for d in out]


def test_prio_serves_high_first_when_both_are_waiting():
    # 1000 B/s: l1 leaves at 0; at 1 s both l2 and h1 wait: h1 goes first.
    items = [packet(0, 1, 1), packet(0, 1, 2), packet(1 * MS, 0, 10)]
    _c, out = run_graph(classed("PrioSched", 2, 1000), Feed(items))
    assert tags(out) == [1, 10, 2]
    assert [d.t for d in out] == [0, S, 2 * S]


def test_prio_starves_the_low_class_while_the_high_one_is_backlogged():
    items = [packet(0, 1, 100 + k) for k in range(3)] + [packet(0, 0, k) for k in range(5)]
    _c, out = run_graph(classed("PrioSched", 2, 10_000), Feed(items))
    assert tags(out) == [0, 1, 2, 3, 4, 100, 101, 102]


def test_round_robin_alternates_between_backlogged_inputs():
    items = [packet(0, 0, 10 + k) for k in range(4)] + [packet(0, 1, 20 + k) for k in range(2)]
    _c, out = run_graph(classed("RoundRobinSched", 2, 10_000), Feed(items))
    assert tags(out) == [10, 20, 11, 21, 12, 13]


def test_round_robin_skips_empty_inputs_and_resumes_after_the_last_served():
    # three classes; class 1 is empty; then class 1 gets a packet while 0 and 2 wait.
    items = [packet(0, 0, 10), packet(0, 0, 11), packet(0, 2, 30), packet(0, 2, 31),
             packet(150 * MS, 1, 20)]
    _c, out = run_graph(classed("RoundRobinSched", 3, 10_000), Feed(items))
    # 1000 B at 10 kB/s: departures every 100 ms: 10@0, 30@.1, 11@.2 (20 came at .15),
    # then after input 0 comes input 1: 20@.3, 31@.4
    assert tags(out) == [10, 30, 11, 20, 31]


def test_schedulers_without_shaper_release_at_arrival_in_priority_order():
    items = [packet(0, 1, 1), packet(0, 0, 2), packet(5 * MS, 1, 3), packet(5 * MS, 0, 4)]
    _c, out = run_graph(classed("PrioSched", 2, None), Feed(items))
    assert [(d.t, d.frame[0]) for d in out] == [(0, 2), (0, 1), (5 * MS, 4), (5 * MS, 3)]


def test_per_class_shapers_under_round_robin_each_keep_their_rate():
    # Class 0 shaped to 20 kB/s, class 1 to 5 kB/s; both offered far more.
    g = graph({"ps": ("PaintSwitch", {}), "q0": ("Queue", {"capacity": 5000}),
               "q1": ("Queue", {"capacity": 5000}),
               "s0": ("BandwidthShaper", {"rate": 20_000}),
               "s1": ("BandwidthShaper", {"rate": 5_000}),
               "rr": ("RoundRobinSched", {})},
              ["in -> ps", "ps[0] -> q0", "ps[1] -> q1", "q0 -> s0", "q1 -> s1",
               "s0 -> [0]rr", "s1 -> [1]rr", "rr -> out"])
    items = [packet(k * MS, k % 2, k % 2, 500) for k in range(4000)]
    _c, out = run_graph(g, Feed(items))
    assert len(out) == 4000
    for cls, rate in ((0, 20_000), (1, 5_000)):
        mine = [d for d in out if d.frame[0] == cls]
        assert abs(measured_rate(mine) / rate - 1) < 0.01


def test_per_class_shaping_with_a_total_rate():
    # PrioSched under one shaper: total output 50 kB/s; class 0 gets what it asks.
    items = [packet(k * MS, 0 if k % 5 == 0 else 1, k % 5, 250) for k in range(5000)]
    _c, out = run_graph(classed("PrioSched", 2, 50_000, capacity=5000), Feed(items))
    assert abs(measured_rate(out) / 50_000 - 1) < 0.01
    hi = [d for d in out if d.frame[0] == 0]
    assert len(hi) == 1000 and max(d.t - k * 5 * MS for k, d in enumerate(hi)) <= 5 * MS


arrivals = st.lists(st.tuples(st.integers(0, 3 * MS), st.integers(0, 2),
                              st.integers(1, 1500)), min_size=1, max_size=100)


def check_against_simulation(policy, items, rate, capacity, batch_size):
    t, feed, sim = 0, [], []
    for k, (gap, cls, length) in enumerate(items):
        t += gap
        feed.append((t, k.to_bytes(2, "big") + bytes(length), {"paint": cls}))
        sim.append((t, cls, length + 2, k))
    want, dropped = simulate(sim, 3, policy, rate, capacity)
    sched = "PrioSched" if policy == "prio" else "RoundRobinSched"
    c, out = run_graph(classed(sched, 3, rate, capacity), Feed(feed), batch_size=batch_size)
    assert [(d.t, int.from_bytes(d.frame[:2], "big")) for d in out] == want
    assert c.total_dropped() == len(dropped)
    assert c.entered == len(out) + c.total_dropped()


@settings(max_examples=60)
@given(st.sampled_from(["prio", "rr"]), arrivals, st.integers(10_000, 5_000_000),
       st.integers(1, 6))
def test_matches_simulation_with_overflow_at_batch_size_1(policy, items, rate, capacity):
    check_against_simulation(policy, items, rate, capacity, batch_size=1)


@settings(max_examples=60)
@given(st.sampled_from(["prio", "rr"]), arrivals, st.integers(10_000, 5_000_000),
       st.sampled_from([2, 16, 256]))
def test_matches_simulation_at_any_batch_size(policy, items, rate, batch_size):
    check_against_simulation(policy, items, rate, 1000, batch_size)


@pytest.mark.parametrize("sched", ["PrioSched", "RoundRobinSched"])
def test_unclassifiable_packets_are_counted_not_lost(sched):
    items = [packet(0, 0, 1), packet(0, 7, 2), packet(0, 255, 3), packet(0, 1, 4)]
    c, out = run_graph(classed(sched, 2, 100_000), Feed(items))
    assert sorted(tags(out)) == [1, 4]
    assert c.element("ps")["drops"] == {"no_output": 1, "paint_all": 1}
