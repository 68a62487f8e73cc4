"""Queue: FIFO storage with Click's capacity, overflow counted or sent to output 1,
packets stored byte for byte with every annotation, held packets accounted for."""

import pytest
from elementkit import any_frames, assert_same, make, outcome, run_kernel, run_reference
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from shaperkit import Feed, graph, run_graph

from elements.element import HELD
from msh.runtime import Program, run


def test_known_answer_capacity_and_counters():
    el = make("Queue", capacity=3)
    got = run_kernel(el, [b"a", b"bb", b"ccc", b"dddd", b"e"])
    assert got.results == [HELD] * 3 + [-1, -1]
    assert [outcome(el, r) for r in got.results[3:]] == ["drop:full"] * 2
    assert el.counters(got.state) == {"length": 3, "held": 3, "highwater_length": 3,
                                      "capacity": 3}


def test_overflow_goes_to_output_1_when_connected():
    got = run_kernel(make("Queue", capacity=2), [b"a"] * 4, n_outputs=2)
    assert got.results == [HELD, HELD, 1, 1]


def test_default_capacity_is_clicks_1000():
    assert make("Queue").config.capacity == 1000


@settings(max_examples=80)
@given(st.lists(any_frames(), max_size=12), st.integers(1, 8), st.integers(1, 2))
def test_kernel_matches_reference(frames, capacity, n_outputs):
    el = make("Queue", capacity=capacity)
    got = run_kernel(el, frames, n_outputs=n_outputs)
    want = run_reference(el, frames, n_outputs=n_outputs)
    assert_same(el, got, want)


@settings(max_examples=50)
@given(st.lists(st.tuples(any_frames(), st.integers(0, 255), st.integers(0, 2**32 - 1)),
                max_size=40), st.sampled_from([1, 5, 64]))
def test_stored_packets_come_out_unchanged_in_order(packets, batch_size):
    # Queue -> out: drained as they arrive; bytes, paint, dst_anno and time kept.
    items = [(k * 1000, f, {"paint": p, "dst_anno": d}) for k, (f, p, d) in
             enumerate(packets)]
    g = graph({"q": ("Queue", {"capacity": 64})}, ["in -> q", "q -> out"])
    c, out = run_graph(g, Feed(items), batch_size=batch_size)
    assert [(d.t, d.frame, d.paint) for d in out] == [(t, f, a["paint"]) for t, f, a in items]
    assert c.entered == len(out)


def test_l3_offsets_and_head_survive_the_queue():
    g = graph({"s": ("Strip", {"length": 14}), "q": ("Queue", {})},
              ["in -> s", "s -> q", "q -> out"])
    frame = bytes(range(60))
    seen = []
    prog = Program(g, batch_size=4)

    def look(b):
        seen.extend((int(b.head[i]), int(b.length[i]), int(b.l3[i])) for i in range(b.meta[0])
                    if b.port[i] == 0)

    run(prog, feed=Feed([(0, frame, {"l3": 142})]), on_batch=look)
    assert seen == [(128 + 14, 46, 142)]


def test_packets_nobody_pulls_stay_held_and_are_accounted_for():
    g = graph({"q": ("Queue", {"capacity": 5})}, ["in -> q"])
    c, out = run_graph(g, Feed([(0, b"x")] * 8))
    assert out == []
    assert c.element("q")["held"] == 5 and c.element("q")["drops"] == {"full": 3}


@pytest.mark.parametrize("config", [{"capacity": 0}, {"capacity": 1 << 17},
                                    {"capacity": "10"}, {"size": 10}])
def test_bad_config_is_a_clear_error(config):
    with pytest.raises(ValidationError):
        make("Queue", **config)
