"""Graph checks that report every problem with its place, as Click's config checker does.

Three kinds of check, each adding to an ``ErrorList`` instead of stopping:

- ``check_config``: an element's config against its pydantic ``Config``; each pydantic
  error becomes ``'fw :: IPFilter': rules[1]: expected …, found …`` at the line and
  column of the offending YAML node (the caller maps a pydantic ``loc`` to a place).
- ``check_ports``: one body of connections (a graph, or a compound class's inside):
  unknown element names, port numbers outside an element's port spec, unconnected
  push outputs and inputs, an output connected twice, gaps in the graph interface.
- ``check_flow``: the flattened graph: cycles (the in-process walk needs a DAG) and the
  packet entry (exactly one source element, or the graph input ``in``).

``check_graph`` runs the last two on any ``networkx`` graph of the ``msh.graph`` model,
so compiler passes can check what they produce.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
import pydantic

from elements.ports import UNBOUNDED, PortRange, PortSpec
from msh import graph as G
from msh.errors import ErrorList, label
from msh.graph import NOWHERE, Where

# The graph interface as port specs: ``in`` only has outputs, ``out`` only inputs.
IN_SPEC = PortSpec(PortRange(0, 0), PortRange(0, UNBOUNDED))
OUT_SPEC = PortSpec(PortRange(0, UNBOUNDED), PortRange(0, 0))


@dataclass
class PortNode:
    """What the port checks need to know of a node."""

    label: str  # "'fw :: IPFilter'", or "'in'" for the interface
    spec: PortSpec | None  # None when the kind is unknown: its ports are not checked
    where: Where
    source: bool = False


@dataclass
class Edge:
    """One connection ``src[sport] -> [dport]dst`` and where each end was written."""

    src: str
    sport: int
    dst: str
    dport: int
    where: Where
    src_where: Where = NOWHERE
    dst_where: Where = NOWHERE


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _describe_range(r: PortRange, what: str) -> str:
    if r.low == r.high:
        return _count(r.low, what)
    if r.high == UNBOUNDED:
        return f"{r.low} or more {what}s"
    return f"{r.low} to {r.high} {what}s"


def interface_nodes(where: Where) -> dict[str, PortNode]:
    return {G.IN: PortNode("'in'", IN_SPEC, where), G.OUT: PortNode("'out'", OUT_SPEC, where)}


def check_ports(nodes: dict[str, PortNode], edges: list[Edge], errs: ErrorList) -> None:
    """Check one body's connections against its nodes (which include ``in``/``out``)."""
    outs: dict[str, dict[int, Edge]] = {n: {} for n in nodes}
    ins: dict[str, dict[int, Edge]] = {n: {} for n in nodes}
    misnumbered: set[tuple[str, str]] = set()  # its ports were meant: not "unconnected"
    for e in edges:
        at_src = e.src_where if e.src_where.line else e.where
        at_dst = e.dst_where if e.dst_where.line else e.where
        known = True
        for name, where in ((e.src, at_src), (e.dst, at_dst)):
            if name not in nodes:
                known = False
                errs.add(where, f"unknown element '{name}' in connection",
                         did_you_mean(name, [n for n in nodes if n not in G.INTERFACE]))
        # A good end of a bad connection still counts as connected: no "unconnected" noise.
        src_ok = e.src in nodes and _port_in_range(nodes, e.src, e.sport, "output", at_src,
                                                   errs)
        dst_ok = e.dst in nodes and _port_in_range(nodes, e.dst, e.dport, "input", at_dst,
                                                   errs)
        if dst_ok:
            ins[e.dst].setdefault(e.dport, e)
        elif e.dst in nodes:
            misnumbered.add((e.dst, "input"))
        if not src_ok:
            if e.src in nodes:
                misnumbered.add((e.src, "output"))
            continue
        first = outs[e.src].get(e.sport)
        if first is None:
            outs[e.src][e.sport] = e
        elif known and dst_ok:
            errs.add(e.where,
                     f"output {e.sport} of {nodes[e.src].label} is connected twice:"
                     f" to '{first.dst}' (line {first.where.line}) and to '{e.dst}'",
                     "a push output sends each packet to one place; use a Tee to copy packets")
    for name, node in nodes.items():
        if node.spec is None:
            continue
        if (name, "output") not in misnumbered:
            _check_connected(name, node, outs[name], "output", errs)
        if (name, "input") not in misnumbered:
            _check_connected(name, node, ins[name], "input", errs)


def _port_in_range(nodes, name: str, port: int, side: str, where: Where, errs) -> bool:
    node = nodes[name]
    if node.spec is None:
        return True
    r = node.spec.outputs if side == "output" else node.spec.inputs
    if port < r.high:
        return True
    if name == G.IN:
        hint = "'in' is the graph input: packets come out of it, write `in -> x`"
    elif name == G.OUT:
        hint = "'out' is the graph output: packets go into it, write `x -> out`"
    else:
        hint = ""
    errs.add(where, f"{node.label} has no {side} {port}: it has {_describe_range(r, side)}", hint)
    return False


def missing_ports(r: PortRange, used) -> list[int]:
    """The ports of one side (range ``r``) that must be connected but are not, given
    the ``used`` ones: every port below the highest used one, and the spec's minimum."""
    top = max(used, default=-1)
    return [p for p in range(min(max(top + 1, r.low), r.high)) if p not in used]


def _check_connected(name: str, node: PortNode, used: dict[int, Edge], side: str,
                     errs) -> None:
    r = node.spec.outputs if side == "output" else node.spec.inputs
    top = max(used, default=-1)
    for p in missing_ports(r, used):
        if name in G.INTERFACE:  # a gap: say so where the port above it is used
            what = "graph input" if name == G.IN else "graph output"
            errs.add(used[top].where, f"{what} {p} is not connected, but {what} {top} is",
                     f"number the {what}s from 0 without gaps")
        elif side == "output":
            errs.add(node.where, f"output {p} of {node.label} is not connected",
                     f"every push output needs a destination: connect `{name}[{p}] -> ...`"
                     " (a Discard drops the packets and counts them)")
        else:
            errs.add(node.where, f"input {p} of {node.label} is not connected",
                     f"nothing sends it packets: connect `... -> [{p}]{name}` or remove it")


def check_flow(nodes: dict[str, PortNode], edges: list[Edge], errs: ErrorList,
               where: Where, check_entry: bool = True) -> None:
    """Flattened-graph checks: no cycle, and one way in (one source, or ``in``).

    ``check_entry=False`` skips "no source" when a kind was unknown (it may be the source).
    """
    dg = nx.DiGraph()
    first_edge: dict[tuple[str, str], Edge] = {}
    for e in edges:
        if e.src in nodes and e.dst in nodes:
            dg.add_edge(e.src, e.dst)
            first_edge.setdefault((e.src, e.dst), e)
    cycles = []
    for comp in nx.strongly_connected_components(dg):
        if len(comp) > 1 or any(dg.has_edge(n, n) for n in comp):
            cycle = nx.find_cycle(dg.subgraph(comp))
            cycles.append([first_edge[(u, v)] for u, v in cycle])
    for cycle in cycles:
        start = min(cycle, key=lambda e: (e.where.file, e.where.line, e.where.col))
        k = cycle.index(start)
        cycle = cycle[k:] + cycle[:k]
        path = " -> ".join([e.src for e in cycle] + [cycle[0].src])
        errs.add(start.where, f"packets can loop: {path}",
                 "the in-process walk needs an acyclic graph; break the loop")
    sources = [n for n, node in nodes.items() if node.source]
    has_in = any(e.src == G.IN for e in edges)
    if len(sources) > 1:
        names = ", ".join(nodes[s].label for s in sources)
        errs.add(nodes[sources[1]].where, f"more than one source element: {names}",
                 "a graph has one source element, or takes its packets at 'in'")
    if sources and has_in:
        e = next(e for e in edges if e.src == G.IN)
        errs.add(e.where, f"the graph has both a source element ({nodes[sources[0]].label})"
                 " and an input 'in'",
                 "packets come from one place: remove the source or the 'in' connections")
    if not sources and not has_in and check_entry:
        errs.add(where, "the graph has no source element and no input 'in'",
                 "add a source (FromPcap, TrafficGen) or connect `in -> ...`")


def check_elements(g: nx.MultiDiGraph, errs: ErrorList) -> None:
    """Each element's own check of its connected port counts (``check_connections``)."""
    for name, el in G.elements(g):
        try:
            el.check_connections(G.n_inputs(g, name), G.n_outputs(g, name))
        except ValueError as exc:
            errs.add(g.nodes[name].get("where", NOWHERE), f"{label(name, el.kind())}: {exc}")


def check_graph(g: nx.MultiDiGraph) -> ErrorList:
    """Port, cycle and entry checks on a built graph (e.g. after a compiler pass)."""
    errs = ErrorList()
    nodes: dict[str, PortNode] = {}
    first = NOWHERE
    for name, data in g.nodes(data=True):
        el = data.get("element")
        where = data.get("where", NOWHERE)
        if el is None:
            nodes[name] = interface_nodes(where)[name]
        else:
            nodes[name] = PortNode(label(name, el.kind()), el.port_spec(), where, el.source)
            first = first if first.line else where
    edges = [Edge(u, d["src_port"], v, d["dst_port"], d.get("where", NOWHERE))
             for u, v, d in g.edges(data=True)]
    check_ports(nodes, edges, errs)
    check_flow(nodes, edges, errs, first)
    if not errs:
        check_elements(g, errs)
    return errs


# --- configs -----------------------------------------------------------------------

_EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "null",
}
_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
    "multiple_of": ("multiple_of", "a multiple of"),
}


def loc_text(loc) -> str:
    """``('rules', 1)`` -> ``rules[1]`` (the way the user would point at it)."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def render(value) -> str:
    """A value as the user wrote it in YAML, short."""
    if isinstance(value, dict):
        return "a mapping"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _expected(err: dict) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind in _BOUNDS:
        key, op = _BOUNDS[kind]
        return f"a value {op} {ctx.get(key)}"
    if kind == "too_short":
        return f"at least {_count(ctx.get('min_length', 0), 'item')}"
    if kind == "too_long":
        return f"at most {_count(ctx.get('max_length', 0), 'item')}"
    if kind == "string_too_short":
        return f"at least {_count(ctx.get('min_length', 0), 'character')}"
    if kind == "string_too_long":
        return f"at most {_count(ctx.get('max_length', 0), 'character')}"
    if kind in ("literal_error", "enum"):
        return f"one of {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        return f"a string matching '{ctx.get('pattern')}'"
    return ""


def _field_hint(model: type[pydantic.BaseModel], name: str | None) -> str:
    """The field's description, to say what the value should be."""
    field = model.model_fields.get(name) if name is not None else None
    return f"{name}: {field.description}" if field and field.description else ""


def _keys_hint(model: type[pydantic.BaseModel], unknown: str) -> str:
    """"did you mean" and the valid keys, for an unknown key."""
    fields = model.model_fields
    if not fields:
        return "this element takes no config"
    close = did_you_mean(unknown, fields)
    return f"{close + ' ' if close else ''}valid keys: {', '.join(fields)}"


def check_config(cls, who: str, value, locate: Callable[[tuple, bool], Where],
                 errs: ErrorList):
    """Validate ``value`` (plain data from YAML) as ``cls.Config``; ``None`` on errors.

    Validation runs in pydantic's JSON mode: YAML data is JSON-shaped, and strict JSON
    mode takes a list for a tuple and a string for an enum or an address, but never
    turns "80" into 80. ``locate(loc, key)`` gives the place of a config path (``key``:
    of the mapping key rather than its value, for unknown keys).
    """
    model = cls.Config
    if value is None:
        value = {}
    if not isinstance(value, dict):
        keys = ", ".join(model.model_fields) or "none"
        errs.add(locate((), False), f"{who}: config must be a mapping, found {render(value)}",
                 f"valid keys: {keys}")
        return None
    try:
        return model.model_validate_json(json.dumps(value))
    except pydantic.ValidationError as exc:
        found = exc.errors(include_url=False)
    extra = [str(e["loc"][-1]) for e in found if e["type"] == "extra_forbidden"]
    for err in found:
        # "missing 'length'" is noise next to "unknown 'lenght' (did you mean 'length'?)"
        if err["type"] == "missing" and difflib.get_close_matches(
                str(err["loc"][-1]), extra, n=1, cutoff=0.6):
            continue
        _config_problem(model, who, err, locate, errs)
    return None


def _config_problem(model, who: str, err: dict, locate, errs: ErrorList) -> None:
    loc = tuple(err["loc"])
    kind = err["type"]
    top = loc[0] if loc and isinstance(loc[0], str) else None
    if kind == "missing":
        errs.add(locate(loc[:-1], False), f"{who}: missing config key '{loc_text(loc)}'",
                 _field_hint(model, top))
        return
    if kind == "extra_forbidden":
        errs.add(locate(loc, True), f"{who}: unknown config key '{loc_text(loc)}'",
                 _keys_hint(model, str(loc[0])) if len(loc) == 1 else "")
        return
    where = locate(loc, False)
    path = f"{loc_text(loc)}: " if loc else ""
    if kind == "value_error":
        reason = str((err.get("ctx") or {}).get("error", err["msg"]))
        errs.add(where, f"{who}: {path}{reason}", _field_hint(model, top))
        return
    expected = _expected(err)
    if expected:
        errs.add(where, f"{who}: {path}expected {expected}, found {render(err['input'])}",
                 _field_hint(model, top))
    else:
        errs.add(where, f"{who}: {path}{err['msg'][:1].lower()}{err['msg'][1:]}",
                 _field_hint(model, top))
