"""ICMPPingRewriter: echo requests get a new identifier and address, replies are mapped
back; scapy checks the checksums; kernel == reference on random ping sequences."""

from elementkit import make, outcome
from hypothesis import given, settings
from hypothesis import strategies as st
from nat_helpers import S, checksums_ok, run_timed
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

PUB = "198.51.100.1"


def ping(src, dst, ident, kind="echo-request", seq=1, data=b"abcdefgh", **ip):
    return Ether() / IP(src=src, dst=dst, **ip) / ICMP(type=kind, id=ident, seq=seq) / data


def test_echo_and_reply_are_rewritten_with_valid_checksums():
    el = make("ICMPPingRewriter", inputs=[f"pattern {PUB} 100-200# - - 0 1", "drop"])
    frames = [ping("10.0.0.1", "8.8.8.8", 7), ping("8.8.8.8", PUB, 100, "echo-reply"),
              ping("10.0.0.2", "8.8.8.8", 7), ping("8.8.8.8", PUB, 101, "echo-reply"),
              ping("10.0.0.1", "8.8.8.8", 7, seq=2)]
    got = run_timed(el, frames, [0, 1, 0, 1, 0], [0, S, 2 * S, 3 * S, 4 * S])
    assert got.results == [0, 1, 0, 1, 0]
    out = [Ether(f) for f in got.frames]
    assert (out[0][IP].src, out[0][ICMP].id) == (PUB, 100)
    assert (out[1][IP].dst, out[1][ICMP].id) == ("10.0.0.1", 7)
    assert (out[2][IP].src, out[2][ICMP].id) == (PUB, 101)
    assert (out[3][IP].dst, out[3][ICMP].id) == ("10.0.0.2", 7)
    assert out[4][ICMP].id == 100  # the mapping sticks
    assert all(checksums_ok(f) for f in got.frames)
    assert el.counters(got.state)["nmappings"] == 2


def test_unmapped_replies_other_types_exhaustion_and_expiry():
    el = make("ICMPPingRewriter", inputs=[f"pattern {PUB} 100-101# - - 0 1", "pass 1"],
              timeout=10, guarantee=0)
    unreachable = Ether() / IP(src="8.8.8.8", dst=PUB) / ICMP(type=3, code=1)
    late = ping("8.8.8.8", PUB, 100, "echo-reply")
    frames = [ping("8.8.8.8", PUB, 100, "echo-reply"), unreachable, unreachable,
              ping("10.0.0.1", "8.8.8.8", 7), ping("10.0.0.2", "8.8.8.8", 8),
              ping("10.0.0.3", "8.8.8.8", 9), late, ping("10.0.0.3", "8.8.8.8", 9)]
    got = run_timed(el, frames, [0, 0, 1, 0, 0, 0, 1, 0], [0, 0, 0, 0, S, S, 11 * S, 11 * S])
    assert [outcome(el, r) for r in got.results] == [
        "drop:no_mapping", "drop:unhandled", "out1", "out0", "out0", "drop:mapping_failure",
        "out1", "out0"]
    assert got.frames[6] == bytes(late)  # expired: passed unchanged on the pass input
    assert Ether(got.frames[7])[ICMP].id == 100
    assert el.counters(got.state)["mapping_failures"] == 1


@st.composite
def event(draw):
    inbound = draw(st.booleans())
    if inbound:
        frame = ping(draw(st.sampled_from(["8.8.8.8", "9.9.9.9"])), PUB,
                     draw(st.sampled_from([100, 101, 102, 7])),
                     draw(st.sampled_from(["echo-reply", "echo-request"])))
    else:
        frame = ping(draw(st.sampled_from(["10.0.0.1", "10.0.0.2"])),
                     draw(st.sampled_from(["8.8.8.8", "9.9.9.9"])),
                     draw(st.sampled_from([100, 7, 65535])),
                     draw(st.sampled_from(["echo-request", "echo-reply", 13])),
                     frag=draw(st.sampled_from([0, 0, 0, 2])))
    frame = bytes(frame)
    cut = draw(st.sampled_from([None] * 5 + [36, 38, 40, 42]))
    return (frame[:cut] if cut else frame), int(inbound), draw(st.integers(0, 4 * S))


@settings(max_examples=100)
@given(st.sampled_from([f"pattern {PUB} 100-102 - - 0 1", f"pattern {PUB} 100-102# - - 0 1",
                        "keep 0 1"]),
       st.sampled_from([1, 2, 8]), st.sampled_from([0, 1]), st.lists(event(), max_size=30))
def test_kernel_matches_reference(spec, capacity, guarantee, events):
    el = make("ICMPPingRewriter", inputs=[spec, "drop"], capacity=capacity, timeout=5,
              guarantee=guarantee)
    times, now = [], 0
    for _, _, dt in events:
        now += dt
        times.append(now)
    got = run_timed(el, [f for f, _, _ in events], [k for _, k, _ in events], times)
    for (frame, _, _), r, out in zip(events, got.results, got.frames):
        if r >= 0 and len(frame) == len(out) and len(frame) > 42 and Ether(frame)[IP].frag == 0:
            assert checksums_ok(out)
