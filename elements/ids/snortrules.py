"""A Snort-like rule subset: parsing rule text into checked ``Rule`` values.

Grammar (one rule per line; ``#`` comments, blank lines and ``\\`` line continuations
as in Snort)::

    ACTION PROTO SRC SPORT DIR DST DPORT (OPTION; OPTION; ...)

- ``ACTION``: ``alert``, ``drop`` or ``pass``. ``PROTO``: ``tcp``, ``udp``, ``icmp``, ``ip``.
  ``DIR``: ``->`` or ``<>`` (either direction).
- Nets: ``any``, ``a.b.c.d``, ``a.b.c.d/len``, ``$VAR``, ``[list, ...]``, ``!net``. A list
  matches when some positive item matches (or it has none) and no negated item does.
- Ports (tcp/udp only): ``any``, ``N``, ``N:M``, ``N:``, ``:M``, ``$VAR``, ``[list]``, ``!``.
- Options: ``msg:"..."``, ``content:"..."`` (``|de ad|`` hex runs; ``\\"``, ``\\;``, ``\\\\``
  escapes), and after a content its modifiers ``nocase``, ``offset:N``, ``depth:N``;
  ``sid:N`` (required, unique), ``rev:N``. Several contents per rule: all must match.

Everything else is refused with an error naming the file and line, for instance
``rules.rules:12: error: unknown option 'pcre'``. All errors of a file are collected
before ``RuleError`` is raised, so the user sees them at once.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

ACTIONS = ("alert", "drop", "pass")
PROTOS = {"tcp": 6, "udp": 17, "icmp": 1, "ip": 0}


class RuleError(ValueError):
    """One or more bad rules; ``errors`` holds each ``file:line: error: ...`` text."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass(frozen=True)
class Content:
    pattern: bytes
    nocase: bool = False
    offset: int = 0
    depth: int = -1  # -1: no limit; else the match lies in [offset, offset + depth)


@dataclass(frozen=True)
class Rule:
    action: str
    proto: int  # IP protocol number, 0 for "ip" (any)
    src: tuple[tuple[int, int, bool], ...]  # (address, mask, negated)
    sport: tuple[tuple[int, int, bool], ...]  # (low, high, negated)
    dst: tuple[tuple[int, int, bool], ...]
    dport: tuple[tuple[int, int, bool], ...]
    bidirectional: bool
    sid: int
    rev: int = 1
    msg: str = ""
    contents: tuple[Content, ...] = ()
    where: str = field(default="<inline>:0", compare=False)


class _Bad(Exception):
    """A parse error inside one rule; the caller adds the place."""


def _split_list(text: str) -> list[str]:
    """Items of ``[a, [b, c], d]`` (outer brackets already removed), nesting kept."""
    items, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
            continue
        depth += (ch == "[") - (ch == "]")
        if depth < 0:
            raise _Bad("unbalanced ']'")
        cur += ch
    if depth:
        raise _Bad("unbalanced '['")
    items.append(cur.strip())
    if any(not item for item in items):
        raise _Bad("empty item in list")
    return items


def _flatten(text: str, neg: bool, leaf, variables: dict[str, str], what: str, seen=()):
    """Flatten a net or port expression into (a, b, negated) entries; ``any`` is the
    entry ``leaf("any")``."""
    text = text.strip()
    if not text:
        raise _Bad(f"empty {what}")
    if text.startswith("!"):
        return _flatten(text[1:], not neg, leaf, variables, what, seen)
    if text.startswith("$"):
        name = text[1:]
        if name not in variables:
            raise _Bad(f"undefined variable ${name}")
        if name in seen:
            raise _Bad(f"variable ${name} refers to itself")
        return _flatten(variables[name], neg, leaf, variables, what, seen + (name,))
    if text.startswith("["):
        if not text.endswith("]"):
            raise _Bad(f"{what} list {text!r} lacks its closing ']'")
        out = []
        for item in _split_list(text[1:-1]):
            entries = _flatten(item, False, leaf, variables, what, seen)
            if neg and any(e[2] for e in entries):
                raise _Bad(f"negated {what} list {text!r} holds a negated item (unsupported)")
            out += [(a, b, n != neg) for a, b, n in entries]
        return out
    return [leaf(text) + (neg,)]


def _spec(text: str, leaf, variables: dict[str, str], what: str):
    """The entries of a net or port expression: a positive ``any`` makes the positive
    part true (its positives are dropped); "no positives" means any."""
    entries = _flatten(text, False, leaf, variables, what)
    everything = leaf("any")
    if (everything + (True,)) in entries:
        raise _Bad(f"{what} {text!r} negates 'any' and matches nothing")
    if (everything + (False,)) in entries:
        entries = [e for e in entries if e[2]]
    return tuple(entries)


def _net_leaf(text: str) -> tuple[int, int]:
    if text == "any":
        return 0, 0
    try:
        net = ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        raise _Bad(f"bad IPv4 address or network {text!r}") from None
    return int(net.network_address), int(net.netmask)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise _Bad(f"bad port {text!r} (expected 0..65535)")
    return int(text)


def _port_leaf(text: str) -> tuple[int, int]:
    if text == "any":
        return 0, 65535
    if ":" in text:
        lo, _, hi = text.partition(":")
        low = _port(lo) if lo else 0
        high = _port(hi) if hi else 65535
        if low > high:
            raise _Bad(f"bad port range {text!r}: {low} > {high}")
        return low, high
    p = _port(text)
    return p, p


def _unquote(value: str, what: str) -> str:
    """The text between the double quotes of ``value``, escapes undone."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        if value.startswith('!"'):
            raise _Bad(f"negated {what} is not supported")
        raise _Bad(f'{what} must be a double-quoted string, found {value!r}')
    body, out, k = value[1:-1], [], 0
    while k < len(body):
        ch = body[k]
        if ch == "\\":
            if k + 1 >= len(body) or body[k + 1] not in '\\";:':
                raise _Bad(f"bad escape in {what} {value!r}")
            out.append(body[k + 1])
            k += 2
            continue
        if ch == '"':
            raise _Bad(f"unescaped '\"' in {what} {value!r}")
        out.append(ch)
        k += 1
    return "".join(out)


_HEX = re.compile(r"[0-9a-fA-F]{2}")


def _content_bytes(text: str) -> bytes:
    """``abc|0d 0a|def`` -> bytes: text outside ``|...|`` as Latin-1, hex pairs inside."""
    parts = text.split("|")
    if len(parts) % 2 == 0:
        raise _Bad("content has an unclosed '|' hex run")
    out = bytearray()
    for k, part in enumerate(parts):
        if k % 2 == 0:
            try:
                out += part.encode("latin-1")
            except UnicodeEncodeError:
                raise _Bad(f"content text {part!r} is not Latin-1") from None
            continue
        digits = part.replace(" ", "")
        if len(digits) % 2 or not all(_HEX.fullmatch(digits[j:j + 2]) for j in range(0, len(digits), 2)):
            raise _Bad(f"bad hex run |{part}| in content")
        out += bytes.fromhex(digits)
    if not out:
        raise _Bad("empty content")
    return bytes(out)


def _options(text: str) -> list[tuple[str, str | None]]:
    """``a:1; b; c:"x\\;y";`` -> [(a, '1'), (b, None), (c, '"x\\;y"')]: split on
    semicolons that are outside quotes and not escaped."""
    opts, cur, quoted, k = [], "", False, 0
    while k < len(text):
        ch = text[k]
        if ch == "\\" and k + 1 < len(text):
            cur += text[k : k + 2]
            k += 2
            continue
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            opts.append(cur.strip())
            cur = ""
        else:
            cur += ch
        k += 1
    if quoted:
        raise _Bad("unterminated string in options")
    if cur.strip():
        raise _Bad(f"option {cur.strip()!r} lacks its terminating ';'")
    out = []
    for opt in opts:
        if not opt:
            raise _Bad("empty option (';;')")
        name, colon, value = opt.partition(":")
        out.append((name.strip(), value.strip() if colon else None))
    return out


def _number(name: str, value: str | None, low: int = 0) -> int:
    if value is None or not value.isdigit() or int(value) < low:
        raise _Bad(f"{name} needs an integer >= {low}, found {value!r}")
    return int(value)


def parse_rule(text: str, variables: dict[str, str] | None = None, where: str = "<inline>:0") -> Rule:
    """One rule from its text; raises ``_Bad`` (callers: ``parse_rules``)."""
    variables = variables or {}
    open_paren = text.find("(")
    if open_paren < 0 or not text.rstrip().endswith(")"):
        raise _Bad("expected '(options)' after the rule header")
    header = text[:open_paren].split()
    if len(header) != 7:
        raise _Bad("the header needs 7 fields: ACTION PROTO SRC SPORT DIR DST DPORT,"
                   f" found {len(header)}")
    action, proto, src, sport, direction, dst, dport = header
    if action not in ACTIONS:
        raise _Bad(f"unknown action {action!r}; please specify one of {list(ACTIONS)}")
    if proto not in PROTOS:
        raise _Bad(f"unknown protocol {proto!r}; please specify one of {list(PROTOS)}")
    if direction not in ("->", "<>"):
        raise _Bad(f"unknown direction {direction!r}; expected '->' or '<>'")
    src_nets = _spec(src, _net_leaf, variables, "address")
    dst_nets = _spec(dst, _net_leaf, variables, "address")
    sports = _spec(sport, _port_leaf, variables, "port")
    dports = _spec(dport, _port_leaf, variables, "port")
    if proto not in ("tcp", "udp") and (sports or dports):
        raise _Bad(f"ports apply to tcp and udp rules only, not {proto!r}")

    msg, sid, rev = "", None, 1
    contents: list[Content] = []
    for name, value in _options(text[open_paren + 1 : text.rstrip().rfind(")")]):
        if name == "msg":
            msg = _unquote(value or "", "msg")
        elif name == "content":
            contents.append(Content(_content_bytes(_unquote(value or "", "content"))))
        elif name in ("nocase", "offset", "depth"):
            if not contents:
                raise _Bad(f"{name} must follow a content option")
            last = contents[-1]
            if name == "nocase":
                if value is not None:
                    raise _Bad("nocase takes no value")
                contents[-1] = Content(last.pattern, True, last.offset, last.depth)
            elif name == "offset":
                contents[-1] = Content(last.pattern, last.nocase, _number(name, value), last.depth)
            else:
                depth = _number(name, value, 1)
                if depth < len(last.pattern):
                    raise _Bad(f"depth {depth} is shorter than the content ({len(last.pattern)} bytes)")
                contents[-1] = Content(last.pattern, last.nocase, last.offset, depth)
        elif name == "sid":
            sid = _number(name, value, 1)
        elif name == "rev":
            rev = _number(name, value, 1)
        else:
            raise _Bad(f"unknown option {name!r}; supported: msg, content, nocase, offset,"
                       " depth, sid, rev")
    if sid is None:
        raise _Bad("the rule has no sid")
    return Rule(action, PROTOS[proto], src_nets, sports, dst_nets, dports, direction == "<>", sid, rev, msg, tuple(contents), where)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, joined text) of each rule; ``\\`` at a line end continues it."""
    out, pending, start = [], "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        out.append((start, pending + stripped))
        pending = ""
    if pending:
        out.append((start, pending))
    return out


def parse_rules(text: str, file: str = "<inline>", variables: dict[str, str] | None = None,
                first_line: int = 1) -> list[Rule]:
    """Every rule of ``text``; a ``RuleError`` lists all bad rules and duplicate sids."""
    rules, errors, sids = [], [], {}
    for number, line in _logical_lines(text):
        where = f"{file}:{number + first_line - 1}"
        try:
            rule = parse_rule(line, variables, where)
        except _Bad as e:
            errors.append(f"{where}: error: {e}")
            continue
        if rule.sid in sids:
            errors.append(f"{where}: error: sid {rule.sid} already used at {sids[rule.sid]}")
            continue
        sids[rule.sid] = where
        rules.append(rule)
    if errors:
        raise RuleError(errors)
    return rules


def load_rules(path: str | Path, variables: dict[str, str] | None = None) -> list[Rule]:
    """The rules of a file (errors name the file as given)."""
    try:
        text = Path(path).read_text(encoding="latin-1")
    except OSError as e:
        raise RuleError([f"{path}: error: cannot read rules: {e.strerror}"]) from None
    return parse_rules(text, str(path), variables)
