"""Compile a chain into a plan: compose, run the pass pipeline, describe the stages.

The plan is the optimised graph plus what a reader (and ``msh explain``) needs:
which elements each stage runs, the annotations that cross each stage boundary (the
hypervisor <-> middlebox interface), what was removed and why, and a cost model of
per-packet work for the naive chain and for the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from msh import graph as G
from msh import runtime
from msh.chain import Chain
from msh.passes import PIPELINE, compose_chain
from msh.passes.cache_flows import MIN_MAPPINGS
from msh.passes.hoist_front import HYPERVISOR

PARSERS = ("CheckIPHeader", "MarkIPHeader")


@dataclass
class Plan:
    chain: str
    naive: nx.MultiDiGraph
    graph: nx.MultiDiGraph
    intermediates: list[tuple[str, nx.MultiDiGraph]] = field(default_factory=list)

    @property
    def removed(self) -> list[tuple[str, str]]:
        return list(self.graph.graph.get("removed", []))

    def stages(self) -> dict[str, list[str]]:
        """Stage name -> its elements, hypervisor first, in topological order."""
        out: dict[str, list[str]] = {HYPERVISOR: []}
        for node in nx.topological_sort(self.graph):
            if node in G.INTERFACE:
                continue
            out.setdefault(self.graph.nodes[node]["stage"], []).append(node)
        return out

    def boundaries(self) -> list[dict]:
        """Each stage crossing: from, to, and the annotations that must travel with
        the packet (written upstream, read downstream)."""
        written: dict[str, set[str]] = {}
        for node in nx.topological_sort(self.graph):
            el = self.graph.nodes[node].get("element")
            before = set().union(*(written.get(p, set()) for p in self.graph.predecessors(node)))
            written[node] = before | set(el.writes if el else ())
        crossings: dict[tuple[str, str], set[str]] = {}
        for u, v in self.graph.edges():
            su, sv = self.graph.nodes[u].get("stage"), self.graph.nodes[v].get("stage")
            if u in G.INTERFACE or v in G.INTERFACE or su == sv:
                continue
            reads: set[str] = set()
            for w in {v} | nx.descendants(self.graph, v):
                el = self.graph.nodes[w].get("element")
                if el is not None:
                    reads |= set(el.reads)
            crossings.setdefault((su, sv), set()).update(written[u] & reads)
        return [{"from": a, "to": b, "annotations": sorted(c)} for (a, b), c in crossings.items()]

    def cost(self) -> dict:
        return {"naive": path_cost(self.naive, by_owner=True),
                "msh": path_cost(self.graph, by_owner=False)}

    def to_dict(self) -> dict:
        return {
            "chain": self.chain,
            "stages": [
                {"name": name, "elements": [
                    {"name": n, "kind": self.graph.nodes[n]["element"].kind(),
                     "owner": self.graph.nodes[n]["owner"]} for n in nodes]}
                for name, nodes in self.stages().items()
            ],
            "boundaries": self.boundaries(),
            "removed": [{"element": n, "why": why} for n, why in self.removed],
            "exits": [list(e) for e in self.graph.graph.get("exits", [])],
            "cost": self.cost(),
        }


def main_path(g: nx.MultiDiGraph) -> list[str]:
    """The elements a forwarded packet meets: from ``in``, always by output 0."""
    path, node = [], G.IN
    while True:
        succ = G.successors(g, node)
        if 0 not in succ or succ[0][0] == G.OUT or len(path) > len(g):
            return path
        node = succ[0][0]
        path.append(node)


def path_cost(g: nx.MultiDiGraph, by_owner: bool) -> dict:
    """Per-packet work along the main path, for a packet of a flow already seen:
    header parses, flow-table lookups, and stage crossings. In the naive chain every
    middlebox is its own stage behind the host bridge; in the plan, stages are the
    hypervisor and what is left of each middlebox, and a cached region costs one
    lookup (its mappings are refreshed in place) and is skipped."""
    cached = set(g.graph.get("cache", {}).get("nodes", []))
    parses = lookups = crossings = elements = 0
    prev_stage = "host"
    for node in main_path(g):
        el = g.nodes[node]["element"]
        if node in cached:
            if g.graph["cache"]["entry"] == node:
                lookups += 1
                elements += 1
            continue
        elements += 1
        parses += el.kind() in PARSERS
        lookups += el.state_kind == "per-flow"
        stage = g.nodes[node]["owner"] if by_owner else g.nodes[node].get("stage")
        crossings += stage != prev_stage
        prev_stage = stage
    return {"elements": elements, "parses": parses, "table_lookups": lookups,
            "stage_crossings": crossings}


def compile_chain(chain: Chain, keep_intermediates: bool = False, check=None) -> Plan:
    """Compose ``chain`` and run the pipeline; ``check(name, graph)`` (tests) runs
    after every pass."""
    naive = compose_chain.run(chain)
    g = naive
    intermediates = [("compose_chain", naive)] if keep_intermediates else []
    if check is not None:
        check("compose_chain", g)
    for p in PIPELINE:
        g = p.run(g)
        name = p.__name__.rsplit(".", 1)[-1]
        if check is not None:
            check(name, g)
        if keep_intermediates:
            intermediates.append((name, g))
    return Plan(chain.name, naive, g, intermediates)


def explain(plan: Plan) -> str:
    """What the compiler did, in words."""
    lines = [(f"chain {plan.chain}: {len(list(G.elements(plan.naive)))} elements composed,"
              f" {len(list(G.elements(plan.graph)))} after compilation")]
    for node, why in plan.removed:
        lines.append(f"  removed {node}: {why}")
    cache = plan.graph.graph.get("cache")
    if cache:
        lines.append(f"  per-flow decision cache in the hypervisor, before {cache['entry']},"
                     f" replaces: {', '.join(cache['nodes'])}")
        lines.append("    why: each is flow-deterministic (a 5-tuple filter, a mapping that"
                     " sticks once made, a fixed head move); later packets of a flow take one"
                     " lookup and one rewrite")
    else:
        lines.append(f"  no per-flow decision cache: no flow-deterministic region holds"
                     f" {MIN_MAPPINGS} mappings (a filter and one mapping walk faster than a"
                     f" hit replays them)")
    stages = plan.stages()
    hv = stages.get(HYPERVISOR, [])
    lines.append(f"  hoisted into the hypervisor stage ({len(hv)}): " + (", ".join(hv) or "none"))
    lines.append("    why: stateless elements that every packet meets before any stateful one;"
                 " run once in the host, a packet they drop never enters a middlebox")
    for name, nodes in stages.items():
        if name != HYPERVISOR:
            lines.append(f"  stage {name} ({len(nodes)}): {', '.join(nodes)}")
    for b in plan.boundaries():
        lines.append(f"  crossing {b['from']} -> {b['to']} carries: "
                     + (", ".join(b["annotations"]) or "packet bytes only"))
    c = plan.cost()
    for key in ("parses", "table_lookups", "stage_crossings", "elements"):
        lines.append(f"  per packet {key}: naive {c['naive'][key]}, msh {c['msh'][key]}")
    for label, g in (("naive", plan.naive), ("msh", plan.graph)):
        order = [n for n, el in G.elements(g) if not el.source]
        phase = runtime.stages(g, order)
        entry = g.graph.get("cache", {}).get("entry")
        ahead = [f"the decision cache (before {n})" if n == entry else n
                 for n in runtime.stage_points(g, order) if phase[n] > 0]
        lines.append(f"  walk ({label}): {max(phase.values(), default=0) + 1} pass(es) over"
                     f" each batch, looking ahead for: {', '.join(ahead) or 'nothing'}")
    lines.append("    why: a pass asks the CPU for the flow state the next stage point reads"
                 " (its cache entry or table slot), so the misses of a batch overlap")
    return "\n".join(lines)
