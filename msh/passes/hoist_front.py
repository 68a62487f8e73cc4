"""Hoist the longest safe front of the chain into the hypervisor stage.

Every element gets a ``stage``: ``"hypervisor"`` for the front, else its owning
middlebox. The front is the set of stateless elements (``state_kind == "none"``:
parse, check, classify, filter, drop) that every path from the input reaches before any
stateful element: they can run once in the host for the whole chain, and a packet
they drop never enters a middlebox. Stateless elements after a stateful one stay with
their middlebox, so the order of every packet's path is unchanged.
Requires: a composed graph. Guarantees: the graph is unchanged but for ``stage``;
no packet reaches a middlebox stage without passing every verdict before it.
"""

from __future__ import annotations

import networkx as nx

from msh import graph as G

HYPERVISOR = "hypervisor"


def run(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    g = g.copy()
    front: set[str] = set()
    for node in nx.topological_sort(g):
        data = g.nodes[node]
        el = data.get("element")
        if el is None:
            data["stage"] = HYPERVISOR
            continue
        preds = set(g.predecessors(node))
        safe = el.state_kind == "none" and not el.source and not el.fanout
        if safe and preds and all(p == G.IN or p in front for p in preds):
            front.add(node)
            data["stage"] = HYPERVISOR
        else:
            data["stage"] = data.get("owner") or g.graph.get("name", "main")
    return g
