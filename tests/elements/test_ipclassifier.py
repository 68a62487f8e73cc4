"""IPClassifier: Click's documented examples through the generated kernel, and the
kernel == the AST oracle on random rule lists over scapy-built (also fragmented,
truncated and malformed) packets."""

import pytest
import yaml
from elementkit import assert_same, ip_frames, make, mark, outcome, run_kernel, run_reference
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

from elements.ip.ipclassifier import IPClassifier
from elements.ip.iprules import RuleError, parse_pattern

ADDRS = ["10.0.0.1", "10.0.0.77", "10.1.2.3", "192.168.1.1", "192.168.1.200"]
PORTS = [22, 53, 80, 443, 1023, 1024, 8080]


def run(rules, frames, n_outputs=None):
    el = make("IPClassifier", rules=rules)
    frames = [bytes(f) for f in frames]
    ann = mark(frames)
    got = run_kernel(el, frames, n_outputs=n_outputs or len(rules), annotations=ann)
    want = run_reference(el, frames, n_outputs=n_outputs or len(rules), annotations=ann)
    assert_same(el, got, want)
    return el, [outcome(el, r) for r in got.results]


def test_click_example_four_outputs():
    rules = ["10.0.0.0/24 and syn", "10.0.0.0/24 and fin ack", "10.0.0.0/24 and tcp", "-"]
    frames = [Ether() / IP(src="10.0.0.5") / TCP(flags="S"),
              Ether() / IP(dst="10.0.0.5") / TCP(flags="FA"),
              Ether() / IP(src="10.0.0.5") / TCP(flags="A"),
              Ether() / IP(src="10.0.0.5") / UDP(),
              Ether() / IP(src="10.0.1.5") / TCP(flags="S")]
    assert run(rules, frames)[1] == ["out0", "out1", "out2", "out3", "out3"]


def test_click_example_ports_and_no_match():
    rules = ["dst tcp port 8000 or 8080", "dst tcp port > 1023", "tcp"]
    frames = [Ether() / IP() / TCP(dport=8080), Ether() / IP() / TCP(dport=5000),
              Ether() / IP() / TCP(dport=80), Ether() / IP() / UDP(dport=8000)]
    assert run(rules, frames)[1] == ["out0", "out1", "out2", "drop:no_match"]


def test_needs_the_ip_header_annotation():
    el = make("IPClassifier", rules=["-"])
    frames = [bytes(Ether() / IP() / TCP())]
    got = run_kernel(el, frames)  # no MarkIPHeader: l3 is unset
    assert [outcome(el, r) for r in got.results] == ["drop:no_ip_header"]
    assert_same(el, got, run_reference(el, frames))


def test_fragments_and_truncation_through_the_kernel():
    rules = ["tcp port 80", "syn", "tcp", "-"]
    full = bytes(Ether() / IP() / TCP(dport=80, flags="S"))
    frames = [Ether() / IP(frag=10) / TCP(dport=80, flags="S"),  # later fragment
              Ether() / IP(flags="MF") / TCP(sport=9, dport=9, flags="S"),  # first fragment
              full[:14 + 20 + 2],  # no room for ports
              full[:14 + 20 + 12]]  # ports, but no flags
    assert run(rules, frames)[1] == ["out2", "out1", "out2", "out0"]


def test_docstring_example_configures():
    doc = IPClassifier.__doc__.split("Example::")[1].split("Counters:")[0]
    (name, spec), = yaml.safe_load(doc)["elements"].items()
    el = make(spec["kind"], name, **spec["config"])
    assert run(el.config.rules, [Ether() / IP(dst="1.2.3.4") / TCP(dport=443)])[1] == ["out1"]


def test_bad_pattern_names_the_rule():
    with pytest.raises(ValidationError) as exc:
        make("IPClassifier", rules=["tcp", "dst port http2"])
    err = exc.value.errors()[0]
    assert err["loc"] == ("rules", 1)
    assert "expected a port number or name after 'port', found 'http2' at column 10" in \
        err["msg"]


# ---- random rules: kernel == oracle ----------------------------------------------------

rel = st.sampled_from(["", "== ", "!= ", "< ", "> ", "<= ", ">= "])


@st.composite
def primitives(draw):
    a, p, n = draw(st.sampled_from(ADDRS)), draw(st.sampled_from(PORTS)), draw(
        st.integers(0, 255))
    return draw(st.sampled_from([
        f"src host {a}", f"dst host {a}", f"host {a}", f"src and dst host {a}", a,
        f"net {a}/{n % 33}", f"src net {a} mask 255.255.0.0", f"dst {a}/24",
        f"port {p}", f"src port {draw(rel)}{p}", f"dst tcp port {draw(rel)}{p}",
        f"udp port {p}", f"src or dst port {draw(rel)}{p}", f"src and dst port {draw(rel)}{p}",
        f"port {p} or {p + 1}", "www", "dns", "tcp", "udp", "icmp", f"ip proto {draw(rel)}{n}",
        "syn", "ack", "tcp opt fin", "rst && psh", "urg", "icmp type echo",
        f"icmp type {draw(rel)}{n % 20}", "ip frag", "ip unfrag", "ip vers 4",
        f"ip hl {draw(rel)}{n % 16}", f"ip tos {draw(rel)}{n}", f"ip dscp {n % 64}",
        f"ip ttl {draw(rel)}{n}", f"ip id > {n * 200}", f"ip len {draw(rel)}{n}",
        "ip ect", "ip ce", f"tcp win {draw(rel)}{n * 256}", "ip[9] == 6",
        f"transp[0:2] {draw(rel)}{p}", "tcp[13] & 0x12 != 0", f"udp[4:2] > {n}",
        f"icmp[1] == {n % 4}", "true", "false", f"ip tos & 0xfc == {n & 0xfc}",
    ]))


def parses(rule: str) -> bool:
    """Click rejects some combinations too: 'icmp[1] == 0 and www' makes 'www' inherit
    ICMP from the previous primitive ('port': bad protocol)."""
    try:
        parse_pattern(rule)
    except RuleError:
        return False
    return True


def expressions():
    return st.recursive(primitives(), lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: f"({t[0]}) and ({t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]} || ({t[1]})"),
        inner.map(lambda e: f"not ({e})"),
        inner.map(lambda e: f"! {e}"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]}) ? ({t[1]}) : ({t[2]})"),
    ), max_leaves=5).filter(parses)


@st.composite
def packets(draw):
    """Packets whose fields come from the rules' value pools, so rules do match."""
    ip = IP(src=draw(st.sampled_from(ADDRS)), dst=draw(st.sampled_from(ADDRS)),
            ttl=draw(st.integers(0, 255)), tos=draw(st.integers(0, 255)),
            id=draw(st.integers(0, 0xFFFF)), flags=draw(st.sampled_from([0, 0, 1, 2])),
            frag=draw(st.sampled_from([0, 0, 0, 0, 5])))
    kind = draw(st.sampled_from(["tcp", "udp", "icmp", "other"]))
    port = st.sampled_from(PORTS + [5, 40000])
    if kind == "tcp":
        l4 = TCP(sport=draw(port), dport=draw(port), flags=draw(st.integers(0, 63)),
                 window=draw(st.integers(0, 0xFFFF)))
    elif kind == "udp":
        l4 = UDP(sport=draw(port), dport=draw(port))
    elif kind == "icmp":
        l4 = ICMP(type=draw(st.integers(0, 19)), code=draw(st.integers(0, 3)))
    else:
        ip.proto = draw(st.sampled_from([2, 47, 50]))
        l4 = b"\x00" * 8
    data = bytes(Ether() / ip / l4)
    cut = draw(st.sampled_from([None, None, None, 34, 36, 38, 40, 44, 47, 48]))
    return data[:cut] if cut else data


@settings(max_examples=40)  # each example compiles a kernel (~1 s)
@given(st.lists(expressions(), min_size=1, max_size=8),
       st.lists(st.one_of(packets(), packets(), ip_frames()), min_size=20, max_size=40))
def test_kernel_matches_oracle(rules, frames):
    el = make("IPClassifier", rules=rules)
    ann = mark(frames)
    got = run_kernel(el, frames, n_outputs=len(rules), annotations=ann)
    want = run_reference(el, frames, n_outputs=len(rules), annotations=ann)
    assert_same(el, got, want)


def test_cache_role_only_for_five_tuple_rules():
    assert make("IPClassifier", rules=["udp port 53", "-"]).cache_role() == "verdict"
    assert make("IPClassifier", rules=["icmp type echo", "-"]).cache_role() is None


def test_more_outputs_than_patterns_is_an_error():
    with pytest.raises(ValueError, match="3 connected outputs but 2 patterns"):
        make("IPClassifier", rules=["tcp", "-"]).make_state(3)
