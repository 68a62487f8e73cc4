"""Remove elements that no packet can reach (Click's click-undead).

Requires: a composed graph. Guarantees: every remaining element is reachable from the
graph input ``in`` or from a source element; the interface nodes stay.
"""

from __future__ import annotations

import networkx as nx

from msh import graph as G


def run(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    g = g.copy()
    roots = [n for n, d in g.nodes(data=True)
             if n == G.IN or (d.get("element") is not None and d["element"].source)]
    alive = set(roots)
    for root in roots:
        alive |= nx.descendants(g, root)
    dead = [n for n in g if n not in alive and n not in G.INTERFACE]
    g.graph["removed"] = list(g.graph.get("removed", [])) + [
        (n, "no packet can reach it (an input left unfed, or a removed element's output)") for n in dead]
    g.remove_nodes_from(dead)
    return g
