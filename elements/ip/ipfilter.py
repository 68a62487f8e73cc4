"""IPFilter: allow, drop or route IP packets by the first matching ACTION PATTERN rule."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import AfterValidator, Field

from elements.element import Element, ElementConfig, drop, drop_code
from elements.ip import iprules

Rule = Annotated[str, AfterValidator(iprules.check_filter_rule)]


class IPFilterConfig(ElementConfig):
    rules: list[Rule] = Field(
        min_length=1,
        description="Click's ACTION_1 PATTERN_1 ... : ACTION is allow (output 0), deny or "
                    "drop, or an output number; PATTERN as in IPClassifier")


class IPFilter(Element):
    """Filter IP packets by ``ACTION PATTERN`` rules, first match wins (Click's IPFilter).

    Ports: ``1/-``: ``allow`` sends to output 0, ``N`` to output ``N``.

    ``deny`` and ``drop`` drop the packet (counted as ``denied``); a packet no rule
    matches is dropped as ``no_match``. PATTERN is IPClassifier's language; ``allow``
    alone, ``allow -``, ``allow all`` and ``allow any`` match every packet. The rule
    list is compiled into one numba kernel with the constants baked in, specialised per
    IP protocol. Needs the IP header annotation: without it the packet is dropped as
    ``no_ip_header``.

    Example::

        elements:
          fw: {kind: IPFilter, config: {rules: ["drop src net 10.0.0.0/8 and dst port 23", "allow tcp && dst port www", "1 icmp type echo", "deny all"]}}

    Counters: the runtime counts each output and drop reason. See also: IPClassifier,
    Classifier, CheckIPHeader.
    """

    ports = "1/-"
    Config = IPFilterConfig
    reads = ("l3", "l4", "flags", "proto", "saddr", "daddr", "sport", "dport", "ip", "tcp",
             "icmp", "head", "length")
    drops = ("no_ip_header", "denied", "no_match")
    kernel = None  # generated per configuration by make_state

    def compiled(self) -> list[tuple[iprules.Expr, int]]:
        rules = []
        for text in self.config.rules:
            action, expr = iprules.parse_filter_rule(text)
            rules.append((expr, drop_code(1) if action == iprules.DROP else action))
        return rules

    def cache_role(self) -> str | None:
        """A verdict the decision cache may keep per flow when the rules test only the
        5-tuple (no TCP flags, lengths, TTL, ...)."""
        return "verdict" if iprules.flow_deterministic(self.compiled()) else None

    def check_connections(self, n_inputs: int, n_outputs: int) -> None:
        for k, (_, result) in enumerate(self.compiled()):
            if result >= max(n_outputs, 1):  # Click: "slot out of range"
                raise ValueError(f"rules[{k}]: output {result} out of range (the element "
                                 f"has {max(n_outputs, 1)} connected outputs)")

    def make_state(self, n_outputs: int) -> np.ndarray:
        self.check_connections(1, n_outputs)
        self.kernel = iprules.build_kernel("ipfilter", self.compiled(), drop(2), drop(0))
        return np.zeros(1, np.int64)

    def reference(self, pkt, inp: int) -> int:
        return iprules.first_match(self.compiled(), drop(2), drop(0), pkt)
