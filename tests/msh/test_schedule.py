"""msh/schedule.py: pull trees checked and found, released packets walked on and
accounted for, the live clock, the docstring examples and graphs/shaper.yaml."""

import time
from pathlib import Path

import pytest
from elementkit import example_yaml
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from shaperkit import Feed, graph, measured_rate, run_graph

from elements.element import lookup
from msh.errors import GraphError
from msh.runtime import Program, run
from msh.schedule import pull_roots, release_source
from msh.yamlgraph import load

ROOT = Path(__file__).resolve().parents[2]
KINDS = ["Queue", "PrioSched", "RoundRobinSched", "BandwidthShaper", "RatedUnqueue",
         "BandwidthRatedUnqueue", "Unqueue", "TokenBucketPolicer", "RatedSplitter",
         "BandwidthRatedSplitter"]
MS = 1_000_000


@pytest.mark.parametrize("kind", KINDS)
def test_docstring_example_loads_and_runs(kind):
    g = load(f"<{kind} example>", text=example_yaml(lookup(kind)))
    items = [(k * MS, bytes(100 + k), {"paint": k % 2}) for k in range(50)]
    c, _out = run_graph(g, Feed(items))
    assert c.entered == 50


def test_roots_are_the_elements_that_push_what_they_pull():
    g = graph({"q0": ("Queue", {}), "q1": ("Queue", {}), "q2": ("Queue", {}),
               "s": ("BandwidthShaper", {"rate": 10}), "u": ("RatedUnqueue", {"rate": 5}),
               "cnt": ("Counter", {}), "ps": ("PaintSwitch", {})},
              ["in -> ps", "ps[0] -> q0", "ps[1] -> q1", "ps[2] -> q2", "q0 -> s",
               "s -> cnt", "cnt -> out", "q1 -> u", "u -> out", "q2 -> [1]out"])
    assert pull_roots(g) == ["q2", "s", "u"]


def errors_of(elements, lines):
    with pytest.raises(GraphError) as exc:
        pull_roots(graph(elements, lines))
    return str(exc.value)


def test_pushing_into_a_pull_input_is_an_error_with_a_hint():
    text = errors_of({"cnt": ("Counter", {}), "ps": ("PrioSched", {})},
                     ["in -> cnt", "cnt -> ps", "ps -> out"])
    assert "'cnt :: Counter' pushes into pull input 0 of 'ps :: PrioSched'" in text
    assert "hint: put a Queue between them" in text


def test_pull_inputs_need_exactly_one_connection_each():
    text = errors_of({"a": ("Queue", {}), "b": ("Queue", {}), "ps": ("PrioSched", {})},
                     ["in -> a", "in -> b", "a -> ps", "b -> [2]ps", "ps -> out"])
    assert "pull input 1 of 'ps :: PrioSched' has 0 connections" in text


def test_a_pull_output_goes_to_one_place():
    text = errors_of({"a": ("Queue", {}), "s1": ("BandwidthShaper", {"rate": 1}),
                      "s2": ("BandwidthShaper", {"rate": 1})},
                     ["in -> a", "a -> s1", "a -> s2", "s1 -> out", "s2 -> [1]out"])
    assert "pull output 0 of 'a :: Queue' is connected 2 times" in text


def test_an_unqueue_must_push_somewhere_and_pull_from_something():
    text = errors_of({"a": ("Queue", {}), "u": ("Unqueue", {}), "v": ("Unqueue", {})},
                     ["in -> a", "a -> u", "v -> out"])
    assert "output 0 of 'u :: Unqueue' is not connected" in text
    assert "'v :: Unqueue' has no input to pull from" in text


def test_every_problem_is_reported_at_once():
    text = errors_of({"cnt": ("Counter", {}), "ps": ("PrioSched", {}),
                      "u": ("Unqueue", {})},
                     ["in -> cnt", "cnt -> ps", "ps -> out", "u -> [1]out"])
    assert text.count("error:") == 2


def test_release_code_is_generated_per_tree():
    g = graph({"q": ("Queue", {}), "s": ("BandwidthShaper", {"rate": 10})},
              ["in -> q", "q -> s", "s -> out"])
    src = release_source(g, pull_roots(g), {"q": 0, "s": 1})
    assert "def release_1(" in src and "def pull_1_0(" in src and "def avail_1_1(" in src


def test_released_packets_count_once_and_leave_the_held_count():
    g = graph({"q": ("Queue", {}), "s": ("BandwidthShaper", {"rate": 1000}),
               "cnt": ("Counter", {})},
              ["in -> q", "q -> s", "s -> cnt", "cnt -> out"])
    c, _out = run_graph(g, Feed([(0, bytes(100))] * 30))
    assert c.entered == 30 and c.exits[0] == 30 and c.element("q")["held"] == 0
    assert c.element("cnt")["count"] == 30 and c.element("s")["byte_count"] == 3000
    assert c.element("q")["out"][0] == 30 and c.element("s")["out"][0] == 30


def test_warm_up_compiles_every_kernel_and_changes_nothing():
    """A timed run after ``Program.warm_up`` compiles nothing (the walk and each pull
    tree's release kernel have their entry points), and it does what a cold run does."""
    def make():
        return graph({"q": ("Queue", {}), "s": ("BandwidthShaper", {"rate": 1000})},
                     ["in -> q", "q -> s", "s -> out"])
    feed = [(k * 1000, bytes(100)) for k in range(30)]
    warm = Program(make(), 8)
    warm.warm_up()
    assert warm.walk.entry is not None
    assert all(r.entry is not None for r in warm.schedule._release)
    cold = Program(make(), 8)
    assert run(warm, Feed(feed)).to_dict() == run(cold, Feed(feed)).to_dict()


def test_a_released_packet_may_enter_another_queue():
    g = graph({"q1": ("Queue", {}), "s1": ("BandwidthShaper", {"rate": 10_000}),
               "q2": ("Queue", {}), "s2": ("BandwidthShaper", {"rate": 5_000})},
              ["in -> q1", "q1 -> s1", "s1 -> q2", "q2 -> s2", "s2 -> out"])
    _c, out = run_graph(g, Feed([(0, bytes(500))] * 40))
    assert len(out) == 40 and abs(measured_rate(out) / 5_000 - 1) < 0.01


class LiveFeed(Feed):
    live = True


def test_live_traffic_is_released_by_the_wall_clock():
    now = time.time_ns()
    g = graph({"q": ("Queue", {}), "s": ("BandwidthShaper", {"rate": 10**9})},
              ["in -> q", "q -> s", "s -> out"])
    prog = Program(g, batch_size=8)
    released_during = []

    def seen(b):
        released_during.append(prog.schedule.now)

    feed = LiveFeed([(now + k, bytes(100)) for k in range(32)])
    c = run(prog, feed=feed, on_batch=seen)
    assert c.exits[0] == 32
    assert prog.schedule.live and prog.schedule.now >= now


def trace():
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    voice = bytes(eth / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5060, dport=5060)
                  / bytes(160))
    ssh = bytes(eth / IP(src="10.0.0.3", dst="10.0.0.4") / TCP(sport=5555, dport=22)
                / bytes(100))
    bulk = bytes(eth / IP(src="10.0.0.5", dst="10.0.0.6") / TCP(sport=6666, dport=80)
                 / bytes(1400))
    items = []
    for k in range(6000):  # 2 s: 5 kpps of mixed traffic, far above 1 Mbit/s
        frame = voice if k % 10 == 0 else ssh if k % 10 in (1, 2) else bulk
        items.append((k * 200_000, frame))
    return items, voice, ssh, bulk


def test_shaper_yaml_shapes_per_class():
    rate, voice_rate = 125_000, 25_000
    g = load(ROOT / "graphs/shaper.yaml", params={"rate": rate, "voice_rate": voice_rate,
                                                  "queue": 64})
    items, voice, ssh, bulk = trace()
    c, out = run_graph(g, Feed(items), batch_size=64)
    assert abs(measured_rate(out) / rate - 1) < 0.01
    by = {f: [d for d in out if d.frame == f] for f in (voice, ssh, bulk)}
    assert len(by[voice]) + len(by[ssh]) + len(by[bulk]) == len(out)
    # voice: offered 500 pps * 202 B = 101 kB/s, capped at 25 kB/s; it gets less, as it
    # can only take the link between packets of the other classes (up to 11.6 ms each)
    assert 0.5 * voice_rate < measured_rate(by[voice]) <= voice_rate
    # interactive and bulk share the rest packet by packet while both are backlogged
    assert abs(len(by[ssh]) / len(by[bulk]) - 1) < 0.05
    queues = ("voice", "interactive", "bulk")
    assert c.entered == len(out) + c.total_dropped()
    assert sum(c.element(q)["drops"].get("full", 0) for q in queues) == c.total_dropped()
