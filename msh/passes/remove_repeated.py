"""Remove repeated pure work: an idempotent element whose result is still valid.

If every packet reaching element X has just left an earlier element U that did the
same work (same kind and configuration, on the same header: ``same_work`` follows the
head across Strip/Unstrip) by U's output 0, and nothing on the way wrote what X reads
or writes (or only what X is ``unaffected_by``: checksum-preserving rewrites for
CheckIPHeader), then X would do nothing and send the packet to output 0: X is
removed. Decided from the elements' declared ``reads``, ``writes``, ``state_kind``,
``idempotent`` and ``head_shift``, along the unique path into X.
Requires: a composed graph. Guarantees: same bytes, annotations and ports for every
packet; the removal and its reason are recorded in ``graph.graph["removed"]``.
"""

from __future__ import annotations

import networkx as nx

from msh.passes.rewire import bypass, single_feeder

# Header fields that are parts of others: a write to a part is a write to the whole.
PARENTS = {"l4.ports": ("tcp", "udp"), "tcp.sum": ("tcp",), "udp.sum": ("udp",)}


def _with_wholes(field: str) -> set[str]:
    """The field and every field it is a part of (``ip.src`` -> ``ip``)."""
    out = {field, *PARENTS.get(field, ())}
    if "." in field:
        out.add(field.split(".", 1)[0])
    return out


def _overlaps(writes: tuple[str, ...], fields: set[str]) -> bool:
    """Fields overlap when equal or one is a part of the other (ip / ip.src, tcp /
    l4.ports)."""
    return any(w in _with_wholes(f) or f in _with_wholes(w) for w in writes for f in fields)


def _earlier_twin(g: nx.MultiDiGraph, node: str) -> str | None:
    el = g.nodes[node]["element"]
    fields = set(el.reads) | set(el.writes)
    shift = 0  # how far the head moved between the candidate twin and ``node``
    current = node
    while True:
        feeder = single_feeder(g, current)
        if feeder is None:
            return None
        u, port = feeder
        prev = g.nodes[u].get("element")
        if prev is None or prev.source or prev.fanout:
            return None
        if el.same_work(prev, shift):
            return u if port == 0 else None
        moved = prev.head_shift()
        if moved is None:
            return None
        shift += moved
        mover = moved != 0 and set(prev.writes) <= {"head", "length"}  # Strip, Unstrip
        if not mover and _overlaps(prev.writes, fields) and not el.unaffected_by(prev):
            return None
        current = u


def run(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    g = g.copy()
    for node in list(nx.topological_sort(g)):
        el = g.nodes[node].get("element")
        if el is None or not el.idempotent or el.state_kind != "none":
            continue
        twin = _earlier_twin(g, node)
        if twin is None:
            continue
        why = f"repeats {twin} ({el.kind()}, same work) and nothing since changes its result"
        g.graph["removed"] = [*g.graph.get("removed", []), (node, why)]
        bypass(g, node)
    return g
