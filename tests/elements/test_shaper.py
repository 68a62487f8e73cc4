"""BandwidthShaper, RatedUnqueue, BandwidthRatedUnqueue, Unqueue behind a Queue: output
rates over a trace (departure timestamps), bursts, drain, batch-size independence."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from shaperkit import Feed, graph, measured_rate, run_graph, simulate

from elements.element import lookup

MS = 1_000_000
S = 1_000_000_000


def shaped(kind: str, config: dict, capacity: int = 1000):
    return graph({"q": ("Queue", {"capacity": capacity}), "sh": (kind, config)},
                 ["in -> q", "q -> sh", "sh -> out"])


def trace(n: int, gap_ns: int, sizes=(60, 1500, 576, 1000, 40)):
    """n frames, one every gap_ns, lengths cycling through ``sizes``."""
    return [(k * gap_ns, bytes([k & 0xFF]) * sizes[k % len(sizes)]) for k in range(n)]


@pytest.mark.parametrize("rate", [12_500, 125_000, 1_250_000, 12_500_000])
def test_bandwidth_shaper_rate_within_1_percent(rate):
    # Offer about twice the rate; the queue is big enough to hold the excess.
    items = trace(3000, gap_ns=1)
    mean = sum(len(f) for _, f in items) / len(items)
    items = [(int(k * mean * S / (2 * rate)), f) for k, (_, f) in enumerate(items)]
    c, out = run_graph(shaped("BandwidthShaper", {"rate": rate}, capacity=4000), Feed(items))
    assert len(out) == 3000 and c.total_dropped() == 0
    assert abs(measured_rate(out) / rate - 1) < 0.01
    # Exactly a link of `rate`: each packet leaves when it has arrived and the previous
    # one is through.
    want, _ = simulate([(t, 0, len(f), k) for k, (t, f) in enumerate(items)], 1, "prio",
                       rate, capacity=4000)
    assert [d.t for d in out] == [t for t, _ in want]


def test_bandwidth_shaper_passes_light_traffic_unchanged_in_time():
    items = trace(50, gap_ns=100 * MS, sizes=(100,))  # 1000 B/s offered
    _c, out = run_graph(shaped("BandwidthShaper", {"rate": 10_000}), Feed(items))
    assert [d.t for d in out] == [t for t, _ in items]
    assert [d.frame for d in out] == [f for _, f in items]


def test_bandwidth_shaper_has_no_burst_after_idle():
    # 10 packets of 1000 B at once after a long silence: spaced 100 ms at 10 kB/s.
    items = [(0, bytes(1000))] + [(10 * S, bytes(1000))] * 10
    _c, out = run_graph(shaped("BandwidthShaper", {"rate": 10_000}), Feed(items))
    assert [d.t for d in out] == [0] + [10 * S + k * 100 * MS for k in range(10)]


def test_rated_unqueue_burst_then_rate():
    # burst_size 5 at 100 pps: 5 leave at once, then one every 10 ms.
    items = [(0, bytes(64))] * 20
    c, out = run_graph(shaped("RatedUnqueue", {"rate": 100, "burst_size": 5}), Feed(items))
    assert [d.t for d in out] == [0] * 5 + [k * 10 * MS for k in range(1, 16)]
    assert c.element("sh")["pushes"] == 20


def test_rated_unqueue_refills_up_to_burst_while_idle():
    # 3 packets, then 1 s idle (the bucket refills to 4, not 100), then 10 at once.
    items = [(0, bytes(64))] * 3 + [(S, bytes(64))] * 10
    _c, out = run_graph(shaped("RatedUnqueue", {"rate": 100, "burst_size": 4}), Feed(items))
    assert [d.t for d in out] == [0] * 3 + [S] * 4 + [S + k * 10 * MS for k in range(1, 7)]


@pytest.mark.parametrize("rate", [100, 1000, 20_000])
def test_rated_unqueue_packet_rate_within_1_percent(rate):
    items = [(k * S // (3 * rate), bytes(64)) for k in range(5000)]
    _c, out = run_graph(shaped("RatedUnqueue", {"rate": rate}, capacity=5000), Feed(items))
    assert len(out) == 5000
    # Past the start, where the full bucket (20 ms of rate) lets arrivals through.
    assert abs(measured_rate(out[1000:], unit="packets") / rate - 1) < 0.01


def test_bandwidth_rated_unqueue_burst_bytes_then_rate():
    # 3000 B of credit: 1000-B packets at t=0 pass while the credit is >= 0
    # (3000, 2000, 1000, 0 -> 4 packets), then one per 100 ms at 10 kB/s.
    items = [(0, bytes(1000))] * 8
    c, out = run_graph(shaped("BandwidthRatedUnqueue", {"rate": 10_000, "burst_bytes": 3000}),
                       Feed(items))
    assert [d.t for d in out] == [0] * 4 + [k * 100 * MS for k in range(1, 5)]
    assert c.element("sh")["byte_count"] == 8000


def test_unqueue_releases_at_arrival_time_in_order():
    items = trace(300, gap_ns=7 * MS)
    _c, out = run_graph(shaped("Unqueue", {}), Feed(items), batch_size=16)
    assert [(d.t, d.frame) for d in out] == items


@pytest.mark.parametrize("batch_size", [1, 7, 64, 256])
def test_departures_do_not_depend_on_batch_size(batch_size):
    items = trace(400, gap_ns=300_000)
    _, want = run_graph(shaped("BandwidthShaper", {"rate": 1_000_000}), Feed(items),
                        batch_size=1)
    _, got = run_graph(shaped("BandwidthShaper", {"rate": 1_000_000}), Feed(items),
                       batch_size=batch_size)
    assert [(d.t, d.frame) for d in got] == [(d.t, d.frame) for d in want]


def test_drain_empties_the_queue_after_the_trace():
    # Everything arrives at t=0; the shaper needs 99 * 10 ms more to send it all.
    items = [(0, bytes(100))] * 100
    c, out = run_graph(shaped("BandwidthShaper", {"rate": 10_000}), Feed(items))
    assert len(out) == 100 and out[-1].t == 99 * 10 * MS
    assert c.element("q")["held"] == 0 and c.element("q")["highwater_length"] == 100


def test_overflow_is_counted_and_accounting_holds():
    items = [(0, bytes(100))] * 50  # all at once into a queue of 10
    c, out = run_graph(shaped("BandwidthShaper", {"rate": 10_000}, capacity=10), Feed(items),
                       batch_size=50)
    assert len(out) == 10
    assert c.element("q")["drops"] == {"full": 40}
    assert c.entered == 50 == len(out) + c.total_dropped()


def test_malformed_and_odd_frames_pass_the_shaper_byte_for_byte():
    frames = [b"", b"\x00", bytes(range(256)) * 7, b"\xff" * 1920]
    items = [(k * MS, f) for k, f in enumerate(frames * 5)]
    _c, out = run_graph(shaped("BandwidthShaper", {"rate": 1_000_000}), Feed(items))
    assert [d.frame for d in out] == [f for _, f in items]


def test_unsorted_timestamps_never_go_back_in_time_and_lose_nothing():
    items = [((k * 7919) % 1000 * MS, bytes(200)) for k in range(500)]
    _c, out = run_graph(shaped("BandwidthShaper", {"rate": 100_000}), Feed(items))
    assert len(out) == 500
    assert all(a.t <= b.t for a, b in itertools.pairwise(out))


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 5 * MS), st.integers(0, 1600)), min_size=1,
                max_size=120),
       st.integers(1_000, 2_000_000), st.sampled_from([1, 3, 64]))
def test_shaper_matches_the_event_simulation(gaps, rate, batch_size):
    t, items, arrivals = 0, [], []
    for k, (gap, length) in enumerate(gaps):
        t += gap
        items.append((t, bytes([k & 0xFF]) * length))
        arrivals.append((t, 0, length, k))
    want, _ = simulate(arrivals, 1, "prio", rate, capacity=10**6)
    _c, out = run_graph(shaped("BandwidthShaper", {"rate": rate}, capacity=200), Feed(items),
                       batch_size=batch_size)
    assert [(d.t, d.frame[:1]) for d in out] == [(tt, bytes([k & 0xFF]) * min(1, gaps[k][1]))
                                                 for tt, k in want]


@pytest.mark.parametrize("kind,config", [
    ("BandwidthShaper", {"rate": 0}), ("BandwidthShaper", {"rate": 10, "burst": 1}),
    ("RatedUnqueue", {"rate": 10, "burst_size": 0}), ("RatedUnqueue", {"rate": "10"}),
    ("BandwidthRatedUnqueue", {"rate": 10**13}), ("Unqueue", {"burst": 4}),
])
def test_bad_config_is_a_clear_error(kind, config):
    with pytest.raises(ValidationError):
        lookup(kind).Config(**config)
