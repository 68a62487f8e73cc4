"""Click's IP filter expression language (IPClassifier, IPFilter): parser, AST, oracle
and the numba code generator that turns a rule list into one specialised kernel.

The grammar and the meaning of every primitive follow Click's ``ipfilter.cc``::

    expr   ::= orexpr | orexpr '?' expr ':' expr
    orexpr ::= term { ('or' | '||') term }
    term   ::= factor { ['and' | '&&'] factor }        juxtaposition means 'and'
    factor ::= ('not' | '!') factor | 'true' | 'false' | '(' expr ')'
             | quals [ '[' POS[:LEN] ']' ] [ '&' MASK ] [ relop ] data

A primitive desugars into ``Atom`` tests over packet fields joined by ``And``/``Or``/
``Not``. Protocol, addresses, ports and fragment bits come from the annotations that
CheckIPHeader/MarkIPHeader set (``mark_ip``); other fields are read from the bytes. An
atom on a field the packet does not hold (beyond the IP packet's end: the frame's end
or the IP total length, whichever is first) is false, which is exactly what Click's
length-checked matcher does; transport-layer
primitives carry an explicit "first fragment" and protocol guard, as in Click, so
``src tcp port != 80`` is ``tcp and first-fragment and not (sport == 80)``.

Port, host and relation quirks kept from Click: ``<`` and ``<=`` are negated ``>``
tests and the negation covers both directions, so ``port < 1024`` means *both* ports
are below 1024 and ``port != 80`` means neither port is 80; ``==`` compares
``(field & mask) == (value & mask)``. A bare number continues the previous primitive
(``src port 80 or 81``); alone it is an error, as in Click.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from elements.batch import F_L4FULL, F_NONFIRST, F_PORTS

# ---- name databases (Click's defaults) --------------------------------------------------

PROTOS = {"icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "udp": 17}
TCP_PORTS = {"echo": 7, "discard": 9, "daytime": 13, "chargen": 19, "ftp-data": 20, "ftp": 21,
             "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "dns": 53, "finger": 79,
             "www": 80, "pop3": 110, "sunrpc": 111, "auth": 113, "nntp": 119,
             "netbios-ssn": 139, "irc": 194, "imap3": 220, "https": 443, "imaps": 993,
             "pop3s": 995}
UDP_PORTS = {"echo": 7, "discard": 9, "daytime": 13, "chargen": 19, "domain": 53, "dns": 53,
             "bootps": 67, "bootpc": 68, "tftp": 69, "sunrpc": 111, "ntp": 123,
             "netbios-ns": 137, "netbios-dgm": 138, "snmp": 161, "snmp-trap": 162,
             "rip": 520, "route": 520}
TCP_OPTS = {"fin": 0x01, "syn": 0x02, "rst": 0x04, "psh": 0x08, "ack": 0x10, "urg": 0x20}
ICMP_TYPES = {"echo-reply": 0, "unreachable": 3, "sourcequench": 4, "redirect": 5, "echo": 8,
              "routeradvert": 9, "routersolicit": 10, "timeexceeded": 11,
              "parameterproblem": 12, "timestamp": 13, "timestamp-reply": 14, "inforeq": 15,
              "inforeq-reply": 16, "maskreq": 17, "maskreq-reply": 18}

# Header fields as (base, bit offset, bit length): IP fields from the IP header, the
# others from the transport header (those need the first fragment).
IP_FIELDS = {"vers": (0, 4), "hl": (4, 4), "tos": (8, 8), "dscp": (8, 6), "len": (16, 16),
             "id": (32, 16), "ttl": (64, 8)}
TRANSP_FIELDS = {"type": (1, 0, 8), "win": (6, 112, 16)}  # (protocol, bit offset, bits)
TYPE_WORDS = {"host", "net", "port", "proto", "opt", "frag", "unfrag", "ect", "ce",
              *IP_FIELDS, *TRANSP_FIELDS}
SYNTAX_WORDS = {"src", "dst", "dest", "ip", "not", "and", "or", "true", "false", "transp"}
TCP_OR_UDP = 256  # Click's IP_PROTO_TCP_OR_UDP
TRANSP = 258  # any transport protocol (transp[POS:LEN])
PROTO_NAMES = {**{v: k for k, v in PROTOS.items()}, TCP_OR_UDP: "tcp or udp",
               TRANSP: "transp"}
ALL_WORDS = sorted(set(PROTOS) | set(TCP_PORTS) | set(UDP_PORTS) | set(TCP_OPTS)
                   | set(ICMP_TYPES) | TYPE_WORDS | SYNTAX_WORDS)

# ---- AST --------------------------------------------------------------------------------

# A field is an annotation name ("proto", "saddr", "daddr", "sport", "dport", "frag",
# "nonfirst") or a tuple ("ip" | "transp", bit offset, bit length) of header bits.
Field = str | tuple


@dataclass(frozen=True)
class Atom:
    """``(field & mask) == value`` or ``(field & mask) > value``; false when absent."""

    field: Field
    op: str  # "==" | ">"
    value: int
    mask: int


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class Not:
    arg: Expr


@dataclass(frozen=True)
class And:
    args: tuple


@dataclass(frozen=True)
class Or:
    args: tuple


@dataclass(frozen=True)
class Cond:
    test: Expr
    then: Expr
    other: Expr


Expr = Atom | Const | Not | And | Or | Cond
TRUE, FALSE = Const(True), Const(False)
FULL = {"proto": 0xFF, "saddr": 0xFFFFFFFF, "daddr": 0xFFFFFFFF, "sport": 0xFFFF,
        "dport": 0xFFFF, "frag": 1, "nonfirst": 1}


def full_mask(f: Field) -> int:
    return FULL[f] if isinstance(f, str) else (1 << f[2]) - 1


def conj(*args: Expr) -> Expr:
    return args[0] if len(args) == 1 else And(tuple(args))


# ---- errors and tokens ------------------------------------------------------------------


class RuleError(ValueError):
    """A malformed rule: the message names the column (1-based) in the rule text."""

    def __init__(self, message: str, col: int, hint: str = ""):
        self.col = col
        text = f"{message} at column {col}"
        super().__init__(f"{text}; {hint}" if hint else text)


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=3, cutoff=0.6)
    return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


@dataclass(frozen=True)
class Token:
    text: str
    col: int  # 1-based


WORD_CHARS = re.compile(r"[A-Za-z0-9\-./@_:]+")


def tokenize(text: str, start_col: int = 1) -> list[Token]:
    """Click's ``separate_text``: words, two-char operators, one-char punctuation."""
    out = []
    pos, n = 0, len(text)
    while pos < n:
        c = text[pos]
        if c.isspace():
            pos += 1
            continue
        two = text[pos : pos + 2]
        if two in ("&&", "||", "<=", ">=", "!=", "=="):
            out.append(Token(two, pos + start_col))
            pos += 2
            continue
        m = WORD_CHARS.match(text, pos)
        if m:
            out.append(Token(m.group(), pos + start_col))
            pos = m.end()
        else:
            out.append(Token(c, pos + start_col))
            pos += 1
    return out


def parse_int(word: str) -> int | None:
    """Click's ``cp_integer`` with base 0: decimal, 0x hex, leading-zero octal."""
    w = word.lower()
    try:
        if w.startswith("0x") and len(w) > 2:
            return int(w, 0)
        if len(w) > 1 and w.startswith("0"):
            return int(w[1:], 8)
        return int(w, 10) if w.isdigit() else None
    except ValueError:
        return None


def parse_ip(word: str) -> int | None:
    parts = word.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        return None
    return (int(parts[0]) << 24) | (int(parts[1]) << 16) | (int(parts[2]) << 8) | int(parts[3])


def parse_prefix(word: str) -> tuple[int, int] | None:
    """``a.b.c.d/len`` or ``a.b.c.d/m.m.m.m`` as (address, mask)."""
    addr, slash, rest = word.partition("/")
    a = parse_ip(addr)
    if not slash or a is None:
        return None
    if rest.isdigit() and int(rest) <= 32:
        bits = int(rest)
        return a, (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
    m = parse_ip(rest)
    return (a, m) if m is not None else None


# ---- primitives -------------------------------------------------------------------------

SD_SRC, SD_DST, SD_AND, SD_OR = "src", "dst", "src and dst", "src or dst"


@dataclass
class Prim:
    """One primitive being parsed (Click's ``IPFilter::Primitive``)."""

    type: str = ""  # host net port proto opt frag unfrag ect ce field
    field: tuple = ()  # for type "field": (proto or None, base, bit offset, bits, name)
    data: str = ""  # kind of the data word: int host net port proto opt icmp
    value: int = 0
    mask: int | None = None  # the net mask for host/net data
    srcdst: str = ""
    proto: int | None = None  # transport protocol qualifier
    op: str = "=="  # == != < > <= >=
    col: int = 0
    type_word: str = ""

    def describe(self) -> str:
        if self.type == "field":
            return self.field[4]
        words = {"host": "host", "net": "net", "port": "port", "proto": "proto",
                 "opt": "tcp opt", "frag": "ip frag", "unfrag": "ip unfrag", "ect": "ip ect",
                 "ce": "ip ce"}
        return words.get(self.type, self.type)


class Parser:
    """Recursive descent over one rule's tokens, Click's grammar and defaults."""

    def __init__(self, tokens: list[Token], end_col: int):
        self.t = tokens
        self.end_col = end_col
        self.prev: Prim | None = None

    def word(self, pos: int) -> str:
        return self.t[pos].text if pos < len(self.t) else ""

    def col(self, pos: int) -> int:
        return self.t[pos].col if pos < len(self.t) else self.end_col

    def found(self, pos: int) -> str:
        return f"'{self.t[pos].text}'" if pos < len(self.t) else "the end of the rule"

    def parse(self, pos: int = 0) -> Expr:
        expr, pos = self.expr(pos)
        if pos < len(self.t):
            w = self.word(pos)
            raise RuleError(f"unexpected '{w}' after a complete expression", self.col(pos),
                            "join primitives with 'and' / 'or', or close a '('"
                            if w != ")" else "this ')' has no matching '('")
        return expr

    def expr(self, pos: int) -> tuple[Expr, int]:
        test, pos = self.orexpr(pos)
        if self.word(pos) != "?":
            return test, pos
        then, after = self.expr(pos + 1)
        if self.word(after) != ":":
            raise RuleError(f"expected ':' in 'TEST ? A : B', found {self.found(after)}",
                            self.col(after), "the ':' must be surrounded by spaces")
        other, pos = self.expr(after + 1)
        return Cond(test, then, other), pos

    def orexpr(self, pos: int) -> tuple[Expr, int]:
        args = []
        while True:
            term, pos = self.term(pos)
            args.append(term)
            if self.word(pos) not in ("or", "||"):
                return (args[0] if len(args) == 1 else Or(tuple(args))), pos
            pos += 1

    def term(self, pos: int) -> tuple[Expr, int]:
        args = []
        while True:
            start = pos
            factor, pos = self.factor(pos)
            if factor is None:
                what = "an expression" if not args else "a primitive after 'and'"
                raise RuleError(f"expected {what}, found {self.found(start)}", self.col(start))
            args.append(factor)
            if self.word(pos) in ("and", "&&"):
                pos += 1
            elif self.word(pos) in ("", ")", "or", "||", "?", ":"):
                return conj(*args), pos

    def factor(self, pos: int) -> tuple[Expr | None, int]:
        w = self.word(pos)
        if w in ("", ")", "||", "or", "?", ":"):
            return None, pos
        if w == "true":
            return TRUE, pos + 1
        if w == "false":
            return FALSE, pos + 1
        if w in ("not", "!"):
            arg, after = self.factor(pos + 1)
            if arg is None:
                raise RuleError(f"expected a primitive after '{w}', found {self.found(pos + 1)}",
                                self.col(pos + 1))
            return Not(arg), after
        if w == "(":
            inner, after = self.expr(pos + 1)
            if self.word(after) != ")":
                raise RuleError(f"expected ')', found {self.found(after)}", self.col(after),
                                f"the '(' at column {self.col(pos)} is not closed")
            return inner, after + 1
        return self.primitive(pos)

    # -- primitives --

    def primitive(self, pos: int) -> tuple[Expr, int]:
        first = pos
        p = Prim(col=self.col(pos))
        negated = False
        while pos < len(self.t):
            w = self.word(pos)
            if w in TYPE_WORDS:
                self.set_type(p, w, pos)
            elif w in PROTOS:
                self.set_proto(p, PROTOS[w], pos)
            elif w == "transp":
                self.set_proto(p, TRANSP, pos)
            elif w == "src":
                nxt = self.word(pos + 2)
                if nxt in ("dst", "dest") and self.word(pos + 1) in ("and", "&&"):
                    self.set_srcdst(p, SD_AND, pos)
                    pos += 2
                elif nxt in ("dst", "dest") and self.word(pos + 1) in ("or", "||"):
                    self.set_srcdst(p, SD_OR, pos)
                    pos += 2
                else:
                    self.set_srcdst(p, SD_SRC, pos)
            elif w in ("dst", "dest"):
                self.set_srcdst(p, SD_DST, pos)
            elif w == "ip":
                pass
            elif w in ("not", "!"):
                negated = not negated
            elif w == "ether":
                raise RuleError("'ether' primitives are not supported (packets here are IP)",
                                self.col(pos))
            else:
                break
            pos += 1
        if pos != first:
            self.prev = None
        if self.word(pos) == "[" and pos > first and not p.type:
            pos = self.brackets(p, pos)
        mask = None
        if self.word(pos) == "&":
            m = parse_int(self.word(pos + 1))
            if m is None:
                raise RuleError(f"expected a bitmask number after '&', found "
                                f"{self.found(pos + 1)}", self.col(pos + 1),
                                "write '&&' or 'and' to join primitives")
            mask = m or None  # Click: "bitmask of 0 ignored"
            pos += 2
        if self.word(pos) in ("=", "==", "!=", "<", ">", "<=", ">="):
            p.op = "==" if self.word(pos) == "=" else self.word(pos)
            pos += 1
        data_pos = pos
        pos = self.data(p, pos)
        if pos == first:
            raise self.unknown(first)
        expr = self.check(p, mask, data_pos)
        self.prev = p
        return (Not(expr) if negated else expr), pos

    def unknown(self, pos: int) -> RuleError:
        w = self.word(pos)
        if parse_int(w) is not None:
            return RuleError(f"a bare number '{w}' needs a field before it", self.col(pos),
                             f"did you mean 'port {w}'?")
        return RuleError(f"unknown word '{w}'", self.col(pos), did_you_mean(w, ALL_WORDS))

    def set_type(self, p: Prim, w: str, pos: int) -> None:
        if p.type:
            raise RuleError(f"'{w}' after '{p.type_word}': a primitive has one type",
                            self.col(pos), "join two primitives with 'and' or 'or'")
        p.type_word = w
        if w in IP_FIELDS:
            off, bits = IP_FIELDS[w]
            p.type, p.field = "field", (None, "ip", off, bits, f"ip {w}")
        elif w in TRANSP_FIELDS:
            proto, off, bits = TRANSP_FIELDS[w]
            p.type, p.field = "field", (proto, "transp", off, bits,
                                        f"{PROTO_NAMES[proto]} {w}")
            self.set_proto(p, proto, pos)
        else:
            p.type = w

    def set_proto(self, p: Prim, proto: int, pos: int) -> None:
        if p.proto is not None and p.proto != proto:
            raise RuleError(f"transport protocol given twice ('{PROTO_NAMES[p.proto]}' and "
                            f"'{self.word(pos)}')", self.col(pos))
        p.proto = proto

    def set_srcdst(self, p: Prim, sd: str, pos: int) -> None:
        if p.srcdst:
            raise RuleError("'src' or 'dst' given twice", self.col(pos))
        p.srcdst = sd

    def brackets(self, p: Prim, pos: int) -> int:
        start = pos
        text = ""
        pos += 1
        while pos < len(self.t) and self.word(pos) != "]":
            text += self.word(pos)
            pos += 1
        if pos >= len(self.t):
            raise RuleError("missing ']'", self.col(start))
        m = re.fullmatch(r"(\w+)(?::(\w+)|,(\w+))?", text)
        off = parse_int(m.group(1)) if m else None
        length = 1
        if m and m.group(2):
            length = parse_int(m.group(2))
        elif m and m.group(3):
            end = parse_int(m.group(3))
            length = None if end is None or off is None else end - off + 1
        if off is None or length is None:
            raise RuleError("expected '[POS]' or '[POS:LEN]'", self.col(start + 1))
        if not 1 <= length <= 4:
            raise RuleError(f"LEN in '[{text}]' must be between 1 and 4", self.col(start + 1))
        if off & ~3 != (off + length - 1) & ~3:
            raise RuleError(f"field [{off}:{length}] does not fit in one 4-byte word",
                            self.col(start + 1), "Click reads one aligned word per test")
        base = "ip" if p.proto is None else "transp"
        name = f"{'ip' if p.proto is None else PROTO_NAMES[p.proto]}[{text}]"
        p.type, p.field = "field", (p.proto, base, off * 8, length * 8, name)
        p.type_word = name
        return pos + 1

    def data(self, p: Prim, pos: int) -> int:
        """Read the data word (a name, number, address or prefix); Click's lookup()."""
        if pos >= len(self.t):
            return pos
        w = self.word(pos)
        kind = self.lookup(p, w, pos)
        if kind is not None:
            return pos + 1
        n = parse_int(w)
        if n is not None:
            p.data, p.value = "int", n
            return pos + 1
        a = parse_ip(w)
        if a is not None:
            if self.word(pos + 1) == "mask" and parse_ip(self.word(pos + 2)) is not None:
                p.data, p.value, p.mask = "net", a, parse_ip(self.word(pos + 2))
                return pos + 3
            p.data, p.value = "host", a
            return pos + 1
        pre = parse_prefix(w)
        if pre is not None:
            p.data, (p.value, p.mask) = "net", pre
            return pos + 1
        return pos  # no data: check() says whether the primitive needed some

    def lookup(self, p: Prim, w: str, pos: int) -> str | None:
        """Match ``w`` against the name databases allowed by the primitive so far."""
        if w in TYPE_WORDS or w in SYNTAX_WORDS:
            return None
        t, proto = p.type, p.proto
        got = []
        if w in PROTOS and t in ("", "proto"):
            got.append(("proto", PROTOS[w]))
        tcp_ok = t in ("", "port") and proto in (None, 6, TCP_OR_UDP)
        udp_ok = t in ("", "port") and proto in (None, 17, TCP_OR_UDP)
        if w in TCP_PORTS and tcp_ok:
            got.append(("port", TCP_PORTS[w]))
        if w in UDP_PORTS and udp_ok and not (w in TCP_PORTS and tcp_ok
                                               and TCP_PORTS[w] == UDP_PORTS[w]):
            got.append(("port", UDP_PORTS[w]))
        if w in TCP_OPTS and t in ("", "opt") and proto in (None, 6, TCP_OR_UDP):
            got.append(("opt", TCP_OPTS[w]))
        if w in ICMP_TYPES and (t == "" or p.type_word == "type") and proto in (None, 1):
            got.append(("icmp", ICMP_TYPES[w]))
        if len(got) == 1:
            p.data, p.value = got[0]
            return got[0][0]
        known = ([f"proto {w}"] * (w in PROTOS) + [f"port {w}"] * (w in TCP_PORTS or w in UDP_PORTS)
                 + [f"tcp opt {w}"] * (w in TCP_OPTS) + [f"icmp type {w}"] * (w in ICMP_TYPES))
        if not known:
            return None
        what = "ambiguous" if got else "meaningless here"
        raise RuleError(f"'{w}' is {what}", self.col(pos),
                        "try " + " or ".join(f"'{k}'" for k in known))

    def missing(self, p: Prim, pos: int) -> RuleError:
        """The data word after a type is not what that type takes."""
        w = self.word(pos)
        t = p.type
        after = p.field[4] if t == "field" else self.word(pos - 1)
        expect = {"port": ("a port number or name", set(TCP_PORTS) | set(UDP_PORTS)),
                  "host": ("an IP address", ()),
                  "net": ("an IP prefix (a.b.c.d/len or a.b.c.d mask m.m.m.m)", ()),
                  "proto": ("an IP protocol name or number", set(PROTOS)),
                  "opt": ("a TCP flag name (syn, fin, ack, rst, psh, urg)", set(TCP_OPTS))}
        if t in expect:
            text, names = expect[t]
        elif p.type == "field" and p.type_word == "type":
            text, names = "an ICMP type number or name", set(ICMP_TYPES)
        elif p.type == "field":
            text, names = "a number", ()
        elif p.op != "==":
            text, names, after = "a value", (), p.op
        else:
            text, names = "a port, address or other value", set(ALL_WORDS)
        found = self.found(pos)
        return RuleError(f"expected {text} after '{after}', found {found}", self.col(pos),
                         did_you_mean(w, names) if names and w else "")

    def check(self, p: Prim, mask: int | None, data_pos: int) -> Expr:
        """Click's ``Primitive::check`` + ``add_exprs``: resolve defaults, build atoms."""
        prev = self.prev
        col = self.col(data_pos)
        if not p.type:
            d = p.data
            if d == "int":
                if prev is None or prev.type not in ("field", "proto", "port"):
                    raise RuleError(f"a bare number '{self.word(data_pos)}' needs a field "
                                    "before it", col, f"did you mean 'port {p.value}'?")
                p.type, p.field = prev.type, prev.field
                if prev.type == "field" and p.proto is None:
                    p.proto = prev.field[0]
                d = prev.type
            if d in ("host", "net", "opt", "port"):
                p.type = d
                if not p.srcdst and prev is not None:
                    p.srcdst = prev.srcdst
                if d == "port" and p.proto is None and prev is not None:
                    p.proto = prev.proto
            elif d == "icmp":
                p.type, p.field = "field", (1, "transp", 0, 8, "icmp type")
                p.proto = 1
            elif d == "proto" or (not d and p.proto is not None):
                p.type = "proto"
            elif d in ("field",):
                pass
            elif not d:
                raise self.missing(p, data_pos)
        if p.data == "int" and p.type in ("port", "opt", "proto"):
            p.data = p.type
        t = p.type
        if t == "host":
            if p.data != "host":
                raise self.missing(p, data_pos) if p.data != "net" else RuleError(
                    f"'host' takes an address, not the prefix '{self.word(data_pos)}'", col,
                    f"did you mean 'net {self.word(data_pos)}'?")
            return self.host(p, 0xFFFFFFFF if mask is None else mask)
        if t == "net":
            if p.data != "net":
                raise self.missing(p, data_pos) if p.data != "host" else RuleError(
                    f"'net' takes a prefix, not the address '{self.word(data_pos)}'", col,
                    f"did you mean 'host {self.word(data_pos)}' or "
                    f"'net {self.word(data_pos)}/24'?")
            return self.host(p, p.mask if mask is None else mask)
        if t == "proto":
            if p.data in ("proto", "int"):
                if p.proto is not None and p.proto != p.value:
                    raise RuleError("protocol given twice", col)
            elif p.data or p.proto is None:
                raise self.missing(p, data_pos)
            else:
                p.value = p.proto
            if p.value == TRANSP:
                raise RuleError("'transp' needs a field: transp[POS:LEN]", p.col)
            return self.compare("proto", p, mask, data_pos)
        if t == "port":
            if p.data != "port":
                raise self.missing(p, data_pos)
            proto = TCP_OR_UDP if p.proto is None else p.proto
            if proto not in (6, 17, TCP_OR_UDP):
                raise RuleError(f"'port' needs TCP or UDP, not '{PROTO_NAMES.get(proto)}'",
                                p.col)
            p.proto = proto
            sd = p.srcdst or SD_OR
            p.srcdst = sd
            return conj(FIRST, proto_guard(proto), self.directions(p, sd, "sport", "dport",
                                                                   0xFFFF, mask, data_pos))
        if t == "opt":
            if p.data != "opt":
                raise self.missing(p, data_pos)
            if p.proto not in (None, 6):
                raise RuleError("'tcp opt' needs TCP", p.col)
            if p.op != "==" or mask is not None:
                raise RuleError("'tcp opt' takes no relation or mask", col)
            if not 0 <= p.value <= 255:
                raise RuleError(f"'tcp opt' value {p.value} out of range 0-255", col)
            p.proto = 6
            return conj(FIRST, proto_guard(6), Atom(("transp", 104, 8), "==", p.value, p.value))
        if t in ("frag", "unfrag", "ce"):
            if p.data or mask is not None:
                raise RuleError(f"'{p.describe()}' takes no value", col)
            if t == "ce":
                return Atom(("ip", 8, 8), "==", 3, 3)
            a = Atom("frag", "==", 1, 1)
            return a if t == "frag" else Not(a)
        if t == "ect":
            if p.data not in ("", "int"):
                raise self.missing(p, data_pos)
            if not p.data:
                return Not(Atom(("ip", 8, 8), "==", 0, 3))
            p.field = (None, "ip", 14, 2, "ip ect")
            t = "field"
        if t == "field":
            if p.data not in ("int", "icmp"):
                raise self.missing(p, data_pos)
            proto, base, off, bits, _ = p.field
            if proto is not None:
                if p.proto not in (None, proto) and proto != TRANSP:
                    raise RuleError("transport protocol given twice", p.col)
                proto = p.proto if p.proto is not None else proto
            test = self.compare((base, off, bits), p, mask, data_pos)
            if base == "transp":
                guard = [FIRST] + ([proto_guard(proto)] if proto not in (None, TRANSP) else [])
                return conj(*guard, test)
            return test
        raise self.missing(p, data_pos)

    def host(self, p: Prim, mask: int) -> Expr:
        if p.op not in ("==", "!="):
            raise RuleError(f"'{p.describe()}' takes no relation '{p.op}'", p.col)
        sd = p.srcdst or SD_OR
        p.srcdst = sd
        tests = [Atom(f, "==", p.value & mask, mask) for f in fields_of(sd, "saddr", "daddr")]
        e = Or(tuple(tests)) if sd == SD_OR else conj(*tests)
        return Not(e) if p.op == "!=" else e

    def directions(self, p: Prim, sd: str, src: str, dst: str, full: int, mask, pos) -> Expr:
        op, value, m, negated = normalise(p.op, p.value, full if mask is None else mask,
                                          full, self, pos, p.describe())
        tests = [cmp_atom(f, op, value, m) for f in fields_of(sd, src, dst)]
        e = Or(tuple(tests)) if sd == SD_OR else conj(*tests)
        return Not(e) if negated else e

    def compare(self, f: Field, p: Prim, mask, pos) -> Expr:
        full = full_mask(f)
        op, value, m, negated = normalise(p.op, p.value, full if mask is None else mask,
                                          full, self, pos, p.describe())
        e = cmp_atom(f, op, value, m)
        return Not(e) if negated else e


FIRST = Not(Atom("nonfirst", "==", 1, 1))


def proto_guard(proto: int) -> Expr:
    if proto == TCP_OR_UDP:
        return Or((Atom("proto", "==", 6, 0xFF), Atom("proto", "==", 17, 0xFF)))
    return Atom("proto", "==", proto, 0xFF)


def fields_of(sd: str, src: str, dst: str) -> list[str]:
    return {SD_SRC: [src], SD_DST: [dst]}.get(sd, [src, dst])


def cmp_atom(f: Field, op: str, value: int, mask: int) -> Expr:
    if mask == 0:  # Click turns always-true/false relations into a mask-0 test: no bytes
        return Const(op == "==" and value == 0 or op == ">" and value < 0)
    return Atom(f, op, value, mask)


def normalise(op: str, value: int, mask: int, full: int, parser: Parser, pos: int, what: str):
    """Click's ``set_mask``: every relation as ``==`` or ``>`` plus a negation flag."""
    if mask & full != mask:
        raise RuleError(f"'{what}': mask {mask:#x} out of range (0-{full:#x})", parser.col(pos))
    if op in ("==", "!="):
        if value > full:
            raise RuleError(f"'{what}': value {value} out of range (0-{full})", parser.col(pos))
        return "==", value & mask, mask, op == "!="
    # value < X == !(value > X - 1); value >= X == value > X - 1; value <= X == !(value > X)
    if op in ("<", ">="):
        value, negated = value - 1, op == "<"
    else:
        negated = op == "<="
    if value >= mask:  # always false as '>': Click's mask-0 rewrite
        return "==", 1, 0, negated
    if value < 0:
        return "==", 0, 0, negated
    return ">", value, mask, negated


# ---- public parse -----------------------------------------------------------------------


def parse_pattern(text: str) -> Expr:
    """One IPClassifier pattern (``-``, ``any`` and ``all`` match everything)."""
    tokens = tokenize(text)
    if not tokens:
        raise RuleError("empty pattern", 1, "use '-' to match every packet")
    if len(tokens) == 1 and tokens[0].text in ("-", "any", "all"):
        return TRUE
    return Parser(tokens, len(text) + 1).parse()


DROP = -1  # IPFilter action "deny"/"drop"
ACTIONS = ("allow", "deny", "drop")


def parse_filter_rule(text: str) -> tuple[int, Expr]:
    """One IPFilter rule ``ACTION PATTERN``: (output port or ``DROP``, expression)."""
    tokens = tokenize(text)
    if not tokens:
        raise RuleError("empty rule", 1, "write 'allow PATTERN', 'drop PATTERN' or 'N PATTERN'")
    a = tokens[0].text
    if a == "allow":
        action = 0
    elif a in ("deny", "drop"):
        action = DROP
    elif parse_int(a) is not None:
        action = parse_int(a)
    else:
        raise RuleError(f"expected an action (allow, deny, drop or an output number), found "
                        f"'{a}'", tokens[0].col, did_you_mean(a, ACTIONS))
    rest = tokens[1:]
    if not rest or (len(rest) == 1 and rest[0].text in ("-", "any", "all")):
        return action, TRUE
    return action, Parser(rest, len(text) + 1).parse()


# ---- the plain-Python oracle --------------------------------------------------------------


def packet_fields(buf, head: int, length: int, l3: int) -> dict:
    """Every field the language reads, parsed straight from the bytes (no annotations):
    the oracle's view of a packet whose IPv4 header starts at slot offset ``l3``."""
    end = head + length
    u16 = lambda o: (buf[o] << 8) | buf[o + 1]
    u32 = lambda o: (u16(o) << 16) | u16(o + 2)
    if l3 + 4 <= end and l3 + u16(l3 + 2) < end:
        end = l3 + u16(l3 + 2)
    frag = u16(l3 + 6)
    proto = buf[l3 + 9]
    l4 = l3 + (buf[l3] & 0x0F) * 4
    nonfirst = (frag & 0x1FFF) != 0
    f = {"proto": proto, "saddr": u32(l3 + 12), "daddr": u32(l3 + 16),
         "frag": int((frag & 0x3FFF) != 0), "nonfirst": int(nonfirst), "_end": end,
         "_l3": l3, "_l4": l4, "_buf": buf}
    if proto in (6, 17) and not nonfirst and l4 + 4 <= end:
        f["sport"], f["dport"] = u16(l4), u16(l4 + 2)
    return f


def field_value(f: Field, pf: dict) -> int | None:
    if isinstance(f, str):
        return pf.get(f)
    base, off, bits = f
    start = (pf["_l3"] if base == "ip" else pf["_l4"]) + off // 8
    nbytes = (off % 8 + bits + 7) // 8
    if start + nbytes > pf["_end"]:
        return None
    word = int.from_bytes(bytes(pf["_buf"][start : start + nbytes]), "big")
    return (word >> (nbytes * 8 - off % 8 - bits)) & ((1 << bits) - 1)


def evaluate(e: Expr, pf: dict) -> bool:
    """The meaning of an expression on a packet's fields (the test oracle)."""
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Atom):
        v = field_value(e.field, pf)
        if v is None:
            return False
        return (v & e.mask) == e.value if e.op == "==" else (v & e.mask) > e.value
    if isinstance(e, Not):
        return not evaluate(e.arg, pf)
    if isinstance(e, And):
        return all(evaluate(a, pf) for a in e.args)
    if isinstance(e, Or):
        return any(evaluate(a, pf) for a in e.args)
    return evaluate(e.then, pf) if evaluate(e.test, pf) else evaluate(e.other, pf)


# ---- simplification and code generation ---------------------------------------------------


def simplify(e: Expr, proto: int | None = None, not_protos: frozenset = frozenset(),
             first: bool = False) -> Expr:
    """Fold constants under what a kernel branch knows: ``proto`` (decides every atom
    on the protocol), ``not_protos`` (the protocol is none of these), ``first`` (a
    first fragment)."""
    if isinstance(e, Atom):
        if proto is not None and e.field == "proto":
            v = proto & e.mask
            return Const(v == e.value if e.op == "==" else v > e.value)
        if e.field == "proto" and e.op == "==" and e.mask == 0xFF and e.value in not_protos:
            return FALSE
        if first and e.field == "nonfirst":
            return Const(e.op == "==" and e.value == 0)
        return e
    if isinstance(e, Const):
        return e
    if isinstance(e, Not):
        a = simplify(e.arg, proto, not_protos, first)
        if isinstance(a, Const):
            return Const(not a.value)
        return a.arg if isinstance(a, Not) else Not(a)
    if isinstance(e, Cond):
        t = simplify(e.test, proto, not_protos, first)
        a = simplify(e.then, proto, not_protos, first)
        b = simplify(e.other, proto, not_protos, first)
        if isinstance(t, Const):
            return a if t.value else b
        return Cond(t, a, b)
    is_and = isinstance(e, And)
    args = []
    for a in e.args:
        a = simplify(a, proto, not_protos, first)
        if isinstance(a, Const):
            if a.value != is_and:  # False in an And, True in an Or decides it
                return a
            continue
        args.extend(a.args if type(a) is type(e) else [a])
    if not args:
        return Const(is_and)
    return args[0] if len(args) == 1 else type(e)(tuple(args))


def atoms(e: Expr):
    if isinstance(e, Atom):
        yield e
    elif isinstance(e, Not):
        yield from atoms(e.arg)
    elif isinstance(e, (And, Or)):
        for a in e.args:
            yield from atoms(a)
    elif isinstance(e, Cond):
        for a in (e.test, e.then, e.other):
            yield from atoms(a)


ANNO_VARS = {"proto": "pr", "saddr": "sa", "daddr": "da", "sport": "sp", "dport": "dp"}

# Fields fixed for every packet of a flow (for unfragmented TCP/UDP packets, the only
# ones the decision cache serves, the fragment fields are fixed too).
FLOW_FIELDS = frozenset({"proto", "saddr", "daddr", "sport", "dport", "frag", "nonfirst"})


def flow_deterministic(rules: list[tuple[Expr, int]]) -> bool:
    """Do the rules test only fields that every packet of a flow shares?"""
    return all(a.field in FLOW_FIELDS for e, _ in rules for a in atoms(e))


class KernelWriter:
    """Emit one numba kernel: ``rules`` is a list of (expression, result) tried in order
    (result an output port, or a negative drop code); no match returns ``default``."""

    def __init__(self, rules: list[tuple[Expr, int]], default: int, no_ip: int):
        self.rules = rules
        self.default = default
        self.no_ip = no_ip
        self.byte_fields: dict[tuple, str] = {}
        self.ports_known = False  # in a branch where F_PORTS is known to be set
        self.l4_bytes = 0  # transport header bytes known present in the branch

    def var(self, f: Field) -> str:
        if isinstance(f, str):
            return ANNO_VARS.get(f, f)
        if f not in self.byte_fields:
            self.byte_fields[f] = f"f{len(self.byte_fields)}"
        return self.byte_fields[f]

    def present(self, f: tuple) -> bool:
        """Is header field ``f`` known to be in the packet in the current branch? With
        the whole fixed transport header present (F_L4FULL), so is the IP header."""
        base, off, bits = f
        limit = 160 if base == "ip" else 8 * self.l4_bytes
        return self.l4_bytes > 0 and off + bits <= limit

    def atom(self, a: Atom) -> str:
        if a.field == "frag":
            return "((fl & 2) != 0)"
        if a.field == "nonfirst":
            return "((fl & 4) != 0)"
        v = self.var(a.field)
        lhs = v if a.mask == full_mask(a.field) else f"({v} & {a.mask:#x})"
        test = f"({lhs} {a.op} {a.value:#x})"
        if a.field in ("sport", "dport"):
            return test if self.ports_known else f"(ports and {test})"
        if isinstance(a.field, tuple) and not self.present(a.field):
            return f"({v} >= 0 and {test})"
        return test

    def expr(self, e: Expr) -> str:
        """A rule as one boolean expression over locals already loaded. (Branch-free
        ``&``/``|`` measured 10% slower than short-circuit ``and``/``or`` on the
        23-rule benchmark list.)"""
        if isinstance(e, Const):
            return "True" if e.value else "False"
        if isinstance(e, Atom):
            return self.atom(e)
        if isinstance(e, Not):
            return f"(not {self.expr(e.arg)})"
        if isinstance(e, Cond):
            return f"({self.expr(e.then)} if {self.expr(e.test)} else {self.expr(e.other)})"
        joiner = " and " if isinstance(e, And) else " or "
        return "(" + joiner.join(self.expr(a) for a in e.args) + ")"

    def branch(self, proto: int | None, others: frozenset, indent: str,
               fast: bool = False) -> list[str]:
        """Rules specialised to one protocol value (``None``: none of ``others``); with
        ``fast``, to a first fragment whose whole fixed transport header (and so its
        ports) is present: no fragment, port or length guards left to test."""
        self.ports_known = fast and proto in (6, 17)
        self.l4_bytes = {6: 20, 17: 8, 1: 8}.get(proto, 0) if fast else 0
        body, used = [], set()
        for e, result in self.rules:
            s = simplify(e, proto, others, first=fast)
            if s == FALSE:
                continue
            used |= {a.field for a in atoms(s)}
            if s == TRUE:
                body.append(f"{indent}return {result}")
                break
            body.append(f"{indent}if {self.expr(s)}:")
            body.append(f"{indent}    return {result}")
        else:
            body.append(f"{indent}return {self.default}")
        loads = []
        if any(isinstance(f, tuple) and not self.present(f) for f in used):
            loads += [f"{indent}end = b.head[i] + b.length[i]",
                      f"{indent}if l3 + 4 <= end:",
                      (f"{indent}    ipend = l3 + ((np.int64(b.data[i, l3 + 2]) << 8)"
                       " | b.data[i, l3 + 3])"),
                      f"{indent}    if ipend < end:", f"{indent}        end = ipend"]
        for f in sorted(used, key=str):
            if isinstance(f, tuple):
                loads += self.load(f, indent)
            elif f in ("saddr", "daddr", "sport", "dport"):
                loads.append(f"{indent}{ANNO_VARS[f]} = np.int64(b.{f}[i])")
            if (f in ("sport", "dport") and not self.ports_known
                    and f"{indent}ports = (fl & 8) != 0" not in loads):
                loads.append(f"{indent}ports = (fl & 8) != 0")
        return loads + body

    def load(self, f: tuple, indent: str) -> list[str]:
        base, off, bits = f
        v = self.var(f)
        nbytes = (off % 8 + bits + 7) // 8
        start = f"{'l3' if base == 'ip' else 'l4'} + {off // 8}"
        word = " | ".join(f"(np.int64(b.data[i, {start} + {k}]) << {8 * (nbytes - 1 - k)})"
                          for k in range(nbytes))
        shift = nbytes * 8 - off % 8 - bits
        value = f"(({word}) >> {shift}) & {(1 << bits) - 1:#x}"
        if self.present(f):
            return [f"{indent}{v} = {value}"]
        return [f"{indent}{v} = np.int64(-1)",
                f"{indent}if {start} + {nbytes} <= end:",
                f"{indent}    {v} = {value}"]

    def source(self) -> str:
        fields = {a.field for e, _ in self.rules for a in atoms(e)}
        protos = sorted({a.value for e, _ in self.rules for a in atoms(e)
                         if a.field == "proto" and a.op == "==" and a.mask == 0xFF})
        # Inlined into the walk (elements/jit.py); no ``row = b.data[i]`` view: creating
        # it costs ~250 ns per packet (measured).
        lines = ["import numpy as np", "from elements.jit import inlined", "", "",
                 "@inlined", "def kernel(b, i, s, inp):",
                 "    l3 = b.l3[i]",
                 "    if l3 < 0:", f"        return {self.no_ip}"]
        header_bytes = any(isinstance(f, tuple) for f in fields)
        if header_bytes:
            lines.append("    l4 = b.l4[i]")
        fast = header_bytes or fields & {"nonfirst", "sport", "dport"}
        if fields & {"frag", "nonfirst", "sport", "dport"} or fast:
            lines.append("    fl = b.flags[i]")
        if "proto" in fields:
            lines.append("    pr = np.int64(b.proto[i])")
        for k, p in enumerate(protos):
            lines.append(f"    {'if' if k == 0 else 'elif'} pr == {p}:")
            if fast and p in (1, 6, 17):
                # the common case: a first fragment with its whole transport header
                need = F_L4FULL | (F_PORTS if p != 1 else 0)
                lines.append(f"        if (fl & {F_NONFIRST | need}) == {need}:")
                lines += self.branch(p, frozenset(), "            ", fast=True)
            lines += self.branch(p, frozenset(), "        ")
        if protos:
            lines.append("    else:")
        lines += self.branch(None, frozenset(protos), "        " if protos else "    ")
        return "\n".join(lines) + "\n"


# ---- what the elements use ----------------------------------------------------------------


def check_pattern(text: str) -> str:
    """Pydantic after-validator for one IPClassifier pattern."""
    parse_pattern(text)
    return text


def check_filter_rule(text: str) -> str:
    """Pydantic after-validator for one IPFilter rule."""
    parse_filter_rule(text)
    return text


def build_kernel(prefix: str, rules: list[tuple[Expr, int]], default: int, no_ip: int):
    """The numba kernel for ``rules`` (see ``KernelWriter``), from a content-hashed file."""
    from elements.codegen import load_source

    return load_source(prefix, KernelWriter(rules, default, no_ip).source()).kernel


def first_match(rules: list[tuple[Expr, int]], default: int, no_ip: int, pkt) -> int:
    """The oracle for a whole rule list on a ``reference.Packet``."""
    if pkt.l3 < 0:
        return no_ip
    pf = packet_fields(pkt.buf, pkt.head, pkt.length, pkt.l3)
    for e, result in rules:
        if evaluate(e, pf):
            return result
    return default
