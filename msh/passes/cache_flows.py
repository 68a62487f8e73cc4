"""Choose the region whose per-flow decisions the hypervisor caches.

A region starts at an element the decision cache may treat (``cache_role`` "verdict"
or "mapping", see msh/flowcache.py) that every packet reaches parsed (after an element
that sets the parse flags: the cache keys on the 5-tuple), and grows over successors
all of whose inputs come from the region. The region with the most mappings (then the
most elements) is cached when it holds ``MIN_MAPPINGS`` or more. Its elements get
``cached = True``; the graph records ``graph.graph["cache"] = {"entry": ...,
"nodes": [...]}``. The walk then looks the
flow up before the entry and, on a hit, replays the recorded fate.
Requires: a composed graph (after hoisting, so stages are known). Guarantees: the
graph's elements and edges are unchanged; only flow-deterministic elements are cached.
"""

from __future__ import annotations

import networkx as nx

from msh import graph as G
from msh.flowcache import MAX_MAPPINGS

MAX_EDGES = 64  # the walk records the region edges a flow took in one int64
# A hit costs a lookup, a refresh per mapping and a rewrite; walking a filter and one
# mapping costs less than that (measured on firewall -> nat: 130 ns a packet walked,
# 165 cached; firewall -> nat -> firewall -> nat: 202 walked, 187 cached).
MIN_MAPPINGS = 2


def _role(g: nx.MultiDiGraph, node: str) -> str | None:
    el = g.nodes[node].get("element")
    return None if el is None else el.cache_role()


def _grow(g: nx.MultiDiGraph, entry: str, order: list[str]) -> list[str]:
    """The region from ``entry``: every later element with a cache role all of whose
    inputs come from the region, while its edges fit the walk's bit mask and its
    mappings the entry's record (``MAX_MAPPINGS`` handles)."""
    region, members = [entry], {entry}
    edges = len(G.successors(g, entry))
    mappings = _role(g, entry) == "mapping"
    for node in order[order.index(entry) + 1:]:
        preds = set(g.predecessors(node))
        more = len(G.successors(g, node))
        mapping = _role(g, node) == "mapping"
        if (_role(g, node) and preds and preds <= members and edges + more <= MAX_EDGES
                and mappings + mapping <= MAX_MAPPINGS):
            region.append(node)
            members.add(node)
            edges += more
            mappings += mapping
    return region


def run(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    g = g.copy()
    g.graph.pop("cache", None)
    order = list(nx.topological_sort(g))
    parsed: set[str] = set()  # elements every packet reaches parsed (flags set)
    best: list[str] = []
    for node in order:
        el = g.nodes[node].get("element")
        preds = list(g.predecessors(node))
        if preds and all(p in parsed for p in preds):
            parsed.add(node)
        if el is not None and "flags" in el.writes:
            parsed.add(node)
        if (node in parsed and node not in best and _role(g, node) and g.in_degree(node) == 1
                and all(p in parsed and p not in best for p in preds)
                and "flags" not in el.writes):
            region = _grow(g, node, order)
            score = lambda r: (sum(_role(g, n) == "mapping" for n in r), len(r))
            if score(region) > score(best):
                best = region
    if sum(_role(g, n) == "mapping" for n in best) < MIN_MAPPINGS:
        return g
    for node in best:
        g.nodes[node]["cached"] = True
    g.graph["cache"] = {"entry": best[0], "nodes": best}
    return g


def region_edges(g: nx.MultiDiGraph) -> list[tuple[str, int]]:
    """(element, output port) of every edge leaving a cached element, in a fixed order."""
    cache = g.graph.get("cache")
    if not cache:
        return []
    return [(n, p) for n in cache["nodes"] for p in sorted(G.successors(g, n))]
