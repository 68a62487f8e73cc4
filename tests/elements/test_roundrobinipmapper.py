"""Click's RoundRobinIPMapper, spelled as IPRewriter's ``roundrobin`` input spec: each
new flow takes the next pattern, a flow keeps its pattern, a pattern that cannot map
the flow passes it to the next one."""

import pytest
from elementkit import make, outcome
from nat_helpers import checksums_ok, run_timed, tcp
from pydantic import ValidationError
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether


def where(frame):
    p = Ether(frame)
    return p[IP].src, p[TCP].sport


def test_new_flows_take_patterns_in_turn_and_stick():
    el = make("IPRewriter", inputs=[
        "roundrobin 192.0.2.1 2000-2999# - - 0 2 | 192.0.2.2 3000-3999# - - 1 2", "drop"])
    flows = [tcp(f"10.0.0.{k}", "8.8.8.8", 5, 80, "S") for k in range(1, 5)]
    frames = flows + [flows[0], flows[1], tcp("8.8.8.8", "192.0.2.2", 80, 3001, "SA")]
    got = run_timed(el, frames, [0] * 6 + [1], [0] * 7, n_outputs=3)
    assert [where(f) for f in got.frames[:6]] == [
        ("192.0.2.1", 2000), ("192.0.2.2", 3000), ("192.0.2.1", 2001), ("192.0.2.2", 3001),
        ("192.0.2.1", 2000), ("192.0.2.2", 3000)]
    assert got.results == [0, 1, 0, 1, 0, 1, 2]  # each pattern's own outputs
    assert Ether(got.frames[6])[IP].dst == "10.0.0.4"
    assert all(checksums_ok(f) for f in got.frames)


def test_an_exhausted_pattern_passes_the_flow_to_the_next():
    el = make("IPRewriter", inputs=[
        "roundrobin 192.0.2.1 2000-2001# - - 0 1 | 192.0.2.2 3000-3002# - - 0 1"])
    frames = [tcp(f"10.0.0.{k}", "8.8.8.8", 5, 80, "S") for k in range(1, 8)]
    got = run_timed(el, frames, [0] * 7, [0] * 7)
    assert [outcome(el, r) for r in got.results] == ["out0"] * 5 + ["drop:mapping_failure"] * 2
    assert [where(f) for f in got.frames[:5]] == [
        ("192.0.2.1", 2000), ("192.0.2.2", 3000), ("192.0.2.1", 2001), ("192.0.2.2", 3001),
        ("192.0.2.2", 3002)]
    assert el.counters(got.state)["mapping_failures"] == 2  # one per refused flow


@pytest.mark.parametrize("spec", ["roundrobin", "roundrobin 1.2.3.4 1024-2000 - - 0 1 |",
                                  "roundrobin 1.2.3.4 1024-2000 - - 0 1 | keep 0 1"])
def test_bad_roundrobin_specs(spec):
    with pytest.raises(ValidationError):
        make("IPRewriter", inputs=[spec])
