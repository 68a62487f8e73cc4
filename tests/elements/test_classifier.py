"""Classifier: Click's documented example, '?' nibbles, masks, '!' clauses, packets too
short for a clause, error texts, and the kernel == the reference on random patterns."""

import pytest
import yaml
from elementkit import any_frames, assert_same, make, outcome, run_kernel, run_reference
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

from elements.standard.classifier import Classifier


def run(patterns, frames):
    el = make("Classifier", patterns=patterns)
    frames = [bytes(f) for f in frames]
    got = run_kernel(el, frames, n_outputs=len(patterns))
    assert_same(el, got, run_reference(el, frames, n_outputs=len(patterns)))
    return [outcome(el, r) for r in got.results]


def test_click_example_arp_ip_other():
    patterns = ["12/0806 20/0001", "12/0806 20/0002", "12/0800", "-"]
    frames = [Ether() / ARP(op=1), Ether(dst="01:02:03:04:05:06") / ARP(op=2),
              Ether() / IP() / TCP(), Ether(type=0x86DD) / (b"\x00" * 40)]
    assert run(patterns, frames) == ["out0", "out1", "out2", "out3"]


def test_masks_wildcards_and_negation():
    tcp = Ether() / IP(tos=0xB8) / TCP(dport=80)  # IP proto at 23, TOS at 15
    udp = Ether() / IP() / UDP(dport=80)
    assert run(["23/06", "-"], [tcp, udp]) == ["out0", "out1"]
    assert run(["12/08?? 23/?6", "-"], [tcp, udp]) == ["out0", "out1"]
    assert run(["15/b8%fc", "-"], [tcp, udp]) == ["out0", "out1"]
    assert run(["15/bb%fc"], [tcp]) == ["out0"]  # value bits outside the mask are ignored
    assert run(["!23/06 12/0800", "-"], [tcp, udp]) == ["out1", "out0"]
    assert run(["23/11"], [tcp]) == ["drop:no_match"]


def test_short_packets():
    frame = bytes(12) + b"\x08\x00"  # an Ethernet type and nothing else
    # a clause past the end does not hold, so its negation does
    assert run(["14/45", "!14/45"], [frame]) == ["out1"]
    assert run(["12/0800"], [frame[:13]]) == ["drop:no_match"]
    assert run(["12/08??"], [frame[:13]]) == ["out0"]  # only nonzero-mask bytes must exist
    assert run(["12/08??"], [frame[:12]]) == ["drop:no_match"]
    assert run(["100/??", "-"], [b""]) == ["out0"]  # an all-don't-care clause always holds
    assert run(["0/00"], [b""]) == ["drop:no_match"]


def test_offsets_are_from_the_packet_head():
    from elements.batch import HEADROOM
    el = make("Classifier", patterns=["0/0800", "-"])
    frames = [b"\x08\x00\x45", b"\x00\x08\x00"]
    for head in (HEADROOM - 14, HEADROOM + 40):  # after an encapsulation, after a Strip
        got = run_kernel(el, frames, n_outputs=2, annotations={"head": head})
        assert got.results == [0, 1]
        assert_same(el, got, run_reference(el, frames, n_outputs=2, annotations={"head": head}))


@pytest.mark.parametrize("pattern, message", [
    ("12/080", ("value '080' at column 1 needs an even, nonzero number of hex digits "
               "(two per byte)")),
    ("12/0800 20/00%0", "mask '0' at column 9 must have as many hex digits as the value '00'"),
    ("12/08g0", ("expected [!]OFFSET/VALUE[%MASK], found '12/08g0' at column 1; the offset is "
                "decimal, the value hex: e.g. '12/0800'")),
    ("12 0800", ("expected [!]OFFSET/VALUE[%MASK], found '12' at column 1; did you forget the "
                "'/'? e.g. '12/0800'")),
    ("", "empty pattern; use '-' to match every packet"),
    ("2000/0000", "clause '2000/0000' at column 1 reaches past the largest frame (1984 bytes)"),
])
def test_errors(pattern, message):
    with pytest.raises(ValidationError) as exc:
        make("Classifier", patterns=["-", pattern])
    (err,) = exc.value.errors()
    assert err["loc"] == ("patterns", 1)
    assert err["msg"] == f"Value error, {message}"


def test_docstring_example_configures():
    doc = Classifier.__doc__.split("Example::")[1].split("Counters:")[0]
    (name, spec), = yaml.safe_load(doc)["elements"].items()
    el = make(spec["kind"], name, **spec["config"])
    assert el.config.patterns[2] == "12/0800"


nibble = st.sampled_from("0123456789abcdef??")


@st.composite
def clauses(draw):
    n = draw(st.integers(1, 4))
    value = "".join(draw(nibble) for _ in range(2 * n))
    mask = ("%" + "".join(draw(st.sampled_from("0f3c?")) for _ in range(2 * n))
            if draw(st.booleans()) else "")
    bang = "!" if draw(st.integers(0, 4)) == 0 else ""
    return f"{bang}{draw(st.sampled_from([0, 6, 12, 13, 14, 23, 30, 34, 36, 60]))}/{value}{mask}"


patterns = st.one_of(st.just("-"),
                     st.lists(clauses(), min_size=1, max_size=3).map(" ".join))


@settings(max_examples=50)  # each example compiles a kernel
@given(st.lists(patterns, min_size=1, max_size=6), st.lists(any_frames(), min_size=10,
                                                            max_size=30))
def test_kernel_matches_reference(pats, frames):
    el = make("Classifier", patterns=pats)
    got = run_kernel(el, frames, n_outputs=len(pats))
    assert_same(el, got, run_reference(el, frames, n_outputs=len(pats)))
