"""SetUDPChecksum: scapy's checksum, 0 sent as 0xFFFF, fragments and short packets."""

from elementkit import any_frames, compare, example_yaml, make, mark, outcome, run_graph
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP, IPOption_LSRR
from scapy.layers.l2 import Ether

from elements.ip.setudpchecksum import SetUDPChecksum
from msh.yamlgraph import load


def scapy_udp_sum(data: bytes) -> int:
    p = Ether(data)
    del p[UDP].chksum
    return Ether(bytes(p))[UDP].chksum


@settings(max_examples=150)
@given(st.integers(0, 0xFFFF), st.binary(max_size=41), st.booleans(), st.integers(0, 0xFFFF))
def test_corrupted_checksum_is_restored_to_scapys(sport, payload, route, garbage):
    options = [IPOption_LSRR(routers=["7.7.7.7"])] if route else []
    good = bytes(Ether() / IP(options=options) / UDP(sport=sport, dport=9) / payload)
    at = 14 + (good[14] & 15) * 4 + 6
    bad = good[:at] + garbage.to_bytes(2, "big") + good[at + 2:]
    r = compare(make("SetUDPChecksum"), [bad], annotations=mark([bad]))
    # scapy's dissect-and-rebuild value (its build-time sum mishandles a padded
    # one-hop source route, so ``good`` itself is not the oracle)
    want = scapy_udp_sum(bad).to_bytes(2, "big")
    assert r.results == [0] and r.frames[0] == bad[:at] + want + bad[at + 2:]
    assert route or want == good[at : at + 2]


def test_zero_checksum_is_sent_as_ffff():
    # src 0.0.0.0, dst 0.0.0.0, proto 17, len 10, ports 0, payload chosen to sum to 0xFFFF
    data = bytearray(bytes(IP(src="0.0.0.0", dst="0.0.0.0") / UDP(sport=0, dport=0)
                           / b"\0\0"))
    data[28:30] = (0xFFFF - 17 - 10 - 10).to_bytes(2, "big")
    data = bytes(Ether() / IP(bytes(data)))
    r = compare(make("SetUDPChecksum"), [data], annotations=mark([data]))
    assert r.frames[0][40:42] == b"\xff\xff" and scapy_udp_sum(data) == 0xFFFF


def test_fragments_and_short_packets_go_to_output_1_or_are_dropped():
    data = bytes(Ether() / IP() / UDP() / b"12345678")
    frames = [bytes(Ether() / IP(flags=1) / UDP()), bytes(Ether() / IP(frag=8) / UDP()),
              data[:40], data[:38] + b"\0\x07" + data[40:], data[:38] + b"\0\x11" + data[40:],
              data]
    ann = mark(frames)
    ann[5] = {}
    el = make("SetUDPChecksum")
    r = compare(el, frames, annotations=ann)
    assert [outcome(el, x) for x in r.results] == [
        "drop:fragment", "drop:fragment", "drop:short", "drop:short", "drop:short",
        "drop:no_ip_header"]
    r = compare(el, frames, n_outputs=2, annotations=ann)
    assert r.results == [1] * 6 and r.frames == frames
    assert el.counters(r.state) == {"no_ip_header": 1, "fragment": 2, "short": 3}


@settings(max_examples=150)
@given(st.lists(any_frames(), min_size=1, max_size=8), st.sampled_from([1, 2]))
def test_kernel_matches_reference(frames, n_outputs):
    compare(make("SetUDPChecksum"), frames, n_outputs=n_outputs, annotations=mark(frames))


def test_example_runs():
    g = load("<example>", text=example_yaml(SetUDPChecksum))
    good = bytes(Ether() / IP() / UDP() / b"hi")
    seen, _ = run_graph(g, [good[:40] + b"\0\0" + good[42:]])
    assert seen == [(0, good)]
