"""Click's IPRewriter input specifications, parsed once in Python into plain values.

One spec per input port (Click's ``INPUTSPEC``):

- ``drop`` (or ``discard``): packets of flows without a mapping are dropped.
- ``pass [OUT]`` (or ``passthrough``, ``nochange``): they leave unchanged on ``OUT`` (0).
- ``keep FOUT ROUT``: a mapping that rewrites nothing is made; forward packets leave on
  ``FOUT``, replies on ``ROUT``.
- ``pattern SADDR SPORT DADDR DPORT FOUT ROUT``: a mapping rewrites the flow to the
  pattern. ``-`` keeps a field; ``SPORT`` may be a range ``LO-HI`` (a free port is
  picked, unique per reply 5-tuple: first the flow's own port when it is in the range
  and free, else a random one; ``LO-HI#`` picks sequentially, ``LO-HI?`` randomly
  without trying the flow's own port first). ``pattern SADDR DADDR FOUT ROUT`` rewrites
  addresses only, and ``SADDR`` may then be a range ``A-B`` or a prefix ``A/LEN``.
- ``roundrobin PATTERN FOUT ROUT | PATTERN FOUT ROUT ...``: msh's spelling of Click's
  ``RoundRobinIPMapper`` (Click names a mapper element in the spec; msh elements do
  not reference each other, so the mapper's patterns are written in place): each new
  flow takes the next pattern in turn, and a flow keeps its pattern for life.

Errors are ``ValueError`` with the spec's text, which pydantic reports at the config key.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DROP, PASS, KEEP, PATTERN, ROUNDROBIN = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Pattern:
    """A rewrite pattern; 0 in an address or port means "keep the flow's own"."""

    saddr: int
    sport: int  # the range's low end when ``variation`` > 0 and ``napt``
    daddr: int
    dport: int
    variation: int  # the range's size minus one (Click's variation_top)
    napt: bool  # the range varies the source port (else the source address)
    sequential: bool
    same_first: bool  # try the flow's own source port first
    foutput: int
    routput: int


@dataclass(frozen=True)
class InputSpec:
    kind: int
    foutput: int = 0
    routput: int = 0
    patterns: tuple[Pattern, ...] = ()

    @property
    def outputs(self) -> list[int]:
        if self.kind in (PATTERN, ROUNDROBIN):
            return [o for p in self.patterns for o in (p.foutput, p.routput)]
        if self.kind == KEEP:
            return [self.foutput, self.routput]
        return [self.foutput] if self.kind == PASS else []


def _addr(word: str, what: str) -> int:
    if word == "-":
        return 0
    try:
        return int(ipaddress.IPv4Address(word))
    except ValueError:
        raise ValueError(f"bad {what} {word!r}: expected an IPv4 address or '-'") from None


def _port(word: str, what: str) -> int:
    if word == "-":
        return 0
    if word.isdigit() and 0 < int(word) < 65536:
        return int(word)
    raise ValueError(f"bad {what} {word!r}: expected a port 1-65535 or '-'")


def _suffix(word: str) -> tuple[str, bool, bool]:
    """Strip Click's ``#`` (sequential) or ``?`` (random, not same-first) suffix."""
    if word.endswith("#"):
        return word[:-1], True, False
    if word.endswith("?"):
        return word[:-1], False, False
    return word, False, True


def _port_range(word: str) -> tuple[int, int, bool, bool]:
    """``SPORT`` of a NAPT pattern: (port, variation, sequential, same_first)."""
    body, sequential, same_first = _suffix(word)
    if "-" in body and body != "-":
        lo, _, hi = body.partition("-")
        if lo.isdigit() and hi.isdigit() and int(hi) >= int(lo) and int(hi) < 65536:
            return int(lo), int(hi) - int(lo), sequential, same_first
        raise ValueError(f"bad source port range {word!r}: expected LO-HI with"
                         f" 0 <= LO <= HI <= 65535")
    if body != word:
        raise ValueError(f"bad source port {word!r}: '#' and '?' follow a range LO-HI")
    return _port(word, "source port"), 0, False, True


def _addr_range(word: str) -> tuple[int, int, bool, bool]:
    """``SADDR`` of an address-only pattern: (address, variation, sequential, same_first)."""
    body, sequential, same_first = _suffix(word)
    try:
        if "/" in body:
            net = ipaddress.IPv4Network(body, strict=False)
            mask = int(net.netmask)
            if mask == 0xFFFFFFFF:
                return int(net.network_address), 0, sequential, same_first
            if mask == 0xFFFFFFFE:
                return int(net.network_address), 1, sequential, same_first
            # as Click: the prefix's first and last addresses are not handed out
            return int(net.network_address) | 1, (~mask & 0xFFFFFFFF) - 2, sequential, same_first
        if "-" in body:
            lo, _, hi = body.partition("-")
            a, z = int(ipaddress.IPv4Address(lo)), int(ipaddress.IPv4Address(hi))
            if z >= a:
                return a, z - a, sequential, same_first
    except ValueError:
        pass
    else:
        if body == word:
            return _addr(word, "source address"), 0, False, True
    raise ValueError(f"bad source address {word!r}: expected an IPv4 address, a range A-B"
                     f" or a prefix A/LEN (optionally followed by '#' or '?')")


def _outputs(words: list[str], text: str) -> tuple[int, int]:
    if len(words) != 2 or not all(w.isdigit() for w in words):
        raise ValueError(f"{text!r}: expected the forward and reply output ports at the end")
    return int(words[0]), int(words[1])


def parse_pattern(text: str) -> Pattern:
    """``SADDR SPORT DADDR DPORT FOUT ROUT`` or ``SADDR DADDR FOUT ROUT``."""
    words = text.split()
    if len(words) not in (4, 6):
        raise ValueError(f"pattern {text!r}: expected 'SADDR SPORT DADDR DPORT FOUT ROUT'"
                         f" or 'SADDR DADDR FOUT ROUT'")
    fout, rout = _outputs(words[-2:], text)
    if len(words) == 6:
        saddr = _addr(words[0], "source address")
        sport, variation, sequential, same_first = _port_range(words[1])
        daddr = _addr(words[2], "destination address")
        dport = _port(words[3], "destination port")
        return Pattern(saddr, sport, daddr, dport, variation, True, sequential, same_first,
                       fout, rout)
    saddr, variation, sequential, same_first = _addr_range(words[0])
    daddr = _addr(words[1], "destination address")
    return Pattern(saddr, 0, daddr, 0, variation, False, sequential, same_first, fout, rout)


def parse_input_spec(text: str) -> InputSpec:
    word, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    if word in ("drop", "discard"):
        if rest:
            raise ValueError(f"{text!r}: '{word}' takes no arguments")
        return InputSpec(DROP)
    if word in ("pass", "passthrough", "nochange"):
        if rest and not rest.isdigit():
            raise ValueError(f"{text!r}: expected '{word} [OUTPUT]'")
        return InputSpec(PASS, foutput=int(rest or 0))
    if word == "keep":
        fout, rout = _outputs(rest.split(), text)
        return InputSpec(KEEP, foutput=fout, routput=rout)
    if word == "pattern":
        return InputSpec(PATTERN, patterns=(parse_pattern(rest),))
    if word == "roundrobin":
        parts = [p.strip() for p in rest.split("|")]
        if not rest or not all(parts):
            raise ValueError(f"{text!r}: expected 'roundrobin PATTERN FOUT ROUT | ...'")
        return InputSpec(ROUNDROBIN, patterns=tuple(parse_pattern(p) for p in parts))
    raise ValueError(f"unknown input spec {text!r}: expected one of 'drop', 'pass [OUT]',"
                     f" 'keep FOUT ROUT', 'pattern ...', 'roundrobin ... | ...'")


def parse_input_specs(texts: list[str]) -> list[InputSpec]:
    """Parse every spec, reporting all bad ones at once (as Click does)."""
    specs, errors = [], []
    for k, text in enumerate(texts):
        try:
            specs.append(parse_input_spec(text))
        except ValueError as e:
            errors.append(f"inputs[{k}]: {e}")
    if errors:
        raise ValueError("; ".join(errors))
    return specs


def check_outputs(specs: list[InputSpec], n_outputs: int) -> None:
    """Click refuses a spec naming an output port the element does not have."""
    for k, spec in enumerate(specs):
        bad = [o for o in spec.outputs if o >= n_outputs]
        if bad:
            raise ValueError(f"inputs[{k}]: output port {bad[0]} out of range"
                             f" (the element has {n_outputs} connected outputs)")
