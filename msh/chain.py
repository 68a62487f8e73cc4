"""A chain: middleboxes in order, each a graph from ``graphs/`` with its parameters.

Chain YAML::

    chain: fw-nat-lb
    description: ...                              # optional
    middleboxes:
      - fw:  {graph: ../firewall.yaml, params: {...}}
      - nat: {graph: ../nat.yaml}
      - switch:                                   # conditional: an IPClassifier picks
          rules: ["tcp", "-"]                     #   one sub-chain per IPClassifier rule
          branches:
            - [lb: {graph: ../lb.yaml}]
            - [wire: {graph: ../wire.yaml}]
      - parallel:                                 # every branch sees a copy; branch 0's
          branches:                               #   output continues, the others' are
            - [ids: {graph: ../ids.yaml}]         #   counted as the branch's exits
            - [mon: {graph: ../wire.yaml}]

Each middlebox graph has an ``in`` and an ``out``: its ``out[0]`` joins the next
middlebox's ``in[0]``; its other outputs become outputs of the chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx


@dataclass
class Middlebox:
    name: str
    graph: nx.MultiDiGraph


@dataclass
class Switch:
    name: str
    rules: list[str]
    branches: list[list]


@dataclass
class Parallel:
    name: str
    branches: list[list]


@dataclass
class Chain:
    name: str
    steps: list = field(default_factory=list)  # Middlebox | Switch | Parallel
    path: str = "<memory>"


def is_chain_file(path: str | Path) -> bool:
    """A chain file has a top-level ``chain:`` key (graphs have ``graph:``)."""
    import yaml

    try:
        node = yaml.compose(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(node, yaml.MappingNode) and any(
        k.value == "chain" for k, _ in node.value if isinstance(k, yaml.ScalarNode))


CHAIN_KEYS = ("chain", "description", "middleboxes")
STEP_KEYS = {"graph": ("graph", "params"), "switch": ("rules", "branches"),
             "parallel": ("branches",)}


def load_chain(path: str | Path) -> Chain:
    """Read a chain file and every middlebox graph it names; raise ``GraphError``
    listing every problem, each at its file:line:col."""
    import yaml

    from msh.errors import ErrorList, GraphError
    from msh.graph import Where
    from msh.yamlgraph import Source, compose, load

    path = str(path)
    errs = ErrorList()
    root = compose(path, errs)
    errs.raise_if_any()

    def at(node) -> Where:
        return Where(path, node.start_mark.line + 1, node.start_mark.column + 1)

    def mapping(node, what: str, allowed) -> dict:
        if not isinstance(node, yaml.MappingNode):
            errs.add(at(node), f"{what}: expected a mapping")
            return {}
        out = {}
        for k, v in node.value:
            if k.value not in allowed:
                errs.add(at(k), f"{what}: unknown key '{k.value}'",
                         f"expected one of: {', '.join(allowed)}")
            elif k.value in out:
                errs.add(at(k), f"{what}: duplicate key '{k.value}'")
            else:
                out[k.value] = v
        return out

    def plain(node):
        return Source(path, errs).value(node)

    def steps(node, what: str) -> list:
        if not isinstance(node, yaml.SequenceNode):
            errs.add(at(node), f"{what}: expected a list of middleboxes")
            return []
        out = []
        for k, item in enumerate(node.value):
            if not isinstance(item, yaml.MappingNode) or len(item.value) != 1:
                errs.add(at(item), f"{what}[{k}]: expected 'name: {{graph: FILE}}',"
                         " 'switch: {...}' or 'parallel: {...}'")
                continue
            (knode, body), = item.value
            name = knode.value
            kind = name if name in ("switch", "parallel") else "graph"
            keys = mapping(body, f"{what}[{k}] {name}", STEP_KEYS[kind])
            if kind == "graph":
                if "graph" not in keys:
                    errs.add(at(body), f"{what}[{k}] {name}: missing 'graph: FILE'")
                    continue
                file = Path(path).parent / keys["graph"].value
                params = plain(keys["params"]) if "params" in keys else {}
                try:
                    out.append(Middlebox(name, load(file, params)))
                except GraphError as exc:
                    for problem in exc.problems:
                        errs.add(problem.where, problem.message, problem.hint)
                    errs.add(at(keys["graph"]), f"{what}[{k}] {name}: graph {file} has errors")
                continue
            if "branches" not in keys or not isinstance(keys["branches"], yaml.SequenceNode):
                errs.add(at(body), f"{what}[{k}] {name}: expected 'branches' (a list of lists)")
                continue
            branches = [steps(b, f"{what}[{k}].branches[{j}]")
                        for j, b in enumerate(keys["branches"].value)]
            step_name = f"{name}{k}"
            if kind == "switch":
                rules = plain(keys["rules"]) if "rules" in keys else None
                if not isinstance(rules, list) or len(rules) != len(branches):
                    errs.add(at(body), f"{what}[{k}] switch: needs 'rules', one per branch")
                    continue
                out.append(Switch(step_name, rules, branches))
            else:
                out.append(Parallel(step_name, branches))
        return out

    top = mapping(root, "chain file", CHAIN_KEYS)
    if "chain" not in top:
        errs.add(at(root), "missing 'chain: NAME'")
    if "middleboxes" not in top:
        errs.add(at(root), "missing 'middleboxes:' (the list of middleboxes in order)")
    chain = Chain(top["chain"].value if "chain" in top else "", [], path)
    if "middleboxes" in top:
        chain.steps = steps(top["middleboxes"], "middleboxes")
    errs.raise_if_any()
    return chain
