"""The Snort-like rule parser: known parses and golden error texts with file:line."""

import pytest

from elements.ids.snortrules import Content, RuleError, load_rules, parse_rules


def one(text, **variables):
    (rule,) = parse_rules(text, variables=variables)
    return rule


def test_full_rule():
    r = one('alert tcp 10.0.0.0/8 any -> [192.168.1.1,!192.168.1.0/24] 80:90 '
            '(msg:"evil \\"x\\"; here"; content:"GET |2f 61|"; nocase; offset:2; depth:10; '
            'content:"a\\;b"; sid:1000001; rev:3;)')
    assert r.action == "alert" and r.proto == 6 and not r.bidirectional
    assert r.src == ((0x0A000000, 0xFF000000, False),)
    assert r.sport == ()
    assert r.dst == ((0xC0A80101, 0xFFFFFFFF, False), (0xC0A80100, 0xFFFFFF00, True))
    assert r.dport == ((80, 90, False),)
    assert r.msg == 'evil "x"; here'
    assert r.contents == (Content(b"GET /a", True, 2, 10), Content(b"a;b"))
    assert (r.sid, r.rev) == (1000001, 3)


def test_nets_ports_and_variables():
    r = one("drop udp $HOME any <> ![1.2.3.4,5.6.7.0/24] [:1023,!22,8080:] (sid:2;)",
            HOME="[10.0.0.0/8,$LAB]", LAB="172.16.0.0/12")
    assert r.bidirectional and r.proto == 17
    assert r.src == ((0x0A000000, 0xFF000000, False), (0xAC100000, 0xFFF00000, False))
    assert r.dst == ((0x01020304, 0xFFFFFFFF, True), (0x05060700, 0xFFFFFF00, True))
    assert r.dport == ((0, 1023, False), (22, 22, True), (8080, 65535, False))


def test_any_inside_a_list_means_any():
    assert one("pass ip [any,1.2.3.4] any -> any any (sid:3;)").src == ()
    assert one("pass ip [any,!1.2.3.4] any -> any any (sid:3;)").src == (
        (0x01020304, 0xFFFFFFFF, True),)


def test_continuation_comments_and_line_numbers(tmp_path):
    f = tmp_path / "rules.rules"
    f.write_text("# comment\n\nalert tcp any any -> any any \\\n  (content:\"x\"; sid:1;)\n"
                 "alert tcp any any -> any any (content:\"y\"; sid:2;)\n")
    rules = load_rules(f)
    assert [r.where for r in rules] == [f"{f}:3", f"{f}:5"]


BAD = [
    ("alert tcp any any -> any any (sid:1;", "expected '(options)' after the rule header"),
    ("alert tcp any -> any any (sid:1;)", "the header needs 7 fields"),
    ("block tcp any any -> any any (sid:1;)", "unknown action 'block'; please specify one of"),
    ("alert sctp any any -> any any (sid:1;)", "unknown protocol 'sctp'"),
    ("alert tcp any any <- any any (sid:1;)", "unknown direction '<-'"),
    ("alert tcp 1.2.3.300 any -> any any (sid:1;)", "bad IPv4 address or network '1.2.3.300'"),
    ("alert tcp any 70000 -> any any (sid:1;)", "bad port '70000'"),
    ("alert tcp any 90:80 -> any any (sid:1;)", "bad port range '90:80': 90 > 80"),
    ("alert tcp !any any -> any any (sid:1;)", "negates 'any' and matches nothing"),
    ("alert tcp $NOPE any -> any any (sid:1;)", "undefined variable $NOPE"),
    ("alert tcp [1.2.3.4 any -> any any (sid:1;)", "lacks its closing ']'"),
    ("alert icmp any 80 -> any any (sid:1;)", "ports apply to tcp and udp rules only"),
    ("alert tcp any any -> any any (content:\"a\"; sid:1)", "lacks its terminating ';'"),
    ("alert tcp any any -> any any (content:\"a; sid:1;)", "unterminated string"),
    ("alert tcp any any -> any any (content:\"a|4\"; sid:1;)", "unclosed '|' hex run"),
    ("alert tcp any any -> any any (content:\"|4g|\"; sid:1;)", "bad hex run |4g|"),
    ("alert tcp any any -> any any (content:\"\"; sid:1;)", "empty content"),
    ("alert tcp any any -> any any (content:!\"a\"; sid:1;)", "negated content is not supported"),
    ("alert tcp any any -> any any (nocase; content:\"a\"; sid:1;)", "nocase must follow a content"),
    ("alert tcp any any -> any any (content:\"abc\"; depth:2; sid:1;)", "depth 2 is shorter"),
    ("alert tcp any any -> any any (content:\"a\"; offset:-1; sid:1;)", "offset needs an integer"),
    ("alert tcp any any -> any any (content:\"a\"; pcre:\"/a/\"; sid:1;)", "unknown option 'pcre'"),
    ("alert tcp any any -> any any (content:\"a\";)", "the rule has no sid"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_errors_name_the_line(text, message):
    with pytest.raises(RuleError) as e:
        parse_rules("# header\n" + text, "rules.rules")
    assert len(e.value.errors) == 1
    assert e.value.errors[0].startswith("rules.rules:2: error: ")
    assert message in e.value.errors[0]


def test_all_errors_are_collected_and_duplicate_sids_refused():
    text = ("alert tcp any any -> any any (sid:5;)\n"
            "alert tcp any any -> any any (sid:5;)\n"
            "oops\n")
    with pytest.raises(RuleError) as e:
        parse_rules(text, "r.rules")
    assert e.value.errors == [
        "r.rules:2: error: sid 5 already used at r.rules:1",
        "r.rules:3: error: expected '(options)' after the rule header",
    ]


def test_unreadable_file():
    with pytest.raises(RuleError, match=r"/nonexistent/x.rules: error: cannot read rules"):
        load_rules("/nonexistent/x.rules")
