"""Click's port-count notation: ``"1/1-2"`` = one input, one or two outputs.

Each side is ``N``, ``N-M``, ``N-`` (N or more) or ``-`` (any number).
"""

from __future__ import annotations

from dataclasses import dataclass

UNBOUNDED = 1 << 16


@dataclass(frozen=True)
class PortRange:
    low: int
    high: int  # inclusive; UNBOUNDED for "or more"

    def __contains__(self, n: int) -> bool:
        return self.low <= n <= self.high

    def __str__(self) -> str:
        if self.low == self.high:
            return str(self.low)
        if self.high == UNBOUNDED:
            return f"{self.low} or more"
        return f"{self.low} to {self.high}"


@dataclass(frozen=True)
class PortSpec:
    inputs: PortRange
    outputs: PortRange


def _parse_side(text: str) -> PortRange:
    text = text.strip()
    if text == "-":
        return PortRange(0, UNBOUNDED)
    if "-" in text:
        low, high = text.split("-", 1)
        return PortRange(int(low), int(high) if high else UNBOUNDED)
    return PortRange(int(text), int(text))


def parse_ports(spec: str) -> PortSpec:
    """Parse ``"IN/OUT"``; a spec without ``/`` applies to both sides (Click's rule)."""
    inputs, _, outputs = spec.partition("/")
    return PortSpec(_parse_side(inputs), _parse_side(outputs or inputs))
