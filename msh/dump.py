"""Write a graph back as msh YAML, so every compiler intermediate can be read (and
loaded again), as Click's tools read and write the same language."""

from __future__ import annotations

import networkx as nx
import yaml

from msh import graph as G


def _port(name: str, port: int, side: str) -> str:
    if port == 0:
        return name
    return f"{name}[{port}]" if side == "out" else f"[{port}]{name}"


def to_yaml(g: nx.MultiDiGraph) -> str:
    """The graph as YAML: ``elements`` with kind, config, owner and stage comments, and
    one connection line per edge."""
    elements = {}
    for name, el in G.elements(g):
        entry = {"kind": el.kind()}
        config = el.config.model_dump(mode="json", exclude_defaults=True)
        if config:
            entry["config"] = config
        elements[name] = entry
    connections = [
        f"{_port(u, d['src_port'], 'out')} -> {_port(v, d['dst_port'], 'in')}"
        for u, v, d in sorted(g.edges(data=True), key=lambda e: (e[0], e[2]["src_port"]))
    ]
    doc = {"graph": g.graph.get("name", "graph"), "elements": elements,
           "connections": connections}
    text = yaml.safe_dump(doc, sort_keys=False, width=100)
    notes = [f"# {n}: owner {g.nodes[n].get('owner') or '-'}, stage {g.nodes[n].get('stage', '-')}"
             + (", cached" if g.nodes[n].get("cached") else "")
             for n, _ in G.elements(g)]
    removed = [f"# removed {n}: {why}" for n, why in g.graph.get("removed", [])]
    return "\n".join(notes + removed) + "\n" + text
