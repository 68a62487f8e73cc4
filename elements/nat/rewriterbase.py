"""What IPRewriter and ICMPPingRewriter share as elements: the config of input specs,
capacity and seed, the mapping state and its Python twin, the ports, drops and
counters. Each subclass states its timeouts and whether it maps ICMP echo flows."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from elements.element import Element, ElementConfig
from elements.flowtable import worth_lookahead
from elements.nat.mapping import make_rewriter_state, rewriter_counters
from elements.nat.rewriterspec import check_outputs, parse_input_specs

NO_IP_HEADER, UNHANDLED, NO_MAPPING, MAPPING_FAILURE = range(4)


class RewriterConfig(ElementConfig):
    inputs: list[str] = Field(min_length=1, description=(
        "one input spec per input port (Click's INPUTSPEC): 'drop', 'pass [OUT]',"
        " 'keep FOUT ROUT', 'pattern SADDR SPORT DADDR DPORT FOUT ROUT',"
        " 'roundrobin PATTERN FOUT ROUT | ...'"))
    capacity: int = Field(65536, ge=1, le=1 << 26, description=(
        "Click's MAPPING_CAPACITY: the most live mappings (Click: unlimited; msh"
        " preallocates this many)"))
    seed: int = Field(0, ge=0, description="seed of the random source port choice")
    dst_anno: bool = Field(True, description="Click's DST_ANNO: set dst_anno to the new daddr")

    @field_validator("inputs")
    @classmethod
    def _specs(cls, v: list[str]) -> list[str]:
        parse_input_specs(v)
        return v


class Rewriter(Element, register=False):
    ports = "1-/1-"
    state_kind = "per-flow"
    drops = ("no_ip_header", "unhandled", "no_mapping", "mapping_failure")
    icmp: ClassVar[bool]  # maps ICMP echo flows (ICMPPingRewriter), else TCP and UDP

    def timeouts(self) -> list[list[float]]:
        """Seconds per class (TCP, UDP, ICMP): base, data/streaming, done, guarantee."""
        raise NotImplementedError

    def looks_ahead(self) -> bool:
        """Its table (two entries a mapping) is too big to stay cached."""
        return self.lookahead is not None and worth_lookahead(2 * self.config.capacity, 1)

    def check_connections(self, n_inputs: int, n_outputs: int) -> None:
        check_outputs(parse_input_specs(self.config.inputs), max(n_outputs, 1))

    def make_state(self, n_outputs: int):
        from elements.nat.refnat import RefRewriter

        c = self.config
        specs = parse_input_specs(c.inputs)
        check_outputs(specs, max(n_outputs, 1))
        self._ref = RefRewriter(specs, c.capacity, self.timeouts(), c.dst_anno, c.seed,
                                icmp=self.icmp)
        return make_rewriter_state(specs, c.capacity, self.timeouts(), c.dst_anno, c.seed)

    def reference(self, pkt, inp: int) -> int:
        return self._ref.process(pkt, inp)

    def counters(self, state) -> dict[str, int]:
        return rewriter_counters(state)
