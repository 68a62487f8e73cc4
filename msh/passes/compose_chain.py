"""Compose a chain into one graph: the naive chain, merged.

Each middlebox's elements are copied under ``<middlebox>/<element>`` and remember
their ``owner``; a middlebox's ``out[0]`` is joined to the next one's ``in[0]``; its
other outputs become numbered chain outputs (``graph.graph["exits"]`` says which
middlebox port each is); its other inputs (a NAT's reply side) are left unfed, so
``remove_dead`` removes what only they reach. A Switch becomes an IPClassifier feeding one sub-chain per
rule; a Parallel becomes a Tee feeding every branch.
Requires: validated middlebox graphs with an ``in`` and an ``out``. Guarantees: every
packet meets the same elements in the same order as in the naive chain.
"""

from __future__ import annotations

import networkx as nx

from elements.element import lookup
from msh import graph as G
from msh.chain import Chain, Middlebox, Parallel, Switch

Port = tuple[str, int]


class _Composer:
    def __init__(self, name: str):
        self.g = G.new_graph(name)
        self.g.graph["exits"] = [("chain", 0)]  # chain output 0 is the chain's egress

    def new_exit(self, owner: str, port: int) -> int:
        self.g.graph["exits"].append((owner, port))
        return len(self.g.graph["exits"]) - 1

    def join(self, feeders: list[Port], target: Port) -> None:
        for u, port in feeders:
            self.g.add_edge(u, target[0], src_port=port, dst_port=target[1],
                            where=G.NOWHERE)

    def middlebox(self, mb: Middlebox, feeders: list[Port]) -> list[Port]:
        """Copy ``mb`` in; return the ports that feed its ``out[0]``."""
        sub, prefix = mb.graph, mb.name + "/"
        for node, data in sub.nodes(data=True):
            if node in G.INTERFACE:
                continue
            el = data["element"]
            el = type(el)(name=prefix + node, config=el.config)
            self.g.add_node(prefix + node, element=el, where=data.get("where", G.NOWHERE),
                            owner=mb.name)
        egress: list[Port] = []
        for u, v, d in sub.edges(data=True):
            src = prefix + u
            if u == G.IN and v == G.OUT and d["dst_port"] == 0:
                egress += feeders  # a middlebox that passes its input straight out
            elif v == G.OUT:
                if d["dst_port"] == 0:
                    egress.append((src, d["src_port"]))
                else:
                    k = self.new_exit(mb.name, d["dst_port"])
                    self.g.add_edge(src, G.OUT, src_port=d["src_port"], dst_port=k,
                                    where=d["where"])
            elif u == G.IN:
                if d["src_port"] == 0:  # the chain feeds in[0]; other inputs stay unfed
                    self.join(feeders, (prefix + v, d["dst_port"]))
            else:
                self.g.add_edge(src, prefix + v, src_port=d["src_port"],
                                dst_port=d["dst_port"], where=d["where"])
        return egress

    def element(self, name: str, kind: str, owner: str, **config) -> str:
        cls = lookup(kind)
        el = cls(name=name, config=cls.Config(**config))
        self.g.add_node(name, element=el, where=G.NOWHERE, owner=owner)
        return name

    def steps(self, steps: list, feeders: list[Port]) -> list[Port]:
        for step in steps:
            if isinstance(step, Middlebox):
                feeders = self.middlebox(step, feeders)
            elif isinstance(step, Switch):
                cls = self.element(step.name, "IPClassifier", step.name, rules=step.rules)
                self.join(feeders, (cls, 0))
                feeders = []
                for k, branch in enumerate(step.branches):
                    feeders += self.steps(branch, [(cls, k)])
            elif isinstance(step, Parallel):
                tee = self.element(step.name, "Tee", step.name)
                self.join(feeders, (tee, 0))
                feeders = self.steps(step.branches[0], [(tee, 0)])
                for k, branch in enumerate(step.branches[1:], start=1):
                    out = self.new_exit(step.name, k)
                    for u, port in self.steps(branch, [(tee, k)]):
                        self.g.add_edge(u, G.OUT, src_port=port, dst_port=out,
                                        where=G.NOWHERE)
            else:
                raise TypeError(f"not a chain step: {step!r}")
        return feeders


def run(chain: Chain) -> nx.MultiDiGraph:
    c = _Composer(chain.name)
    c.g.add_node(G.IN, element=None, where=G.NOWHERE, owner="")
    c.g.add_node(G.OUT, element=None, where=G.NOWHERE, owner="")
    last = c.steps(chain.steps, [(G.IN, 0)])
    for u, port in last:
        c.g.add_edge(u, G.OUT, src_port=port, dst_port=0, where=G.NOWHERE)
    return c.g
