"""TokenBucketPolicer, RatedSplitter, BandwidthRatedSplitter: known answers, the JIT
kernel against the exact-fraction reference, long-run rates, config errors."""

import pytest
from elementkit import Run, assert_same, make, outcome, run_kernel
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from shaperkit import Feed, graph, run_graph

from elements.reference import Packet

MS = 1_000_000
S = 1_000_000_000


def timed(lengths_and_times):
    frames = [bytes(n) for n, _ in lengths_and_times]
    return frames, [{"timestamp": t} for _, t in lengths_and_times]


def results(el, items, n_outputs=2):
    """Run kernel and reference over (length, timestamp) packets; compare; name results."""
    frames, ann = timed(items)
    got = run_kernel(el, frames, n_outputs=n_outputs, annotations=ann)
    el.make_state(n_outputs)  # a fresh reference bucket
    packets = [Packet.of(f, timestamp=t) for f, (_, t) in zip(frames, items)]
    want = Run([el.reference(p, 0) for p in packets], packets)
    assert_same(el, got, want)
    return [outcome(el, r) for r in got.results], got


def test_policer_known_answer_drop():
    # 1000 B/s, burst 1500 B, full at the start.
    el = make("TokenBucketPolicer", rate=1000, burst=1500)
    items = [(1000, 0), (1000, 0),          # 1500 -> 500; 500 < 1000: exceeded
             (1000, 500 * MS),              # 500 + 500 = 1000 -> 0
             (100, 600 * MS),               # 0 + 100 = 100 -> 0
             (1600, 10 * S),                # capped at 1500 < 1600: never conforms
             (1500, 10 * S)]                # 1500 -> 0
    names, got = results(el, items)
    assert names == ["out0", "drop:exceeded", "out0", "out0", "drop:exceeded", "out0"]
    assert el.counters(got.state) == {"conformed": 4, "exceeded": 2}


def test_policer_paint_and_split():
    items = [(1000, 0)] * 3
    names, got = results(make("TokenBucketPolicer", rate=1000, burst=2000, action="paint",
                              color=7), items)
    assert names == ["out0"] * 3 and [p.paint for p in got.packets] == [0, 0, 7]
    names, _ = results(make("TokenBucketPolicer", rate=1000, burst=2000, action="split"), items)
    assert names == ["out0", "out0", "out1"]


def test_rated_splitter_known_answer():
    # 10 pps, burst 2: two pass at t=0, then one per 100 ms.
    el = make("RatedSplitter", rate=10, burst_size=2)
    items = [(60, 0)] * 3 + [(60, 99 * MS), (60, 100 * MS), (60, 150 * MS), (60, 300 * MS)]
    names, _ = results(el, items)
    assert names == ["out0", "out0", "out1", "out1", "out0", "out1", "out0"]


def test_bandwidth_rated_splitter_lets_a_packet_through_on_any_credit():
    # 1000 B/s, 100 B of credit: a 1500-B packet passes (credit 100 >= 0) and leaves a
    # 1400-B debt: the next packets go to output 1 until it is paid back (1.4 s).
    el = make("BandwidthRatedSplitter", rate=1000, burst_bytes=100)
    items = [(1500, 0), (10, S), (10, 1400 * MS), (10, 1401 * MS)]
    names, _ = results(el, items)
    assert names == ["out0", "out1", "out0", "out1"]


def test_default_bursts_are_20_ms_of_rate():
    assert make("RatedSplitter", rate=1000).capacity() == 20
    assert make("RatedSplitter", rate=10).capacity() == 1
    assert make("BandwidthRatedSplitter", rate=125000).capacity() == 2500


items_strategy = st.lists(st.tuples(st.integers(0, 1600), st.integers(0, 50 * MS)),
                          max_size=80)


def sorted_times(draw_items, unsorted):
    if unsorted:
        return draw_items
    t, out = 0, []
    for n, gap in draw_items:
        t += gap
        out.append((n, t))
    return out


@settings(max_examples=150)
@given(items_strategy, st.booleans(), st.integers(1, 10**7), st.integers(1, 5000),
       st.sampled_from(["drop", "paint", "split"]))
def test_policer_kernel_matches_reference(items, unsorted, rate, burst, action):
    results(make("TokenBucketPolicer", rate=rate, burst=burst, action=action),
            sorted_times(items, unsorted))


@settings(max_examples=100)
@given(items_strategy, st.booleans(), st.integers(1, 10**5), st.one_of(st.none(),
                                                                    st.integers(1, 50)))
def test_rated_splitter_kernel_matches_reference(items, unsorted, rate, burst):
    results(make("RatedSplitter", rate=rate, burst_size=burst), sorted_times(items, unsorted))


@settings(max_examples=100)
@given(items_strategy, st.booleans(), st.integers(1, 10**7), st.one_of(st.none(),
                                                                    st.integers(0, 5000)))
def test_bandwidth_rated_splitter_kernel_matches_reference(items, unsorted, rate, burst):
    results(make("BandwidthRatedSplitter", rate=rate, burst_bytes=burst),
            sorted_times(items, unsorted))


def test_policer_long_run_rate_and_accounting_in_a_graph():
    # 1000-B packets at 4x the rate for 10 s: what conforms is the burst plus what the
    # rate earned, to within one packet.
    rate, burst = 100_000, 3000
    items = [(k * 2_500_000, bytes(1000)) for k in range(4000)]
    g = graph({"p": ("TokenBucketPolicer", {"rate": rate, "burst": burst, "action": "split"})},
              ["in -> p", "p -> out", "p[1] -> [1]out"])
    c, out = run_graph(g, Feed(items))
    passed = sum(d.length for d in out if d.port == 0)
    earned = burst + rate * items[-1][0] // S
    assert earned - 1000 < passed <= earned
    assert c.entered == len(out) == 4000


def test_time_going_backwards_adds_no_tokens():
    el = make("TokenBucketPolicer", rate=1000, burst=1000)
    names, _ = results(el, [(1000, 5 * S), (1000, 1 * S), (1000, 5 * S + 999 * MS),
                            (1000, 6 * S)])
    assert names == ["out0", "drop:exceeded", "drop:exceeded", "out0"]


@pytest.mark.parametrize("kind,config", [
    ("TokenBucketPolicer", {"rate": 1000}),
    ("TokenBucketPolicer", {"rate": 1000, "burst": 0}),
    ("TokenBucketPolicer", {"rate": 1000, "burst": 10, "action": "mark"}),
    ("TokenBucketPolicer", {"rate": 1000, "burst": 10, "color": 3}),
    ("TokenBucketPolicer", {"rate": 1000, "burst": 10, "action": "paint", "color": 256}),
    ("RatedSplitter", {"rate": -1}),
    ("BandwidthRatedSplitter", {"rate": 10, "burst_size": 3}),
])
def test_bad_config_is_a_clear_error(kind, config):
    with pytest.raises(ValidationError):
        make(kind, **config)
