"""The invariant: a compiled plan is observably the naive chain.

For every shipped chain and for chains drawn by hypothesis from the shipped
middleboxes, over traffic drawn by hypothesis (flows that open, carry data and close,
with gaps long enough for timeouts; a NAT with few ports so that it runs out; and
malformed frames), the plan and the naive chain emit the same bytes on every port,
in the same order, and drop the same number of packets per middlebox. No packet
skips a firewall verdict: the firewall's counts are the same on both paths.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from elementkit import any_frames
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from elements.batch import load_frames
from msh.chain import Chain, Middlebox, load_chain
from msh.chainrun import run_chain
from msh.compiler import compile_chain
from msh.yamlgraph import load

ROOT = Path(__file__).resolve().parents[2]
CHAINS = sorted((ROOT / "graphs" / "chains").glob("*.yaml"))
SEC = 1_000_000_000


class Frames:
    def __init__(self, frames, stamps):
        self.frames, self.stamps, self.total = list(frames), list(stamps), len(frames)

    def fill(self, b, n):
        take, self.frames = self.frames[:n], self.frames[n:]
        ts, self.stamps = self.stamps[:n], self.stamps[n:]
        return load_frames(b, take, ts) if take else 0


# Flows the firewall allows (80, 443, 53), denies (3306, 161) or sends to ssh rules.
DPORTS = [80, 443, 22, 3306, 8080]
UDP_DPORTS = [53, 161, 123]


def flow_frame(flow: int, kind: str, size: int) -> bytes:
    ip = IP(src=f"10.0.{flow % 3 * 16}.{flow % 7 + 1}", dst=f"192.168.1.{flow % 5 + 1}")
    if kind == "udp":
        l4 = UDP(sport=2000 + flow, dport=UDP_DPORTS[flow % len(UDP_DPORTS)])
    else:
        l4 = TCP(sport=2000 + flow, dport=DPORTS[flow % len(DPORTS)], flags=kind, seq=flow)
    return bytes(Ether() / ip / l4 / (b"p" * size))


event = st.one_of(
    st.tuples(st.integers(0, 40), st.sampled_from(["S", "A", "PA", "PA", "FA", "R", "udp"]),
              st.integers(0, 64), st.sampled_from([0, 1000, SEC, 200 * SEC])),
    st.tuples(st.just(-1), any_frames(), st.just(0), st.just(1000)),
)


def traffic(events):
    frames, stamps, now = [], [], 0
    for flow, kind, size, gap in events:
        now += gap
        frames.append(kind if flow < 0 else flow_frame(flow, kind, size))
        stamps.append(now)
    return frames, stamps


def assert_equivalent(chain_factory, frames, stamps, batch=32):
    plan = compile_chain(chain_factory())
    naive = run_chain(plan, "naive", Frames(frames, stamps), batch_size=batch, capture=True)
    msh = run_chain(plan, "msh", Frames(frames, stamps), batch_size=batch, capture=True)
    assert msh.outputs == naive.outputs
    assert msh.drops_by_middlebox() == naive.drops_by_middlebox()
    assert list(msh.counters.exits) == list(naive.counters.exits)
    for name in msh.counters.names:
        if name.startswith("fw/") and name.endswith("rules"):  # the firewall's verdicts
            assert msh.counters.element(name)["out"] == naive.counters.element(name)["out"]
            assert msh.counters.element(name)["drops"] == naive.counters.element(name)["drops"]
    return plan, msh


def small_nat_chain() -> Chain:
    """FW -> NAT with 8 ports (it runs out) -> LB, short UDP timeout."""
    return Chain("fw-nat-lb-small", [
        Middlebox("fw", load(ROOT / "graphs/firewall.yaml")),
        Middlebox("nat", load(ROOT / "graphs/nat.yaml", {"ports": "5000-5007"})),
        Middlebox("lb", load(ROOT / "graphs/lb.yaml",
                             {"vip": "192.168.1.0", "vip_prefix": 24, "vport": None,
                              "timeout": 30.0})),
    ])


@settings(max_examples=40, deadline=None)
@given(st.lists(event, min_size=1, max_size=150))
def test_fw_nat_lb_with_exhaustion_timeouts_and_junk(events):
    frames, stamps = traffic(events)
    assert_equivalent(small_nat_chain, frames, stamps)


@pytest.mark.parametrize("path", CHAINS, ids=lambda p: p.stem)
@settings(max_examples=10, deadline=None)
@given(events=st.lists(event, min_size=1, max_size=100))
def test_every_shipped_chain(path, events):
    frames, stamps = traffic(events)
    assert_equivalent(lambda: load_chain(path), frames, stamps)


@pytest.mark.parametrize("path", CHAINS, ids=lambda p: p.stem)
def test_shipped_chain_on_many_flows(path):
    """Thousands of flows, each a handful of packets: the cache must hit and agree."""
    frames, stamps = [], []
    for rnd in range(3):
        for flow in range(400):
            frames.append(flow_frame(flow, "S" if rnd == 0 else "PA", 40))
            stamps.append(len(stamps) * 1000)
    plan, msh = assert_equivalent(lambda: load_chain(path), frames, stamps, batch=256)
    if plan.graph.graph.get("cache"):
        assert msh.counters.cache["hits"] > 0


def test_a_hit_whose_mapping_was_evicted_walks_again():
    """A NAT of two mappings: the third flow evicts the first, whose decision-cache
    entry still stands; the first flow's next packet must not replay the evicted
    mapping (port 5000) but get a new one (5003, ports handed out in turn), as the
    naive chain does."""
    def tiny_nat_chain() -> Chain:
        return Chain("fw-nat-lb-tiny", [
            Middlebox("fw", load(ROOT / "graphs/firewall.yaml")),
            Middlebox("nat", load(ROOT / "graphs/nat.yaml",
                                  {"ports": "5000-5007#", "capacity": 2})),
            Middlebox("lb", load(ROOT / "graphs/lb.yaml",
                                 {"vip": "192.168.1.0", "vip_prefix": 24, "vport": None})),
        ])
    flows = [0, 1, 5, 0]  # 10 s apart: past the 5 s guarantee, so the oldest is evicted
    frames = [flow_frame(f, "A", 10) for f in flows]
    stamps = [10 * SEC * (k + 1) for k in range(len(flows))]
    _, msh = assert_equivalent(tiny_nat_chain, frames, stamps, batch=1)
    sports = [Ether(f)[TCP].sport for port, f in msh.outputs if port == 0]
    assert sports == [5000, 5001, 5002, 5003]
    assert msh.counters.cache["hits"] == 0  # the first flow's entry was refused
