"""Shared graph surgery for the passes: bypass an element, copy a graph."""

from __future__ import annotations

import networkx as nx


def bypass(g: nx.MultiDiGraph, node: str, through_port: int = 0) -> None:
    """Remove ``node``, joining what fed it to what its ``through_port`` output fed.

    The caller has proved that every packet reaching ``node`` leaves by
    ``through_port``; its other outputs are dropped with it."""
    (dst, dport), = [(v, d["dst_port"]) for _, v, d in g.out_edges(node, data=True)
                     if d["src_port"] == through_port]
    feeders = [(u, d["src_port"], d["where"]) for u, _, d in g.in_edges(node, data=True)]
    g.remove_node(node)
    for u, port, where in feeders:
        g.add_edge(u, dst, src_port=port, dst_port=dport, where=where)


def single_feeder(g: nx.MultiDiGraph, node: str) -> tuple[str, int] | None:
    """(element, output port) when exactly one edge enters ``node``."""
    edges = list(g.in_edges(node, data=True))
    if len(edges) != 1:
        return None
    u, _, d = edges[0]
    return u, d["src_port"]
