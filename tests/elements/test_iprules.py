"""Click's IP filter language: parser and meaning (known answers from Click's
documentation, scapy as the independent oracle for fields) and error texts."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

from elements.batch import HEADROOM
from elements.ip.iprules import (
    RuleError,
    evaluate,
    packet_fields,
    parse_filter_rule,
    parse_pattern,
    tokenize,
)
from elements.reference import Packet


def matches(pattern: str, pkt) -> bool:
    frame = bytes(Ether() / pkt) if not isinstance(pkt, bytes) else pkt
    p = Packet.of(frame)
    return evaluate(parse_pattern(pattern), packet_fields(p.buf, p.head, p.length,
                                                         HEADROOM + 14))


def tcp(src="10.0.0.5", dst="192.168.1.1", sport=1234, dport=80, flags="A", **ip):
    return IP(src=src, dst=dst, **ip) / TCP(sport=sport, dport=dport, flags=flags)


def udp(src="10.0.0.5", dst="192.168.1.1", sport=1234, dport=53, **ip):
    return IP(src=src, dst=dst, **ip) / UDP(sport=sport, dport=dport)


def test_tokenizer_follows_click():
    words = [t.text for t in tokenize("src port>=1024&&!(tcp[13]&2!=0)||x ? a : b")]
    assert words == ["src", "port", ">=", "1024", "&&", "!", "(", "tcp", "[", "13", "]", "&",
                     "2", "!=", "0", ")", "||", "x", "?", "a", ":", "b"]
    assert [t.col for t in tokenize("  tcp  syn")] == [3, 8]


@pytest.mark.parametrize("pattern, pkt, want", [
    # IPClassifier's documented example: 10.0.0.0/24 and syn / fin ack / tcp
    ("10.0.0.0/24 and syn", tcp(flags="S"), True),
    ("10.0.0.0/24 and syn", tcp(flags="A"), False),
    ("10.0.0.0/24 and syn", tcp(src="10.0.1.5", flags="S"), False),
    ("10.0.0.0/24 and syn", tcp(src="1.1.1.1", dst="10.0.0.9", flags="S"), True),
    ("10.0.0.0/24 and fin ack", tcp(flags="FA"), True),
    ("10.0.0.0/24 and fin ack", tcp(flags="F"), False),
    ("10.0.0.0/24 and tcp", udp(), False),
    ("dst tcp port 8000 or 8080", tcp(dport=8080), True),
    ("dst tcp port 8000 or 8080", udp(dport=8080), False),
    ("dst tcp port > 1023", tcp(dport=1024), True),
    ("dst tcp port > 1023", tcp(dport=1023), False),
    # "src tcp port != 5" is "tcp and not src tcp port 5"; "!(src tcp port == 5)" is not
    ("src tcp port != 5", tcp(sport=6), True),
    ("src tcp port != 5", tcp(sport=5), False),
    ("src tcp port != 5", udp(sport=6), False),
    ("!(src tcp port == 5)", udp(sport=5), True),
    ("icmp type != 4", udp(), False),
    ("icmp type != 4", IP() / ICMP(type=8), True),
    ("icmp type echo", IP() / ICMP(type=8), True),
    ("icmp type echo-reply", IP() / ICMP(type=8), False),
    ("icmp type < 5", IP() / ICMP(type=3), True),
    # abbreviations
    ("src port 80 or 81", tcp(sport=81), True),
    ("src port 80 or 81", tcp(dport=81), False),
    ("www", tcp(sport=80, dport=9), True),
    ("ssh", udp(dport=22), True),
    ("tcp", tcp(), True),
    ("udp", tcp(), False),
    ("syn", tcp(flags="SA"), True),
    ("10.0.0.5", udp(), True),
    ("192.168.1.0/24", udp(), True),
    ("host 10.0.0.5 or 10.0.0.6", udp(src="9.9.9.9", dst="10.0.0.6"), True),
    ("ip ttl 5 or 6", tcp(ttl=6), True),
    # src/dst combinations and the negated-relation quirks
    ("src and dst host 10.0.0.5", udp(dst="10.0.0.5"), True),
    ("src and dst host 10.0.0.5", udp(), False),
    ("src or dst host 192.168.1.1", udp(), True),
    ("host != 10.0.0.5", udp(), False),
    ("port != 53", udp(sport=53, dport=99), False),  # neither port is 53
    ("port < 1024", udp(sport=1234, dport=53), False),  # both ports below 1024
    ("port < 1024", udp(sport=12, dport=53), True),
    ("port >= 1024", udp(sport=1234, dport=53), True),  # either port
    ("src and dst port 53", udp(sport=53, dport=53), True),
    ("net 10.0.0.0 mask 255.0.0.0", udp(), True),
    ("src net 10.0.0.0/8 and dst net 192.168.0.0/16", udp(), True),
    ("dst net 10.0.0.0/8", udp(), False),
    # IP header fields
    ("ip vers 4 and ip hl 5", udp(), True),
    ("ip tos 0x2e", udp(tos=0x2E), True),
    ("ip dscp 46", udp(tos=0xB8), True),
    ("ip ect", udp(tos=1), True),
    ("ip ect", udp(tos=0), False),
    ("ip ce", udp(tos=3), True),
    ("ip ttl >= 64", udp(ttl=64), True),
    ("ip ttl < 64", udp(ttl=64), False),
    ("ip id 0x1234", udp(id=0x1234), True),
    ("ip len > 20", udp(), True),
    ("ip proto 17", udp(), True),
    ("proto != tcp", udp(), True),
    ("ip[9] == 17", udp(), True),
    ("ip[12:2] == 0x0a00", udp(), True),
    ("tcp[13] & 0x12 == 0x12", tcp(flags="SA"), True),
    ("transp[2:2] == 53", udp(), True),
    ("tcp win 8192", tcp(), True),
    ("tcp win & 0xff00 > 0x1f00", tcp(), True),
    # connectives
    ("tcp and not syn", tcp(flags="A"), True),
    ("udp || tcp && syn", tcp(flags="A"), False),
    ("(udp || tcp) && ack", tcp(flags="A"), True),
    ("tcp ? syn : true", udp(), True),
    ("tcp ? syn : false", tcp(flags="A"), False),
    ("true", udp(), True),
    ("false", udp(), False),
    ("-", udp(), True),
    ("any", udp(), True),
])
def test_known_answers(pattern, pkt, want):
    assert matches(pattern, pkt) is want


def test_fragments_hide_the_transport_header():
    mf = IP(src="10.0.0.5", flags="MF", frag=0) / TCP(dport=80, flags="S")
    later = IP(src="10.0.0.5", frag=100) / TCP(dport=80, flags="S")
    assert matches("ip frag", mf) and matches("ip frag", later)
    assert not matches("ip unfrag", mf)
    assert matches("tcp port 80 and syn", mf)
    assert matches("tcp", later)  # the protocol is in the IP header
    for pattern in ("tcp port 80", "syn", "transp[0:1] >= 0", "tcp win > 0"):
        assert not matches(pattern, later), pattern
    assert matches("not syn", later)
    assert matches("ip[6] & 0x1f > 0 or ip[7] > 0", later)  # ip[...] is not guarded


def test_short_packets_fail_the_fields_they_lack():
    full = bytes(Ether() / IP(src="10.0.0.5") / TCP(sport=1, dport=80, flags="S"))
    cut = full[: 14 + 20 + 10]  # ports present, TCP flags not
    ip_len = cut[:16] + (22).to_bytes(2, "big") + cut[18:]  # IP: 2 transport bytes
    assert matches("dst port 80", cut)
    assert not matches("syn", cut)
    assert matches("not syn", cut)
    assert matches("tcp opt syn", full)
    assert not matches("dst port 80", ip_len + b"\x00" * 40)  # ends at the IP length
    assert matches("tcp win < 70000", cut)  # always true: Click needs no bytes for it


@st.composite
def simple_packets(draw):
    ip = IP(src=draw(st.sampled_from(["10.0.0.1", "10.0.0.2", "192.168.1.1"])),
            dst=draw(st.sampled_from(["10.0.0.1", "192.168.1.9"])),
            ttl=draw(st.integers(0, 255)), tos=draw(st.integers(0, 255)),
            frag=draw(st.sampled_from([0, 0, 0, 7])))
    kind = draw(st.sampled_from(["tcp", "udp", "icmp"]))
    ports = st.sampled_from([22, 53, 80, 1023, 1024, 5000])
    if kind == "tcp":
        l4 = TCP(sport=draw(ports), dport=draw(ports), flags=draw(st.integers(0, 63)))
    elif kind == "udp":
        l4 = UDP(sport=draw(ports), dport=draw(ports))
    else:
        l4 = ICMP(type=draw(st.sampled_from([0, 3, 8, 11])))
    return ip / l4


@settings(max_examples=150)
@given(simple_packets(), st.sampled_from([22, 53, 80, 1023, 1024]),
       st.sampled_from(["==", "!=", "<", ">", "<=", ">="]), st.integers(0, 255))
def test_primitives_agree_with_scapy(pkt, port, rel, n):
    """Each primitive against the same question asked of scapy's dissection."""
    import operator
    ops = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
           "<=": operator.le, ">=": operator.ge}
    op = ops[rel]
    ip = IP(bytes(pkt))
    first = ip.frag == 0
    l4 = ip.payload if first else None
    has_ports = isinstance(l4, (TCP, UDP))
    assert matches(f"src port {port}", pkt) == (has_ports and l4.sport == port)
    assert matches(f"dst udp port {rel} {port}", pkt) == (
        first and isinstance(l4, UDP) and op(l4.dport, port))
    assert matches(f"ip ttl {rel} {n}", pkt) == op(ip.ttl, n)
    assert matches(f"ip tos & 0xfc {rel} {n & 0xfc}", pkt) == op(ip.tos & 0xFC, n & 0xFC)
    assert matches("syn", pkt) == (isinstance(l4, TCP) and bool(l4.flags & 2))
    assert matches(f"icmp type {rel} {n % 12}", pkt) == (isinstance(l4, ICMP)
                                                          and op(l4.type, n % 12))
    assert matches("src net 10.0.0.0/24", pkt) == ip.src.startswith("10.0.0.")
    assert matches("host 192.168.1.9", pkt) == ("192.168.1.9" in (ip.src, ip.dst))
    assert matches("ip frag", pkt) == (ip.frag != 0 or bool(ip.flags & 1))


@pytest.mark.parametrize("rule, message", [
    ("port http2", ("expected a port number or name after 'port', found 'http2' at column 6; "
                   "did you mean 'https' or 'tftp'?")),
    ("tcpp", "unknown word 'tcpp' at column 1; did you mean 'tcp'?"),
    ("80", "a bare number '80' needs a field before it at column 1; did you mean 'port 80'?"),
    ("echo", "'echo' is ambiguous at column 1; try 'port echo' or 'icmp type echo'"),
    ("tcp port bootps", "'bootps' is meaningless here at column 10; try 'port bootps'"),
    ("(tcp or udp", ("expected ')', found the end of the rule at column 12; the '(' at "
                    "column 1 is not closed")),
    ("tcp and", "expected a primitive after 'and', found the end of the rule at column 8"),
    ("tcp )", ("unexpected ')' after a complete expression at column 5; this ')' has no "
              "matching '('")),
    ("host 10.0.0.0/8", ("'host' takes an address, not the prefix '10.0.0.0/8' at column 6; "
                        "did you mean 'net 10.0.0.0/8'?")),
    ("ip ttl foo", "expected a number after 'ip ttl', found 'foo' at column 8"),
    ("ip ttl 300", "'ip ttl': value 300 out of range (0-255) at column 8"),
    ("tcp opt != syn", "'tcp opt' takes no relation or mask at column 12"),
    ("host > 10.0.0.1", "'host' takes no relation '>' at column 1"),
    ("icmp type unreachabel", ("expected an ICMP type number or name after 'icmp type', "
                              "found 'unreachabel' at column 11; did you mean 'unreachable'?")),
    ("ip[1:5] 0", "LEN in '[1:5]' must be between 1 and 4 at column 4"),
    ("ip[3:2] 0", ("field [3:2] does not fit in one 4-byte word at column 4; Click reads one "
                  "aligned word per test")),
    ("tcp ? syn", ("expected ':' in 'TEST ? A : B', found the end of the rule at column 10; "
                  "the ':' must be surrounded by spaces")),
    ("src port 80 & tcp", ("expected a bitmask number after '&', found 'tcp' at column 15; "
                          "write '&&' or 'and' to join primitives")),
    ("udp icmp", "transport protocol given twice ('udp' and 'icmp') at column 5"),
    ("", "empty pattern at column 1; use '-' to match every packet"),
])
def test_error_messages(rule, message):
    with pytest.raises(RuleError) as exc:
        parse_pattern(rule)
    assert str(exc.value) == message


def test_filter_rule_actions():
    assert parse_filter_rule("allow")[0] == 0
    assert parse_filter_rule("deny all")[0] == -1
    assert parse_filter_rule("drop tcp")[0] == -1
    assert parse_filter_rule("3 udp")[0] == 3
    with pytest.raises(RuleError, match="found 'alow' at column 1; did you mean 'allow'"):
        parse_filter_rule("alow tcp")
