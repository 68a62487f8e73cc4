"""IDSMatch against an independent oracle: ``bytes.find`` on each flow's reassembled
stream, over scapy-built TCP flows whose contents are split across segments."""

import itertools
import json
import random

import pytest
from elementkit import make, mark, outcome, run_kernel
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scapy.layers.inet import IP, TCP, UDP

from elements.ids.snortrules import parse_rules

LETTERS = "abAB"


def in_spec(entries, value):
    pos = [(a, b) for a, b, neg in entries if not neg]
    neg = [(a, b) for a, b, n in entries if n]
    return ((not pos or any(lo <= value <= hi for lo, hi in pos))
            and not any(lo <= value <= hi for lo, hi in neg))


def net_range(entries):
    """Nets as inclusive address ranges, so in_spec serves nets and ports alike."""
    return [(a, a | (~m & 0xFFFFFFFF), neg) for a, m, neg in entries]


def header_ok(rule, flow):
    saddr, daddr, sport, dport, proto = flow
    if rule.proto not in (0, proto):
        return False
    fwd = (in_spec(net_range(rule.src), saddr) and in_spec(net_range(rule.dst), daddr)
           and in_spec(rule.sport, sport) and in_spec(rule.dport, dport))
    rev = (in_spec(net_range(rule.src), daddr) and in_spec(net_range(rule.dst), saddr)
           and in_spec(rule.sport, dport) and in_spec(rule.dport, sport))
    return fwd or (rule.bidirectional and rev)


def fire_offset(rule, stream):
    """The stream offset of the byte that completes the rule (-1: no content), or None."""
    ends = []
    for c in rule.contents:
        hay, pat = (stream.lower(), c.pattern.lower()) if c.nocase else (stream, c.pattern)
        end = c.offset + c.depth if c.depth >= 0 else len(stream)
        at = hay.find(pat, c.offset, end)
        if at < 0:
            return None
        ends.append(at + len(pat))
    return max(ends) - 1 if ends else -1


def oracle(rules, flows, order, ips):
    """(alerts as (packet number, sid) set, set of dropped packet numbers).

    ``flows``: {flow: [payload segment, ...]} sent in order; ``order``: the packets as
    (flow, segment index) in the interleaved send order."""
    fires = {}  # (flow, segment) -> rules completed by that segment
    for flow, segs in flows.items():
        stream = b"".join(segs)
        starts = [sum(len(s) for s in segs[:k]) for k in range(len(segs))]
        for rule in rules:
            if not header_ok(rule, flow):
                continue
            at = fire_offset(rule, stream)
            if at is None:
                continue
            # a rule without content fires on the flow's first packet
            seg = max(k for k in range(len(segs)) if starts[k] <= at) if rule.contents else 0
            fires.setdefault((flow, seg), []).append(rule)
    alerts, dropped, blocked = set(), set(), set()
    for n, (flow, seg) in enumerate(order):
        if flow in blocked:
            dropped.add(n)
            continue
        fired = fires.get((flow, seg), [])
        if any(r.action == "pass" for r in fired):
            continue
        alerts |= {(n, r.sid) for r in fired}
        if ips and any(r.action == "drop" for r in fired):
            dropped.add(n)
            blocked.add(flow)
    return alerts, dropped


def tcp_frames(flows, order):
    seqs = {flow: 1000 + 7919 * k for k, flow in enumerate(flows)}
    frames = []
    for flow, seg in order:
        saddr, daddr, sport, dport, _ = flow
        payload = flows[flow][seg]
        seq = seqs[flow] + sum(len(s) for s in flows[flow][:seg])
        frames.append(bytes(IP(src=ip(saddr), dst=ip(daddr)) /
                            TCP(sport=sport, dport=dport, seq=seq, flags="PA") / payload))
    return frames


def ip(x):
    return ".".join(str((x >> s) & 255) for s in (24, 16, 8, 0))


def run_ids(rules_text, frames, tmp_path, **config):
    el = make("IDSMatch", rules=rules_text, alert_file=str(tmp_path / "alerts.json"), **config)
    got = run_kernel(el, frames, annotations=mark(frames, offset=0))
    el.flush(got.state)
    alerts = [json.loads(line) for line in (tmp_path / "alerts.json").read_text().splitlines()]
    return el, got, alerts


word = st.text(LETTERS, min_size=1, max_size=4)
contents = st.lists(st.tuples(word, st.booleans(), st.integers(0, 6),
                              st.none() | st.integers(0, 12)), min_size=0, max_size=3)
headers = st.sampled_from([
    "tcp any any -> any any", "tcp 10.0.0.0/8 any -> any 80", "ip any any -> 10.0.0.2 any",
    "tcp any any <> 10.0.0.1 [1000:1002,!1001]", "tcp !10.0.0.1 any -> any !80",
    "udp any any -> any any"])


short_text = st.text(LETTERS, min_size=0, max_size=40)


@st.composite
def long_text(draw):
    """Up to 900 bytes of letters no pattern has, with a few islands of pattern letters:
    what matches is rare and may lie anywhere, in either half of a long payload."""
    text = list(draw(st.text("xyz", min_size=0, max_size=900)))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        text[at:at] = draw(st.text(LETTERS, min_size=1, max_size=6))
    return "".join(text)


@st.composite
def scenario(draw, actions=("alert",), texts=short_text):
    rules = []
    for sid in range(1, draw(st.integers(1, 6)) + 1):
        opts = ""
        for pat, nocase, offset, depth in draw(contents):
            opts += f'content:"{pat}"; ' + ("nocase; " if nocase else "")
            opts += f"offset:{offset}; " if offset else ""
            opts += f"depth:{len(pat) + depth}; " if depth is not None else ""
        rules.append(f"{draw(st.sampled_from(actions))} {draw(headers)} ({opts}sid:{sid};)")
    flow_keys = [(0x0A000001, 0x0A000002, 1000 + k, 80 if k % 2 == 0 else 8080, 6)
                 for k in range(draw(st.integers(1, 3)))]
    flows = {}
    for key in flow_keys:
        text = draw(texts).encode()
        cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=5)))
        bounds = [0, *cuts, len(text)]
        flows[key] = [text[a:b] for a, b in itertools.pairwise(bounds)]
    order = [(key, k) for key in flow_keys for k in range(len(flows[key]))]
    rng = random.Random(draw(st.integers(0, 1 << 30)))
    # interleave flows but keep each flow's segments in order
    queues = {key: [(key, k) for k in range(len(flows[key]))] for key in flow_keys}
    order = []
    while any(queues.values()):
        key = rng.choice([k for k, q in queues.items() if q])
        order.append(queues[key].pop(0))
    return rules, flows, order


def check_alerts(tmp_path_factory, case):
    rules_text, flows, order = case
    tmp = tmp_path_factory.mktemp("ids")
    frames = tcp_frames(flows, order)
    rules = parse_rules("\n".join(rules_text))
    want, _ = oracle(rules, flows, order, ips=False)
    _el, got, alerts = run_ids(rules_text, frames, tmp)
    assert {(a["row"], a["sid"]) for a in alerts} == want
    assert len(alerts) == len(want)
    assert got.results == [0] * len(frames)


@settings(max_examples=150, deadline=None)
@given(scenario())
def test_alerts_equal_stream_search(tmp_path_factory, case):
    check_alerts(tmp_path_factory, case)


@settings(max_examples=40, deadline=None)
@given(scenario(texts=long_text()))
def test_long_payloads_scanned_in_two_halves_alert_as_the_stream_search(tmp_path_factory,
                                                                       case):
    """Payloads of ``SPLIT_MIN`` bytes or more are scanned as two halves at once."""
    check_alerts(tmp_path_factory, case)


@settings(max_examples=150, deadline=None)
@given(scenario(actions=("alert", "drop", "pass")), st.booleans())
def test_pass_and_drop_as_snort(tmp_path_factory, case, ips):
    rules_text, flows, order = case
    tmp = tmp_path_factory.mktemp("ips")
    frames = tcp_frames(flows, order)
    rules = parse_rules("\n".join(rules_text))
    want_alerts, want_dropped = oracle(rules, flows, order, ips=ips)
    el, got, alerts = run_ids(rules_text, frames, tmp, mode="ips" if ips else "ids")
    assert {(a["row"], a["sid"]) for a in alerts} == want_alerts
    dropped = {n for n, r in enumerate(got.results) if r < 0}
    assert dropped == want_dropped
    reasons = {outcome(el, got.results[n]) for n in dropped}
    assert reasons <= {"drop:rule_drop", "drop:flow_blocked"}
    rule_dropped = {n for n in dropped if outcome(el, got.results[n]) == "drop:rule_drop"}
    assert {a["row"] for a in alerts if a["blocked"]} == rule_dropped


def flow_frames(payloads, seq0=5000, syn=True, sport=1234):
    frames = []
    if syn:
        frames.append(bytes(IP(src="1.1.1.1", dst="2.2.2.2") /
                            TCP(sport=sport, dport=80, seq=(seq0 - 1) % 2**32, flags="S")))
    for seq, data in payloads:
        frames.append(bytes(IP(src="1.1.1.1", dst="2.2.2.2") /
                            TCP(sport=sport, dport=80, seq=(seq0 + seq) % 2**32, flags="PA") / data))
    return frames


def test_known_answer_split_pattern_and_alert_json(tmp_path):
    frames = flow_frames([(0, b"GET /et"), (7, b"c/pas"), (12, b"swd HTTP/1.0")])
    el, got, alerts = run_ids(
        ['alert tcp any any -> any 80 (msg:"passwd"; content:"/etc/passwd"; sid:7; rev:2;)'],
        frames, tmp_path)
    assert alerts == [{"sid": 7, "rev": 2, "msg": "passwd", "action": "alert", "blocked": False,
                       "ts": 0, "src": "1.1.1.1", "dst": "2.2.2.2", "sport": 1234, "dport": 80,
                       "proto": "tcp", "batch": 0, "row": 3}]
    assert el.counters(got.state)["alerts"] == 1


def test_a_match_anywhere_in_a_long_payload_is_found_once(tmp_path):
    """One 300-byte payload per flow with the pattern ending at every offset: each
    is found once, in either half of the two-half scan, across its middle and in the
    overlap; and a second segment completes a pattern begun at the first one's end
    (the state the second half left is the stream's)."""
    pattern = b"abcab"
    flows, order = {}, []
    for k in range(300 - len(pattern) + 1):
        key = (0x0A000001, 0x0A000002, 1000 + k, 80, 6)
        flows[key] = [b"x" * k + pattern + b"y" * (300 - len(pattern) - k)]
        order.append((key, 0))
    key = (0x0A000001, 0x0A000002, 999, 80, 6)  # no output in the second half
    flows[key] = [b"z" * 297 + pattern[:3], pattern[3:] + b"z" * 200]
    order += [(key, 0), (key, 1)]
    key = (0x0A000001, 0x0A000002, 998, 80, 6)  # an output there, replayed
    flows[key] = [b"z" * 200 + pattern + b"z" * 92 + b"qz", b"q" + b"z" * 200]
    order += [(key, 0), (key, 1)]
    rules = [f'alert tcp any any -> any any (content:"{pattern.decode()}"; sid:1;)',
             'alert tcp any any -> any any (content:"ABCAB"; nocase; sid:2;)',
             'alert tcp any any -> any any (content:"qzq"; sid:3;)']
    _el, _got, alerts = run_ids(rules, tcp_frames(flows, order), tmp_path)
    rows = [n for n, (key, seg) in enumerate(order) if pattern in flows[key][seg]]
    n = len(order)
    assert sorted((a["row"], a["sid"]) for a in alerts) == sorted(
        [(k, sid) for k in rows for sid in (1, 2)]
        + [(n - 3, 1), (n - 3, 2), (n - 1, 3)])


@pytest.mark.parametrize("repeats", [0, *range(25, 46), 60])
def test_a_second_half_with_many_outputs_goes_on_byte_by_byte(tmp_path, repeats):
    """A second half notes up to ``MAX_DEFER`` (32) outputs, then stops; the scan goes
    on from there: a pattern after them, required at its exact offset, is found (for
    some repeat count it is the output where the second half stopped)."""
    payload = b"y" * 160 + b"abcab" * repeats + b"qzq" + b"y" * 20
    at = payload.index(b"qzq")
    rules = ['alert tcp any any -> any any (content:"abcab"; offset:400; sid:1;)',
             'alert tcp any any -> any any (content:"ABCAB"; nocase; sid:2;)',
             f'alert tcp any any -> any any (content:"qzq"; offset:{at}; depth:3; sid:3;)']
    key = (0x0A000001, 0x0A000002, 1000, 80, 6)
    _el, _got, alerts = run_ids(rules, tcp_frames({key: [payload]}, [(key, 0)]), tmp_path)
    want = {3} | ({2} if repeats else set()) | ({1} if b"abcab" in payload[400:] else set())
    assert sorted(a["sid"] for a in alerts) == sorted(want)


def test_out_of_order_policy(tmp_path):
    """A hole restarts the stream: nothing spans it; the late filler is scanned alone."""
    rules = ['alert tcp any any -> any any (content:"abcdef"; sid:1;)',
             'alert tcp any any -> any any (content:"XYZ"; sid:2;)',
             'alert tcp any any -> any any (content:"zz"; offset:10; depth:2; sid:3;)']
    # stream: "..abc" "def..." sent as: first, third (hole), second (late)
    frames = flow_frames([(0, b"..abc"), (10, b"zz"), (5, b"dXYZe")])
    el, got, alerts = run_ids(rules, frames, tmp_path)
    assert {(a["row"], a["sid"]) for a in alerts} == {(2, 3), (3, 2)}
    c = el.counters(got.state)
    assert (c["out_of_order"], c["old_segments"]) == (1, 1)


def test_retransmitted_overlap_scans_only_new_bytes(tmp_path):
    rules = ['alert tcp any any -> any any (content:"abcd"; sid:1;)']
    frames = flow_frames([(0, b"xxab"), (0, b"xxabcd")])  # overlap: "cd" is new
    _el, _got, alerts = run_ids(rules, frames, tmp_path)
    assert [(a["row"], a["sid"]) for a in alerts] == [(2, 1)]


def test_udp_is_matched_per_packet(tmp_path):
    frames = [bytes(IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=53, dport=53) / b"xxEVIL")] * 2
    _el, _got, alerts = run_ids([('alert udp any 53 -> any any (content:"evil"; nocase; '
                               'offset:2; depth:4; sid:9;)')], frames, tmp_path)
    assert [(a["row"], a["sid"]) for a in alerts] == [(0, 9), (1, 9)]


def test_headless_rule_and_sequence_wrap(tmp_path):
    frames = flow_frames([(0, b"ab"), (2, b"cd")], seq0=0xFFFFFFFF)  # wraps at 2**32
    el, got, alerts = run_ids(['drop tcp any any -> any 80 (content:"bc"; sid:1;)',
                               'alert tcp 1.1.1.1 any -> any any (sid:2;)'], frames, tmp_path,
                              mode="ips")
    assert [(a["row"], a["sid"]) for a in alerts] == [(0, 2), (2, 1)]
    assert [outcome(el, r) for r in got.results] == ["out0", "out0", "drop:rule_drop"]


def test_malformed_and_uninspected_packets(tmp_path):
    good = bytes(IP(src="1.1.1.1", dst="2.2.2.2") / TCP() / b"x")
    bad_doff = bytearray(good)
    bad_doff[32] = 0x40  # data offset 4 words
    past_end = bytearray(good)
    past_end[32] = 0xF0  # 60-byte header in a 41-byte packet
    frames = [bytes(bad_doff), bytes(past_end), good[:30], b"\x00" * 10,
              bytes(IP(src="1.1.1.1", dst="2.2.2.2", frag=3, proto=6) / b"frag")]
    el, got, _alerts = run_ids(['alert ip any any -> any any (content:"x"; sid:1;)'], frames,
                              tmp_path)
    assert [outcome(el, r) for r in got.results] == [
        "drop:malformed", "drop:malformed", "drop:malformed", "out0", "out0"]
    assert el.counters(got.state)["not_inspected"] == 2


def test_rule_errors_name_file_and_line(tmp_path):
    """Bad rules are config errors: the graph loader reports them at load time."""
    f = tmp_path / "rules.rules"
    f.write_text("alert tcp any any -> any any (content:\"a\"; sid:1;)\n"
                 "alert tcp any any -> any any (content:\"a\"; sid:2)\n")
    with pytest.raises(ValidationError, match=rf"{f}:2: error: option 'sid:2' lacks"):
        make("IDSMatch", file=str(f))
    ok = tmp_path / "ok.rules"
    ok.write_text("alert ip any any -> any any (sid:1;)\n")
    with pytest.raises(ValidationError, match=rf"<rules>:1: error: sid 1 already used at {ok}:1"):
        make("IDSMatch", file=str(ok), rules=["alert tcp any any -> any any (sid:1;)"])
    with pytest.raises(ValidationError, match=r"/nonexistent.rules: error: cannot read rules"):
        make("IDSMatch", file="/nonexistent.rules")


def test_graph_loader_reports_the_rule_line(tmp_path):
    from msh.errors import GraphError
    from msh.yamlgraph import load

    text = ("elements:\n"
            "  ids: {kind: IDSMatch, config: {rules: ['alert tcp any any -> any any (sid:1;)',\n"
            "                                         'alert tcp any any -> any any (sid:x;)']}}\n"
            "connections:\n  - in -> ids -> out\n")
    with pytest.raises(GraphError, match=r"<rules>:2: error: sid needs an integer >= 1"):
        load("g.yaml", text=text)


def test_config_errors():
    with pytest.raises(ValidationError, match="give 'rules'"):
        make("IDSMatch")
    with pytest.raises(ValidationError, match="mode"):
        make("IDSMatch", rules=["alert ip any any -> any any (sid:1;)"], mode="inline")


def test_example_runs():
    from elementkit import example_yaml, run_graph

    from elements.ids.idsmatch import IDSMatch
    from msh.yamlgraph import load

    g = load("<example>", text=example_yaml(IDSMatch))
    frames = flow_frames([(0, b"GET /bin"), (8, b"/sh")])
    seen, counters = run_graph(g, frames)
    assert [port for port, _ in seen] == [0, 0, -1]
    assert counters.element("ids")["drops"] == {"rule_drop": 1}
