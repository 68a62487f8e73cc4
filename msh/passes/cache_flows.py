"""Choose the region whose per-flow decisions the hypervisor caches.

The region starts at the first element the decision cache may treat (``cache_role``
"verdict" or "mapping", see msh/flowcache.py) and grows over successors all of whose
inputs come from the region. Its elements get ``cached = True``; the graph records
``graph.graph["cache"] = {"entry": ..., "nodes": [...]}``. The walk then looks the
flow up before the entry and, on a hit, replays the recorded fate.
Requires: a composed graph (after hoisting, so stages are known). Guarantees: the
graph's elements and edges are unchanged; only flow-deterministic elements are cached.
"""

from __future__ import annotations

import networkx as nx

from msh import graph as G

MAX_EDGES = 64  # the walk records the region edges a flow took in one uint64


def _role(g: nx.MultiDiGraph, node: str) -> str | None:
    el = g.nodes[node].get("element")
    return None if el is None else el.cache_role()


def run(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    g = g.copy()
    g.graph.pop("cache", None)
    order = list(nx.topological_sort(g))
    entry = next((n for n in order if _role(g, n) and g.in_degree(n) == 1
                  and any(_role(g, p) is None for p in g.predecessors(n))), None)
    if entry is None:
        return g
    region = [entry]
    members = {entry}
    edges = len(G.successors(g, entry))
    for node in order[order.index(entry) + 1:]:
        preds = set(g.predecessors(node))
        more = len(G.successors(g, node))
        if _role(g, node) and preds and preds <= members and edges + more <= MAX_EDGES:
            edges += more
            region.append(node)
            members.add(node)
    if not any(_role(g, n) == "mapping" for n in region) and len(region) == 1:
        return g  # one stateless element: a lookup would cost what it saves
    for node in region:
        g.nodes[node]["cached"] = True
    g.graph["cache"] = {"entry": entry, "nodes": region}
    return g


def region_edges(g: nx.MultiDiGraph) -> list[tuple[str, int]]:
    """(element, output port) of every edge leaving a cached element, in a fixed order."""
    cache = g.graph.get("cache")
    if not cache:
        return []
    return [(n, p) for n in cache["nodes"] for p in sorted(G.successors(g, n))]
