"""CheckIPHeader: Click's checks in Click's order, trimming, annotations, output 1."""

import ipaddress

import pytest
from elementkit import any_frames, compare, example_yaml, ip_frames, make, outcome, run_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from elements.batch import F_FRAG, F_IP, F_L4FULL, F_PORTS, HEADROOM
from elements.ip.checkipheader import REASONS, CheckIPHeader
from msh.graph import add_element, connect, new_graph
from msh.yamlgraph import load


def frame(**ip) -> bytes:
    return bytes(Ether() / IP(**{"src": "10.1.2.3", "dst": "10.9.8.7", **ip})
                 / TCP(sport=1234, dport=80) / b"payload")


def corrupt(data: bytes, at: int, value: bytes) -> bytes:
    return data[:at] + value + data[at + len(value):]


def results(el, frames, n_outputs=1):
    return [outcome(el, r) for r in compare(el, frames, n_outputs=n_outputs).results]


def test_good_packet_is_trimmed_and_annotated():
    el = make("CheckIPHeader", offset=14)
    good = frame(ttl=7) + b"\0" * 6  # Ethernet padding after the IP packet
    run = compare(el, [good])
    assert run.results == [0]
    p = run.packets[0]
    assert p.length == len(good) - 6
    assert (p.l3, p.l4) == (HEADROOM + 14, HEADROOM + 34)
    assert (p.saddr, p.daddr) == (int(ipaddress.ip_address("10.1.2.3")),
                                  int(ipaddress.ip_address("10.9.8.7")))
    assert (p.proto, p.sport, p.dport) == (6, 1234, 80)
    assert p.flags == F_IP | F_PORTS | F_L4FULL
    assert p.dst_anno == p.daddr
    assert el.counters(run.state)["bad_packets"] == 0


def test_dst_anno_is_always_set_as_in_current_click():
    el = make("CheckIPHeader", offset=14)
    run = compare(el, [frame()], annotations={"dst_anno": 1})
    assert run.packets[0].dst_anno == int(ipaddress.ip_address("10.9.8.7"))


def test_each_reason_in_click_order():
    good = frame()
    cases = {
        "tiny_packet": good[:33],
        "bad_version": corrupt(good, 14, b"\x65"),
        "bad_hlen": corrupt(good, 14, b"\x44"),
        "bad_ip_len": corrupt(good, 16, (len(good) - 13).to_bytes(2, "big")),
        "bad_checksum": corrupt(good, 24, b"\x00\x00"),
        "bad_saddr": frame(src="0.0.0.0"),
    }
    # version is checked before the checksum, which the new version byte also breaks
    el = make("CheckIPHeader", offset=14, badsrc=["0.0.0.0"])
    run = compare(el, list(cases.values()))
    assert [outcome(el, r) for r in run.results] == [f"drop:{r}" for r in cases]
    counts = el.counters(run.state)
    assert counts["bad_packets"] == 6 and all(counts[r] == 1 for r in REASONS)


def test_ip_len_shorter_than_header_is_bad_ip_len():
    el = make("CheckIPHeader", offset=14)
    assert results(el, [corrupt(frame(), 16, b"\x00\x13")]) == ["drop:bad_ip_len"]


def test_second_output_gets_bad_packets_and_they_are_still_counted():
    el = make("CheckIPHeader", offset=14)
    run = compare(el, [frame(), frame()[:20], corrupt(frame(), 24, b"\xde\xad")], n_outputs=2)
    assert run.results == [0, 1, 1]
    counts = el.counters(run.state)
    assert (counts["bad_packets"], counts["tiny_packet"], counts["bad_checksum"]) == (2, 1, 1)
    assert run.packets[1].l3 == -1  # bad packets are not annotated


def test_checksum_false_skips_only_the_checksum():
    el = make("CheckIPHeader", offset=14, checksum=False)
    assert results(el, [corrupt(frame(), 24, b"\x00\x00"), corrupt(frame(), 14, b"\x55")]) == [
        "out0", "drop:bad_version"]


def test_interfaces_make_click_bad_sources_and_good_destinations():
    el = make("CheckIPHeader", offset=14, interfaces=["18.26.4.9/24", "18.32.9.44/28"])
    assert el.config.address_lists() == (
        [int(ipaddress.ip_address(a)) for a in
         ("18.26.4.255", "18.32.9.47", "0.0.0.0", "255.255.255.255")],
        [int(ipaddress.ip_address(a)) for a in ("18.26.4.9", "18.32.9.44")])
    frames = [frame(src="18.26.4.255"), frame(src="18.26.4.255", dst="18.26.4.9"),
              frame(src="255.255.255.255"), frame(src="18.32.9.47", dst="18.32.9.44"),
              frame(src="18.26.4.254")]
    assert results(el, frames) == ["drop:bad_saddr", "out0", "drop:bad_saddr", "out0", "out0"]


def test_badsrc_replaces_the_interfaces_list_as_in_click():
    el = make("CheckIPHeader", offset=14, interfaces=["10.0.0.1/24"], badsrc=["1.1.1.1"])
    assert results(el, [frame(src="10.0.0.255"), frame(src="1.1.1.1"),
                        frame(src="1.1.1.1", dst="10.0.0.1")]) == [
        "out0", "drop:bad_saddr", "out0"]


def test_default_has_no_bad_sources():
    el = make("CheckIPHeader", offset=14)
    assert results(el, [frame(src="0.0.0.0"), frame(src="255.255.255.255")]) == ["out0", "out0"]


def test_offset_zero_and_options_and_fragments():
    el = make("CheckIPHeader")
    opts = bytes(IP(src="1.2.3.4", dst="5.6.7.8", options=[b"\x94\x04\x00\x00"]) / UDP() / b"x")
    frag = bytes(IP(dst="5.6.7.8", flags=1, frag=0) / UDP(sport=5, dport=6) / (b"y" * 20))
    later = bytes(IP(dst="5.6.7.8", frag=100) / (b"z" * 16))
    run = compare(el, [opts, frag, later])
    assert run.results == [0, 0, 0]
    assert run.packets[0].l4 == HEADROOM + 24
    assert run.packets[1].flags & F_FRAG and run.packets[1].sport == 5
    assert run.packets[2].flags & F_FRAG and not run.packets[2].flags & F_PORTS


def test_verdict_agrees_with_scapy():
    """scapy as the oracle: version 4, IHL >= 5, lengths fit, checksum recomputes equal."""
    frames = [frame(), corrupt(frame(), 24, b"\x12\x34"), frame(ttl=0)[:30]]
    el = make("CheckIPHeader", offset=14)
    for data, r in zip(frames, compare(el, frames).results):
        ip = Ether(data).getlayer(IP)
        ok = False
        if ip is not None and len(data) >= 34:
            fresh = IP(bytes(ip))
            del fresh.chksum
            ok = IP(bytes(fresh)).chksum == ip.chksum and ip.len <= len(data) - 14
        assert (r == 0) == ok


@settings(max_examples=200)
@given(st.lists(any_frames(), min_size=1, max_size=8), st.sampled_from([1, 2]),
       st.booleans())
def test_kernel_matches_reference(frames, n_outputs, checksum):
    el = make("CheckIPHeader", offset=14, checksum=checksum,
              interfaces=["10.0.0.1/24"], gooddst=["224.0.0.5"])
    run = compare(el, frames, n_outputs=n_outputs)
    assert sum(el.counters(run.state)[r] for r in REASONS) == sum(r != 0 for r in run.results)


@settings(max_examples=100)
@given(st.lists(ip_frames(ether=False), min_size=1, max_size=4))
def test_kernel_matches_reference_bare_ip(frames):
    compare(make("CheckIPHeader"), frames)


@pytest.mark.parametrize("config, message", [
    ({"offset": -1}, "greater than or equal to 0"),
    ({"interfaces": ["10.0.0.300/24"]}, "expected an IPv4 address with prefix"),
    ({"badsrc": ["nonsense"]}, "expected an IPv4 address like"),
    ({"checksum": "yes"}, "valid boolean"),
    ({"ofset": 14}, "Extra inputs are not permitted"),
])
def test_bad_config_is_a_clear_error(config, message):
    with pytest.raises(ValidationError, match=message):
        CheckIPHeader.Config(**config)


def test_example_runs():
    g = load("<example>", text=example_yaml(CheckIPHeader))
    seen, counters = run_graph(g, [frame(), frame(src="10.0.0.255"), b"\0" * 10])
    assert [port for port, _ in seen] == [0, -1, -1]
    assert counters.element("check")["bad_packets"] == 2


def chain(*elements):
    """in -> e1 -> e2 ... -> out."""
    g = new_graph("chain")
    names = []
    for k, (kind, config) in enumerate(elements):
        names.append(f"e{k}")
        add_element(g, make(kind, f"e{k}", **config))
    for src, dst in zip(["in", *names], [*names, "out"]):
        connect(g, src, 0, dst, 0)
    return g


@pytest.mark.parametrize("elements, removed", [
    ([("CheckIPHeader", {"offset": 14}), ("DecIPTTL", {}), ("CheckIPHeader", {"offset": 14})],
     ["e2"]),
    ([("CheckIPHeader", {"offset": 14}), ("Strip", {"length": 14}), ("CheckIPHeader", {})],
     ["e2"]),
    ([("CheckIPHeader", {"offset": 14}), ("MarkIPHeader", {"offset": 14})], ["e1"]),
    ([("CheckIPHeader", {"offset": 14, "badsrc": ["10.0.0.1"]}), ("DecIPTTL", {}),
      ("CheckIPHeader", {"offset": 14, "badsrc": ["10.0.0.1"]})], []),
    ([("CheckIPHeader", {"offset": 14}), ("SetIPChecksum", {}), ("CheckIPHeader", {"offset": 14})],
     ["e2"]),
    ([("CheckIPHeader", {"offset": 14}), ("SetTCPChecksum", {"fixoff": True}),
      ("CheckIPHeader", {"offset": 14})], []),  # it declares all of "tcp", ports included
    ([("CheckIPHeader", {"offset": 14}), ("EtherEncap", {"ethertype": 1, "src": "00:00:00:00:00:01",
                                                         "dst": "00:00:00:00:00:02"}),
      ("CheckIPHeader", {"offset": 28})], []),
    ([("CheckIPHeader", {"offset": 14}), ("Strip", {"length": 14}), ("CheckIPHeader", {"offset": 14})],
     []),
    ([("MarkIPHeader", {"offset": 14}), ("CheckIPHeader", {"offset": 14})], []),
])
def test_compiler_removes_only_true_repeats(elements, removed):
    """remove_repeated uses same_work / unaffected_by / head_shift: what it removes
    must not change any packet's bytes or fate."""
    from msh.passes import remove_repeated

    g = chain(*elements)
    lean = remove_repeated.run(g)
    assert sorted(n for n, _ in lean.graph.get("removed", [])) == removed
    frames = [frame(ttl=t) for t in (0, 1, 2, 64)] + [frame(src="10.0.0.1"), frame()[:30],
                                                      corrupt(frame(), 24, b"\0\0")]
    assert run_graph(lean, frames)[0] == run_graph(g, frames)[0]
