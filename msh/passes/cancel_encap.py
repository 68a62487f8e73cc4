"""Cancel an Unstrip(n) whose only successor is a Strip(n): the pair is the identity.

Middleboxes written on their own each strip the Ethernet header on entry and restore
it on exit; chained, the restore of one meets the strip of the next.
Requires: a composed graph. Guarantees: the packet bytes and head seen after the pair
are unchanged (Unstrip only moves the head back, Strip moves it forward again).
"""

from __future__ import annotations

import networkx as nx

from msh.passes.rewire import bypass, single_feeder


def run(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    g = g.copy()
    for node in list(g):
        el = g.nodes[node].get("element") if node in g else None
        if el is None or el.kind() != "Strip":
            continue
        feeder = single_feeder(g, node)
        if feeder is None:
            continue
        prev = g.nodes[feeder[0]].get("element")
        if (prev is None or prev.kind() != "Unstrip" or g.out_degree(feeder[0]) != 1
                or prev.config.length != el.config.length):
            continue
        why = f"Unstrip({el.config.length}) then Strip({el.config.length}) is the identity"
        g.graph["removed"] = [*g.graph.get("removed", []), (feeder[0], why), (node, why)]
        bypass(g, feeder[0])
        bypass(g, node)
    return g
