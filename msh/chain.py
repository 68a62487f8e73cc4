"""A chain: middleboxes in order, each a graph from ``graphs/`` with its parameters.

Chain YAML::

    chain: fw-nat-lb
    params: {input: ../../data/trace.pcap}        # optional, as for graphs
    middleboxes:
      - fw:  {graph: ../firewall.yaml, params: {...}}
      - nat: {graph: ../nat.yaml}
      - switch:                                   # conditional: a classifier picks
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
