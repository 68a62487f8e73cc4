"""Render a graph for people: a text listing, Graphviz DOT, and PNG through ``dot``.

Compound instances were flattened at load (``chk/strip``); DOT draws each instance
as a cluster named after its prefix so the structure the user wrote stays visible.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import networkx as nx

from msh import graph as G
from msh.errors import UserError


def _config_text(element) -> str:
    """The config keys that differ from their defaults, values as JSON (= YAML flow)."""
    fields = element.config.model_dump(mode="json", exclude_defaults=True)
    return " ".join(f"{k}={json.dumps(v)}" for k, v in fields.items())


def text(g: nx.MultiDiGraph) -> str:
    """Elements (name, kind, config, place) then connections, in file order."""
    els = G.elements(g)
    lines = [f"graph {g.graph.get('name', '?')}: {len(els)} elements"]
    width = max([len(n) for n, _ in els] + [4])
    kwidth = max([len(el.kind()) for _, el in els] + [4])
    lines.append("elements:")
    for name, el in els:
        where = g.nodes[name].get("where")
        place = f"  ({where})" if where is not None and where.line else ""
        lines.append(f"  {name:<{width}}  {el.kind():<{kwidth}}  {_config_text(el)}".rstrip()
                     + place)
    lines.append("connections:")
    for u, v, d in _edges(g):
        lines.append(f"  {u}[{d['src_port']}] -> [{d['dst_port']}]{v}")
    return "\n".join(lines) + "\n"


def _edges(g: nx.MultiDiGraph) -> list:
    """Edges in the order packets flow: by their source's topological rank, then port."""
    try:
        rank = {n: k for k, n in enumerate(nx.topological_sort(g))}
    except nx.NetworkXUnfeasible:  # a cycle: keep insertion order
        rank = {n: k for k, n in enumerate(g.nodes)}
    return sorted(g.edges(data=True), key=lambda e: (rank[e[0]], e[2]["src_port"]))


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(g: nx.MultiDiGraph) -> str:
    """Graphviz source: boxes for elements, ports on edge ends, clusters for compounds."""
    out = [f"digraph {_quote(g.graph.get('name', 'msh'))} {{", "  rankdir=LR;",
           "  node [shape=box, fontname=Helvetica, fontsize=10];",
           "  edge [fontname=Helvetica, fontsize=8];"]
    tree: dict = {}
    for name in g.nodes:
        *prefix, _ = name.split("/")
        node = tree
        for part in prefix:
            node = node.setdefault(part, {})
        node.setdefault(None, []).append(name)

    def emit(node: dict, path: str, indent: str) -> None:
        for name in node.get(None, []):
            el = g.nodes[name].get("element")
            if el is None:
                out.append(f"{indent}{_quote(name)} [shape=circle, label={_quote(name)}];")
            else:
                label = f"{name.rsplit('/', 1)[-1]}\\n{el.kind()}"
                style = ", style=filled, fillcolor=lightyellow" if el.source else ""
                out.append(f'{indent}{_quote(name)} [label="{label}"{style}];')
        for part, child in node.items():
            if part is None:
                continue
            sub = f"{path}/{part}" if path else part
            out.append(f"{indent}subgraph {_quote('cluster_' + sub)} {{")
            out.append(f"{indent}  label={_quote(sub)}; style=dashed;")
            emit(child, sub, indent + "  ")
            out.append(f"{indent}}}")

    emit(tree, "", "  ")
    for u, v, d in _edges(g):
        attrs = []
        if d["src_port"] or G.n_outputs(g, u) > 1:
            attrs.append(f'taillabel="{d["src_port"]}"')
        if d["dst_port"] or G.n_inputs(g, v) > 1:
            attrs.append(f'headlabel="{d["dst_port"]}"')
        extra = f" [{', '.join(attrs)}]" if attrs else ""
        out.append(f"  {_quote(u)} -> {_quote(v)}{extra};")
    out.append("}")
    return "\n".join(out) + "\n"


def png(g: nx.MultiDiGraph, path: str) -> None:
    """Write a PNG drawing with Graphviz's ``dot`` (a ``UserError`` when it is missing)."""
    exe = shutil.which("dot")
    if exe is None:
        raise UserError("drawing a PNG needs Graphviz's 'dot', which is not installed"
                        " (apt-get install graphviz); `msh show --dot` prints the source")
    result = subprocess.run([exe, "-Tpng", "-o", path], input=dot(g), text=True,
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise UserError(f"dot failed: {result.stderr.strip()}")
