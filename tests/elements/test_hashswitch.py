"""HashSwitch: Click's byte-sum hash, known answers, short packets, kernel == reference."""

import pytest
from elementkit import any_frames, compare
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from elements.batch import load_frames, make_batch
from elements.lb.hashswitch import HashSwitch, HashSwitchConfig
from elements.reference import from_batch


def verdicts(offset, length, n_outputs, frames):
    el = HashSwitch("hs", HashSwitchConfig(offset=offset, length=length))
    s = el.make_state(n_outputs)
    b = make_batch(max(len(frames), 1))
    load_frames(b, frames)
    return [int(el.kernel(b, i, s, 0)) for i in range(len(frames))]


def test_known_answers():
    # sum of bytes 2..5 = 1+2+3+4 = 10; 3 outputs: 10 % 3 = 1
    frame = bytes([9, 9, 1, 2, 3, 4, 9])
    assert verdicts(2, 4, 3, [frame]) == [1]
    # 4 outputs: (10 ^ (10 >> 4)) & 3 = 10 & 3 = 2
    assert verdicts(2, 4, 4, [frame]) == [2]
    # 8 outputs, d = 0x1F0 = 496: (496 ^ 31) & 7 = 7
    assert verdicts(0, 2, 8, [bytes([0xF8, 0xF8])]) == [7]
    # 5 outputs: 496 % 5 = 1
    assert verdicts(0, 2, 5, [bytes([0xF8, 0xF8])]) == [1]


def test_short_packet_goes_to_output_0():
    assert verdicts(16, 4, 3, [bytes(19), bytes(20)[:19], b""]) == [0, 0, 0]
    assert verdicts(0, 1, 3, [bytes([2])]) == [2]


def test_same_bytes_same_output_and_spread():
    frames = [bytes(16) + bytes([10, 0, 0, k]) for k in range(256)]
    out = verdicts(16, 4, 7, frames)
    assert out == verdicts(16, 4, 7, frames)
    assert set(out) == set(range(7))


def test_offset_counts_from_head():
    b = make_batch(1)
    load_frames(b, [bytes([1, 2, 3])])
    b.head[0] += 1  # as if Strip(1) ran
    b.length[0] -= 1
    el = HashSwitch("hs", HashSwitchConfig(offset=0, length=1))
    assert el.kernel(b, 0, el.make_state(3), 0) == 2  # byte 2 % 3


def test_config_errors():
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        HashSwitchConfig(offset=0, length=0)
    with pytest.raises(ValidationError):
        HashSwitchConfig(offset=-1, length=4)
    with pytest.raises(ValidationError):
        HashSwitchConfig(offset=0, length=4, bogus=1)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 40), st.integers(1, 40), st.integers(1, 12),
       st.lists(st.binary(max_size=80), min_size=1, max_size=8))
def test_kernel_matches_reference(offset, length, n, frames):
    el = HashSwitch("hs", HashSwitchConfig(offset=offset, length=length))
    s = el.make_state(n)
    b = make_batch(len(frames))
    load_frames(b, frames)
    for i in range(len(frames)):
        want = el.reference(from_batch(b, i), 0)
        assert el.kernel(b, i, s, 0) == want
        assert 0 <= want < n


def test_docstring_example_runs():
    from elementkit import example_yaml, run_graph

    from msh.yamlgraph import load

    g = load("<example>", text=example_yaml(HashSwitch))
    frames = [bytes(16) + bytes([10, 0, 0, k]) for k in range(8)]
    seen, _ = run_graph(g, frames)
    assert [port for port, _ in seen] == [(10 + k ^ (10 + k) >> 4) & 1 for k in range(8)]


@settings(max_examples=100, deadline=None)
@given(st.lists(any_frames(), min_size=1, max_size=8), st.integers(1, 9),
       st.sampled_from([(26, 8), (14, 20), (0, 1), (30, 4)]))
def test_elementkit_compare_on_real_frames(frames, n, where):
    compare(HashSwitch("hs", HashSwitchConfig(offset=where[0], length=where[1])), frames,
            n_outputs=n)
