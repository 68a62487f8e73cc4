"""IPClassifier: sends each IP packet to the output of the first pattern it matches."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import AfterValidator, Field

from elements.element import Element, ElementConfig, drop
from elements.ip import iprules

Pattern = Annotated[str, AfterValidator(iprules.check_pattern)]


class IPClassifierConfig(ElementConfig):
    rules: list[Pattern] = Field(
        min_length=1,
        description="Click's PATTERN_1 ... PATTERN_N: tcpdump-like expressions, one per "
                    "output; '-' matches every packet")


class IPClassifier(Element):
    """Classify IP packets by tcpdump-like patterns (Click's IPClassifier).

    Ports: ``1/-``: output ``k`` takes the packets whose first matching pattern is
    ``rules[k]``.

    The patterns are Click's IP filter language (see ``elements.ip.iprules``): ``host``,
    ``net``, ``src``/``dst``/``src or dst``/``src and dst``, ``port`` (numbers or names,
    relations ``== != < > <= >=``), ``proto``/``tcp``/``udp``/``icmp``, ``tcp opt``
    flags, ``icmp type``, ``ip frag``/``unfrag``, ``ip vers|hl|tos|dscp|ttl|id|len``,
    ``ip ect``/``ce``, ``tcp win``, ``ip[POS:LEN]``/``transp[POS:LEN]``, masks
    (``& MASK``), ``and or not && || !``, ``?:``, parentheses, ``true``/``false``, and
    Click's abbreviations (``syn``, ``www``, ``10.0.0.0/8``, ``src port 80 or 81``).
    Port, ICMP type, TCP flag and transport field tests are false on non-first
    fragments and on packets too short to hold the field. The rules are compiled into
    one numba kernel with their constants baked in, specialised per IP protocol.

    Needs the IP header annotation (CheckIPHeader or MarkIPHeader): a packet without
    it is dropped as ``no_ip_header``; one matching no pattern as ``no_match``.

    Example::

        elements:
          cl: {kind: IPClassifier, config: {rules: ["10.0.0.0/24 and syn", "dst tcp port www or 443", "-"]}}

    Counters: the runtime counts each output and drop reason. See also: IPFilter,
    Classifier, CheckIPHeader, MarkIPHeader.
    """

    ports = "1/-"
    Config = IPClassifierConfig
    reads = ("l3", "l4", "flags", "proto", "saddr", "daddr", "sport", "dport", "ip", "tcp",
             "icmp", "head", "length")
    drops = ("no_ip_header", "no_match")
    kernel = None  # generated per configuration by make_state

    def compiled(self) -> list[tuple[iprules.Expr, int]]:
        return [(iprules.parse_pattern(r), k) for k, r in enumerate(self.config.rules)]

    def cache_role(self) -> str | None:
        """A verdict the decision cache may keep per flow when the rules test only the
        5-tuple (no TCP flags, lengths, TTL, ...)."""
        return "verdict" if iprules.flow_deterministic(self.compiled()) else None

    def check_connections(self, n_inputs: int, n_outputs: int) -> None:
        if n_outputs > len(self.config.rules):  # Click: one pattern per output
            raise ValueError(f"{n_outputs} connected outputs but {len(self.config.rules)} "
                             "patterns; give one pattern per output")

    def make_state(self, n_outputs: int) -> np.ndarray:
        self.check_connections(1, n_outputs)
        self.kernel = iprules.build_kernel("ipclassifier", self.compiled(), drop(1), drop(0))
        return np.zeros(1, np.int64)

    def reference(self, pkt, inp: int) -> int:
        return iprules.first_match(self.compiled(), drop(1), drop(0), pkt)
