"""Classifier: sends each packet to the output of the first byte pattern it matches."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import AfterValidator, Field

from elements.batch import MAX_FRAME
from elements.codegen import load_source
from elements.element import Element, ElementConfig, drop


@dataclass(frozen=True)
class Clause:
    """``[!]OFFSET/VALUE[%MASK]`` as the bytes it tests: ``(offset, value, mask)`` per
    byte whose mask is not zero (a clause with none matches every packet)."""

    tests: tuple[tuple[int, int, int], ...]
    negated: bool


CLAUSE = re.compile(r"(!?)(\d+)/([0-9a-fA-F?]*)(?:%([0-9a-fA-F?]*))?")


def parse_clauses(text: str) -> list[Clause]:
    """One Classifier pattern: space-separated clauses, all of which must hold; ``-``
    matches every packet. Errors name the column of the bad clause."""
    words = [(m.group(), m.start() + 1) for m in re.finditer(r"\S+", text)]
    if not words:
        raise ValueError("empty pattern; use '-' to match every packet")
    if len(words) == 1 and words[0][0] == "-":
        return []
    clauses = []
    for word, col in words:
        m = CLAUSE.fullmatch(word)
        if not m:
            hint = ("; the offset is decimal, the value hex: e.g. '12/0800'"
                    if "/" in word else "; did you forget the '/'? e.g. '12/0800'")
            raise ValueError(f"expected [!]OFFSET/VALUE[%MASK], found '{word}' at column "
                             f"{col}{hint}")
        neg, off, value, mask = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        if not value or len(value) % 2:
            raise ValueError(f"value '{value}' at column {col} needs an even, nonzero number "
                             "of hex digits (two per byte)")
        if mask is not None and len(mask) != len(value):
            raise ValueError(f"mask '{mask}' at column {col} must have as many hex digits as "
                             f"the value '{value}'")
        if off + len(value) // 2 > MAX_FRAME:
            raise ValueError(f"clause '{word}' at column {col} reaches past the largest frame "
                             f"({MAX_FRAME} bytes)")
        nibbles = []
        for k, c in enumerate(value):
            mc = "f" if mask is None else mask[k]
            nm = 0 if c == "?" or mc == "?" else int(mc, 16)
            nibbles.append((0 if c == "?" else int(c, 16) & nm, nm))
        tests = []
        for k in range(0, len(nibbles), 2):
            (vh, mh), (vl, ml) = nibbles[k], nibbles[k + 1]
            if mh or ml:
                tests.append((off + k // 2, (vh << 4) | vl, (mh << 4) | ml))
        clauses.append(Clause(tuple(tests), bool(neg)))
    return clauses


def check_patterns(text: str) -> str:
    parse_clauses(text)
    return text


def clause_holds(c: Clause, frame: bytes) -> bool:
    """The oracle: every tested byte is in the frame and matches."""
    held = all(off < len(frame) and frame[off] & m == v for off, v, m in c.tests)
    return held != c.negated


def kernel_source(patterns: list[list[Clause]]) -> str:
    """One kernel with the clauses as straight-line byte tests, constants baked in."""
    # Inlined into the walk (elements/jit.py), and no ``row = b.data[i]`` view: it
    # costs >100 ns per packet (see elements/ip/iprules.py).
    lines = ["from elements.jit import inlined", "", "", "@inlined",
             "def kernel(b, i, s, inp):", "    h = b.head[i]", "    n = b.length[i]"]
    for k, clauses in enumerate(patterns):
        tests = []
        for c in clauses:
            if not c.tests:
                t = "True"
            else:
                last = max(off for off, _, _ in c.tests)
                parts = [f"{last} < n"] + [
                    f"b.data[i, h + {off}] == {v:#04x}" if m == 0xFF else
                    f"(b.data[i, h + {off}] & {m:#04x}) == {v:#04x}" for off, v, m in c.tests]
                t = "(" + " and ".join(parts) + ")"
            tests.append(f"not {t}" if c.negated else t)
        lines.append(f"    if {' and '.join(tests) or 'True'}:")
        lines.append(f"        return {k}")
    lines.append(f"    return {drop(0)}")
    return "\n".join(lines) + "\n"


Pattern = Annotated[str, AfterValidator(check_patterns)]


class ClassifierConfig(ElementConfig):
    patterns: list[Pattern] = Field(
        min_length=1,
        description="Click's PATTERN_1 ... PATTERN_N, one per output: space-separated "
                    "[!]OFFSET/VALUE[%MASK] clauses (decimal offset from the packet's "
                    "first byte, hex value, '?' nibbles); '-' matches every packet")


class Classifier(Element):
    """Classify packets by byte patterns (Click's Classifier).

    Ports: ``1/-``: output ``k`` takes the packets whose first matching pattern is
    ``patterns[k]``.

    A pattern is a list of clauses ``OFFSET/VALUE[%MASK]``, all of which must hold:
    the bytes at ``OFFSET`` from the packet's head, ANDed with ``MASK``, equal
    ``VALUE``. ``?`` in the value or mask is a don't-care nibble; ``!`` before a clause
    negates it; ``-`` alone matches every packet. A clause that reaches past the end of
    the packet does not hold (so ``!`` makes it hold), as in Click; only bytes with a
    nonzero mask must be present. The patterns are compiled into one numba kernel of
    straight-line byte tests. A packet that matches no pattern is dropped (``no_match``).

    Example::

        elements:
          cl: {kind: Classifier, config: {patterns: ["12/0806 20/0001", "12/0806 20/0002", "12/0800", "-"]}}

    Counters: the runtime counts each output and drop reason. See also: IPClassifier,
    IPFilter.
    """

    ports = "1/-"
    Config = ClassifierConfig
    reads = ("head", "length", "payload")
    drops = ("no_match",)
    kernel = None  # generated per configuration by make_state

    def compiled(self) -> list[list[Clause]]:
        return [parse_clauses(p) for p in self.config.patterns]

    def make_state(self, n_outputs: int) -> np.ndarray:
        self.kernel = load_source("classifier", kernel_source(self.compiled())).kernel
        return np.zeros(1, np.int64)

    def reference(self, pkt, inp: int) -> int:
        frame = pkt.frame
        for k, clauses in enumerate(self.compiled()):
            if all(clause_holds(c, frame) for c in clauses):
                return k
        return drop(0)
