"""The element graph: a networkx MultiDiGraph of configured element instances.

Nodes are element names with attributes ``element`` (an ``Element``), ``where`` (the
place in the source YAML) and ``owner`` (the middlebox it came from). Two reserved
pseudo-nodes form a graph's interface, as Click's ``input``/``output``: ``in`` (its
output port k is the graph's input k) and ``out`` (its input port k is the graph's
output k); they carry no element. Edges carry ``src_port``, ``dst_port`` and ``where``.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

IN = "in"
OUT = "out"
INTERFACE = (IN, OUT)


@dataclass(frozen=True)
class Where:
    """A place in a source file, 1-based as editors show it."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Where("<memory>", 0, 0)


def new_graph(name: str) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(name=name)
    return g


def add_element(g: nx.MultiDiGraph, element, where: Where = NOWHERE, owner: str = "") -> None:
    g.add_node(element.name, element=element, where=where, owner=owner)


def connect(g: nx.MultiDiGraph, src: str, src_port: int, dst: str, dst_port: int,
            where: Where = NOWHERE) -> None:
    for name in (src, dst):
        if name in INTERFACE and name not in g:
            g.add_node(name, element=None, where=where, owner="")
    g.add_edge(src, dst, src_port=src_port, dst_port=dst_port, where=where)


def elements(g: nx.MultiDiGraph):
    """(name, element) for every real element, in insertion order."""
    return [(n, d["element"]) for n, d in g.nodes(data=True) if d.get("element") is not None]


def successors(g: nx.MultiDiGraph, name: str) -> dict[int, tuple[str, int]]:
    """Output port -> (destination node, its input port). Push ports have one edge each."""
    return {d["src_port"]: (v, d["dst_port"]) for _, v, d in g.out_edges(name, data=True)}


def n_outputs(g: nx.MultiDiGraph, name: str) -> int:
    ports = [d["src_port"] for _, _, d in g.out_edges(name, data=True)]
    return max(ports) + 1 if ports else 0


def n_inputs(g: nx.MultiDiGraph, name: str) -> int:
    ports = [d["dst_port"] for _, _, d in g.in_edges(name, data=True)]
    return max(ports) + 1 if ports else 0
