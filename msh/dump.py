"""Write a graph back as msh YAML, so every compiler intermediate can be read (and
loaded again), as Click's tools read and write the same language.

A chain leaves ports unconnected that the loader requires (the NAT's and the load
balancer's reply inputs: a chain feeds a middlebox only at ``in[0]``), so the dump
connects each of them to an ``Idle`` element, as Click's tools do; the compiler's
graphs themselves keep their gaps.
"""

from __future__ import annotations

import networkx as nx
import yaml

from msh import graph as G
from msh.validate import IN_SPEC, OUT_SPEC, missing_ports


def _port(name: str, port: int, side: str) -> str:
    if port == 0:
        return name
    return f"{name}[{port}]" if side == "out" else f"[{port}]{name}"


def _free_name(g: nx.MultiDiGraph, name: str) -> str:
    k = 1
    while f"{name}{k if k > 1 else ''}" in g:
        k += 1
    return f"{name}{k if k > 1 else ''}"


def fill_unconnected(g: nx.MultiDiGraph) -> tuple[nx.MultiDiGraph, list[str]]:
    """A copy of ``g`` in which every port the loader wants connected (``missing_ports``:
    those below a connected one, and an element's minimum) is: an unconnected input,
    or a gap in the graph outputs, is fed by an output of ``idle``; an unconnected
    output, or a gap in the graph inputs, goes to an input of ``idle_sink``. Two Idle
    elements, not one, so that filling never makes a cycle. Idle sends no packet and
    drops (counted) any it gets, so the copy forwards and drops what ``g`` does. Also
    returns a comment line per Idle added, saying what it stands in for."""
    from elements.element import lookup

    unfed, unused = [], []  # (node, port) to connect from idle / to idle_sink
    for name, data in g.nodes(data=True):
        el = data.get("element")
        spec = el.port_spec() if el is not None else IN_SPEC if name == G.IN else OUT_SPEC
        ins = {d["dst_port"] for _, _, d in g.in_edges(name, data=True)}
        outs = {d["src_port"] for _, _, d in g.out_edges(name, data=True)}
        unfed += [(name, p) for p in missing_ports(spec.inputs, ins)]
        unused += [(name, p) for p in missing_ports(spec.outputs, outs)]
    if not unfed and not unused:
        return g, []
    idle = lookup("Idle")
    g = g.copy()
    notes = []
    for base, ports, feeds in (("idle", unfed, True), ("idle_sink", unused, False)):
        if not ports:
            continue
        name = _free_name(g, base)
        G.add_element(g, idle(name))
        for k, (node, port) in enumerate(ports):
            if feeds:
                G.connect(g, name, k, node, port)
            else:
                G.connect(g, node, port, name, k)
        what = ", ".join(f"{_port(n, p, 'in' if feeds else 'out')}" for n, p in ports)
        notes.append(f"# {name}: added by the dump (the compiler's graph leaves"
                     f" {'inputs' if feeds else 'outputs'} {what} unconnected)")
    return g, notes


def to_yaml(g: nx.MultiDiGraph) -> str:
    """The graph as YAML: ``elements`` with kind, config, owner and stage comments, and
    one connection line per edge; ports left unconnected go to Idle elements
    (``fill_unconnected``), so the text loads back with the loader's checks."""
    original = g
    g, idles = fill_unconnected(g)
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
             for n, _ in G.elements(original)]
    removed = [f"# removed {n}: {why}" for n, why in g.graph.get("removed", [])]
    return "\n".join(notes + idles + removed) + "\n" + text
