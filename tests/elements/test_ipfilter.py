"""IPFilter: actions (allow, deny/drop, N), first match wins, no match drops; Click's
documented example; errors that name the rule; the kernel == the oracle on random
rule lists; and a whole graph run."""

import pytest
import yaml
from elementkit import assert_same, ip_frames, make, mark, outcome, run_kernel, run_reference
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from test_ipclassifier import expressions, packets

from elements.ip.ipfilter import IPFilter

# Click's IPFilter example (Zwicky et al., interior router), with AddressInfo names
# replaced by addresses.
INTERNALNET, BASTION = "192.168.1.0/24", "192.168.2.2"
SMTP, NNTP, NNTP_FEED, DNS = "192.168.1.25", "192.168.1.119", "1.2.3.4", "192.168.1.53"
ZWICKY = [
    f"deny src {INTERNALNET}",
    f"allow src {BASTION} && dst {INTERNALNET} && tcp && src port www && dst port > 1023 && ack",
    f"allow dst {INTERNALNET} && tcp && src port 23 && dst port > 1023 && ack",
    f"allow dst {INTERNALNET} && tcp && src port 22 && ack",
    f"allow dst {INTERNALNET} && tcp && dst port 22",
    f"allow dst {INTERNALNET} && tcp && src port 21 && dst port > 1023 && ack",
    f"allow dst {INTERNALNET} && tcp && src port > 1023 && dst port > 1023 && ack",
    f"allow src {BASTION} && dst {INTERNALNET} && tcp && src port 21 && dst port > 1023 && ack",
    f"allow src {BASTION} && dst {INTERNALNET} && tcp && src port > 1023 && dst port > 1023",
    f"allow src {BASTION} && dst {SMTP} && tcp && src port 25 && dst port > 1023 && ack",
    f"allow src {BASTION} && dst {SMTP} && tcp && src port > 1023 && dst port 25",
    f"allow src {NNTP_FEED} && dst {NNTP} && tcp && src port 119 && dst port > 1023 && ack",
    f"allow src {NNTP_FEED} && dst {NNTP} && tcp && src port > 1023 && dst port 119",
    f"allow src {BASTION} && dst {DNS} && udp && src port 53 && dst port 53",
    f"allow src {BASTION} && dst {DNS} && tcp && src port 53 && dst port > 1023 && ack",
    f"allow src {BASTION} && dst {DNS} && tcp && src port > 1023 && dst port 53",
    "deny all",
]


def run(rules, frames, n_outputs=1):
    el = make("IPFilter", rules=rules)
    frames = [bytes(f) for f in frames]
    ann = mark(frames)
    got = run_kernel(el, frames, n_outputs=n_outputs, annotations=ann)
    assert_same(el, got, run_reference(el, frames, n_outputs=n_outputs, annotations=ann))
    return [outcome(el, r) for r in got.results]


def test_zwicky_interior_router():
    out = "192.0.2.7"
    frames = [
        Ether() / IP(src="192.168.1.9", dst="192.168.1.10") / TCP(dport=22),  # Spoof-1
        Ether() / IP(src=BASTION, dst="192.168.1.10") / TCP(sport=80, dport=2000, flags="A"),
        Ether() / IP(src=out, dst="192.168.1.10") / TCP(sport=80, dport=2000, flags="A"),
        Ether() / IP(src=out, dst="192.168.1.10") / TCP(sport=23, dport=2000, flags="A"),
        Ether() / IP(src=out, dst="192.168.1.10") / TCP(sport=23, dport=2000, flags="S"),
        Ether() / IP(src=out, dst="192.168.1.10") / TCP(sport=5555, dport=22, flags="S"),
        Ether() / IP(src=BASTION, dst=SMTP) / TCP(sport=3000, dport=25, flags="S"),
        Ether() / IP(src=out, dst=SMTP) / TCP(sport=3000, dport=25, flags="S"),
        Ether() / IP(src=NNTP_FEED, dst=NNTP) / TCP(sport=3000, dport=119, flags="S"),
        Ether() / IP(src=BASTION, dst=DNS) / UDP(sport=53, dport=53),
        Ether() / IP(src=out, dst=DNS) / UDP(sport=53, dport=53),
        Ether() / IP(src=out, dst="192.168.1.10") / ICMP(),
    ]
    assert run(ZWICKY, frames) == [
        "drop:denied", "out0", "drop:denied", "out0", "drop:denied", "out0", "out0",
        "drop:denied", "out0", "out0", "drop:denied", "drop:denied"]


def test_actions_first_match_and_no_match():
    rules = ["drop tcp port 23", "2 tcp", "allow udp", "deny icmp type echo", "1 icmp"]
    frames = [Ether() / IP() / TCP(dport=23), Ether() / IP() / TCP(dport=80),
              Ether() / IP() / UDP(), Ether() / IP() / ICMP(type=8),
              Ether() / IP() / ICMP(type=0), Ether() / IP(proto=47) / b"gre!"]
    assert run(rules, frames, n_outputs=3) == [
        "drop:denied", "out2", "out0", "drop:denied", "out1", "drop:no_match"]


def test_allow_alone_and_dash_match_everything():
    frames = [Ether() / IP(proto=99) / b"xx", Ether() / IP() / TCP()]
    assert run(["allow"], frames) == ["out0", "out0"]
    assert run(["allow -"], frames) == ["out0", "out0"]
    assert run(["drop all"], frames) == ["drop:denied", "drop:denied"]


def test_needs_the_ip_header_annotation():
    el = make("IPFilter", rules=["allow all"])
    got = run_kernel(el, [bytes(Ether() / IP())])
    assert [outcome(el, r) for r in got.results] == ["drop:no_ip_header"]


@pytest.mark.parametrize("rules, loc, message", [
    (["allow tcp", "allow dst port http2"], ("rules", 1),
     ("expected a port number or name after 'port', found 'http2' at column 16; did you "
     "mean 'https' or 'tftp'?")),
    (["alow tcp"], ("rules", 0),
     ("expected an action (allow, deny, drop or an output number), found 'alow' at column 1; "
     "did you mean 'allow'?")),
    (["allow tcp", "deny", "drop src host 10.0.0.300"], ("rules", 2),
     "expected an IP address after 'host', found '10.0.0.300' at column 15"),
    ([""], ("rules", 0),
     "empty rule at column 1; write 'allow PATTERN', 'drop PATTERN' or 'N PATTERN'"),
])
def test_errors_name_the_rule_and_column(rules, loc, message):
    with pytest.raises(ValidationError) as exc:
        make("IPFilter", rules=rules)
    (err,) = exc.value.errors()
    assert err["loc"] == loc
    assert err["msg"] == f"Value error, {message}"


def test_an_empty_rule_list_is_an_error():
    with pytest.raises(ValidationError, match="at least 1 item"):
        make("IPFilter", rules=[])


def test_docstring_example_configures():
    doc = IPFilter.__doc__.split("Example::")[1].split("Counters:")[0]
    (name, spec), = yaml.safe_load(doc)["elements"].items()
    el = make(spec["kind"], name, **spec["config"])
    frames = [Ether() / IP(src="10.1.1.1") / TCP(dport=23), Ether() / IP() / TCP(dport=80),
              Ether() / IP() / ICMP(type=8), Ether() / IP() / UDP()]
    assert run(el.config.rules, frames, n_outputs=2) == [
        "drop:denied", "out0", "out1", "drop:denied"]


@st.composite
def filter_rules(draw):
    action = draw(st.sampled_from(["allow", "deny", "drop", "1", "2"]))
    return f"{action} {draw(expressions())}"


@settings(max_examples=25)  # each example compiles a kernel (~1 s)
@given(st.lists(filter_rules(), min_size=1, max_size=8),
       st.lists(st.one_of(packets(), packets(), ip_frames()), min_size=20, max_size=40))
def test_kernel_matches_oracle(rules, frames):
    el = make("IPFilter", rules=rules)
    ann = mark(frames)
    got = run_kernel(el, frames, n_outputs=3, annotations=ann)
    assert_same(el, got, run_reference(el, frames, n_outputs=3, annotations=ann))


def test_in_a_graph_strip_check_filter():
    """Strip(14) -> CheckIPHeader -> IPFilter through the generated walk: the
    per-configuration kernel is what the runtime calls."""
    from elements.batch import load_frames
    from elements.element import lookup
    from msh import graph as G
    from msh.runtime import Program
    from msh.runtime import run as run_graph

    g = G.new_graph("fw")
    for name, kind, config in [("strip", "Strip", {"length": 14}),
                               ("chk", "CheckIPHeader", {}),
                               ("fw", "IPFilter", {"rules": ["allow tcp port 80", "1 udp",
                                                             "drop all"]})]:
        cls = lookup(kind)
        G.add_element(g, cls(name, cls.Config(**config)))
    G.connect(g, G.IN, 0, "strip", 0)
    G.connect(g, "strip", 0, "chk", 0)
    G.connect(g, "chk", 0, "fw", 0)
    G.connect(g, "fw", 0, G.OUT, 0)
    G.connect(g, "fw", 1, G.OUT, 1)
    frames = [bytes(f) for f in (Ether() / IP() / TCP(dport=80), Ether() / IP() / UDP(),
                                 Ether() / IP() / TCP(dport=81), Ether() / IP() / ICMP())]

    class Feed:
        done = False

        def fill(self, b, n):
            if self.done:
                return 0
            self.done = True
            return load_frames(b, frames)

    ports = []
    counters = run_graph(Program(g, batch_size=8), feed=Feed(),
                         on_batch=lambda b: ports.extend(int(p) for p in b.port[:4]))
    assert ports == [0, 1, -1, -1]
    assert counters.element("fw")["drops"] == {"denied": 2}


def test_cache_role_only_for_five_tuple_rules():
    assert make("IPFilter", rules=["allow src net 10.0.0.0/8 && dst port 80",
                                   "drop all"]).cache_role() == "verdict"
    assert make("IPFilter", rules=["allow tcp && syn", "drop all"]).cache_role() is None
    assert make("IPFilter", rules=["allow ip ttl > 3"]).cache_role() is None


def test_an_action_beyond_the_connected_outputs_is_an_error():
    el = make("IPFilter", rules=["allow tcp", "2 udp"])
    with pytest.raises(ValueError, match=r"rules\[1\]: output 2 out of range \(the element "
                                         r"has 2 connected outputs\)"):
        el.make_state(2)


def test_kernels_are_specialised_and_named_by_content():
    a, b = make("IPFilter", rules=["allow tcp port 80"]), make("IPFilter", rules=["allow udp"])
    a.make_state(1)
    b.make_state(1)
    again = make("IPFilter", rules=["allow tcp port 80"])
    again.make_state(1)
    assert a.kernel is again.kernel  # same rules, same generated module
    assert a.kernel is not b.kernel
    assert getattr(a.kernel, "py_func", a.kernel).__module__.startswith("msh_gen_ipfilter_")
