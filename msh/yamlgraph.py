"""Load a YAML graph file into the ``msh.graph`` model, checking everything on the way.

The format is described in ``docs/yaml.md``. Loading goes:

1. ``yaml.compose`` each file (the graph and its ``include`` files) into nodes, which
   keep the line and column of everything. Plain scalars resolve by YAML 1.2's core
   schema (``NO`` and ``on`` stay strings, ``0x1F`` is an int); duplicate keys are errors.
2. Read the schema: parameters, compound classes, elements, Click-style connections.
3. Expand: substitute ``${param}`` in configs, validate every config with its element's
   pydantic model, check each body's ports, and flatten compound instances (inner
   element ``x`` of instance ``chk`` becomes ``chk/x``, keeping its own place).
4. Check the flat graph (cycles, the packet entry) and build the networkx graph.

Every problem is collected; ``load`` raises one ``GraphError`` listing all of them.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import yaml

from elements.element import UnknownKindError, lookup
from elements.ports import PortRange, PortSpec
from msh import graph as G
from msh.errors import ErrorList, label
from msh.graph import Where
from msh.validate import (
    Edge,
    PortNode,
    check_config,
    check_elements,
    check_flow,
    check_ports,
    did_you_mean,
    interface_nodes,
    render,
)

GRAPH_KEYS = ("graph", "description", "params", "include", "classes", "elements",
              "connections")
CLASS_KEYS = ("description", "params", "elements", "connections")
ELEMENT_KEYS = ("kind", "config")

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
NAME_RULE = "letters, digits and _, not starting with a digit"
# Element names may have several such parts joined by '/', as flattened compounds and
# composed chains name theirs, so that the compiler's YAML dumps load again.
ELEMENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*\Z")
ELEMENT_NAME_RULE = NAME_RULE + " (parts may be joined by /)"

# --- YAML 1.2 core schema for plain scalars ------------------------------------------

_STR, _INT, _FLOAT, _BOOL, _NULL = (f"tag:yaml.org,2002:{t}"
                                    for t in ("str", "int", "float", "bool", "null"))
_INT_RE = re.compile(r"[-+]?[0-9]+\Z|0o[0-7]+\Z|0x[0-9a-fA-F]+\Z")
_FLOAT_RE = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF_RE = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN_RE = re.compile(r"\.(nan|NaN|NAN)\Z")


def plain_scalar(text: str) -> Any:
    """The value of an unquoted scalar under YAML 1.2's core schema."""
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT_RE.match(text):
        return int(text, 0) if text[:2] in ("0o", "0x") else int(text)
    if _FLOAT_RE.match(text):
        return float(text)
    if _INF_RE.match(text):
        return float("-inf") if text[0] == "-" else float("inf")
    if _NAN_RE.match(text):
        return float("nan")
    return text


_TAG_OF = {type(None): _NULL, bool: _BOOL, int: _INT, float: _FLOAT, str: _STR}


class _Loader(yaml.SafeLoader):
    """Composes only. Plain scalars are tagged by YAML 1.2's rules (``plain_scalar``), so
    the nodes carry standard tags that any YAML constructor reads."""

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode and implicit[0]:
            return _TAG_OF[type(plain_scalar(value))]
        return super().resolve(kind, value, implicit)


# --- nodes, places and values --------------------------------------------------------


@dataclass
class Source:
    """One YAML file being read: its name as shown in errors, and the error list."""

    path: str
    errs: ErrorList

    def where(self, node: yaml.Node, offset: int | None = None) -> Where:
        """Place of ``node``; with ``offset``, of that character of a one-line scalar."""
        mark = node.start_mark
        col = mark.column
        if offset is not None and isinstance(node, yaml.ScalarNode) \
                and node.end_mark.line == mark.line:
            if node.style is None:
                col += offset
            elif node.style in ("'", '"') and \
                    node.end_mark.column - mark.column - 2 == len(node.value):
                col += 1 + offset
        return Where(self.path, mark.line + 1, col + 1)

    def error(self, node: yaml.Node | None, message: str, hint: str = "",
              offset: int | None = None) -> None:
        where = self.where(node, offset) if node is not None else Where(self.path, 0, 0)
        self.errs.add(where, message, hint)

    def items(self, node: yaml.MappingNode, what: str = "key"
              ) -> list[tuple[Any, yaml.Node, yaml.Node]]:
        """(key, key node, value node) of a mapping; a repeated key is an error."""
        seen: dict[Any, yaml.Node] = {}
        result = []
        for knode, vnode in node.value:
            key = self.value(knode)
            try:
                first = seen.get(key)
            except TypeError:
                self.error(knode, "a mapping key must be a scalar, found a collection")
                continue
            if first is not None:
                self.error(knode, f"duplicate {what} '{key}'",
                           f"the first '{key}' is at line {first.start_mark.line + 1};"
                           f" each {what} may appear once")
                continue
            seen[key] = knode
            result.append((key, knode, vnode))
        return result

    def value(self, node: yaml.Node, subst=None, _open: frozenset = frozenset()) -> Any:
        """Plain data of ``node``; ``subst(text, node)`` rewrites string scalars."""
        if isinstance(node, yaml.ScalarNode):
            v = self._scalar(node)
            return subst(v, node) if subst is not None and isinstance(v, str) else v
        if id(node) in _open:  # an alias inside its own anchor: `&a [*a]`
            self.error(node, "a YAML alias refers to a collection that contains it")
            return None
        _open = _open | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            return [self.value(x, subst, _open) for x in node.value]
        return {k: self.value(v, subst, _open) for k, _, v in self.items(node)}

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag, text = node.tag, node.value
        if tag == _STR:
            return text
        explicit = {_INT: int, _FLOAT: float, _BOOL: bool, _NULL: type(None)}.get(tag)
        if explicit is None:
            self.error(node, f"unsupported YAML tag '{tag}'",
                       "use plain values; msh reads the standard tags only"
                       " (!!str, !!int, !!float, !!bool, !!null)")
            return text
        v = plain_scalar(text)
        if explicit is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, explicit) or (explicit is int and isinstance(v, bool)):
            self.error(node, f"'{text}' is not a valid {tag.rsplit(':', 1)[1]}")
            return text
        return v

    def want(self, node: yaml.Node, kind: type, what: str) -> bool:
        """Check a node's shape: ``kind`` is MappingNode, SequenceNode or ScalarNode."""
        if isinstance(node, kind):
            return True
        found = {yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list"}.get(
            type(node), f"'{node.value}'" if isinstance(node, yaml.ScalarNode) else "?")
        self.error(node, f"{what}, found {found}")
        return False


def compose(path: str, errs: ErrorList, text: str | None = None) -> yaml.Node | None:
    """The root node of a YAML file, or None after recording why not."""
    try:
        if text is None:
            text = Path(path).read_text()
        return yaml.compose(text, Loader=_Loader)
    except OSError as exc:
        errs.add(Where(path, 0, 0), f"cannot read the file: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        errs.add(Where(path, 0, 0), f"the file is not UTF-8 text: {exc.reason}")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "bad YAML"
        hint = ""
        if exc.context and exc.context_mark is not None and exc.problem:
            hint = f"{exc.context} at line {exc.context_mark.line + 1}"
        where = Where(path, mark.line + 1, mark.column + 1) if mark else Where(path, 0, 0)
        errs.add(where, f"invalid YAML: {problem}", hint)
    except yaml.YAMLError as exc:
        errs.add(Where(path, 0, 0), f"invalid YAML: {exc}")
    return None


# --- the schema ----------------------------------------------------------------------


@dataclass
class Decl:
    """One entry of ``elements:``."""

    name: str
    kind: str
    where: Where  # the element's name
    kind_node: yaml.Node | None
    config: yaml.Node | None


@dataclass
class Body:
    """Elements and connections: the graph itself, or a compound class's inside."""

    name: str
    src: Source
    where: Where
    is_class: bool
    params: dict[str, tuple[Any, yaml.Node]] = field(default_factory=dict)
    elements: dict[str, Decl] = field(default_factory=dict)
    connections: list[Edge] = field(default_factory=list)
    classes: dict[str, Body] = field(default_factory=dict)  # the classes it can use
    # Part of it could not be read: its port checks would report the missing parts.
    incomplete: bool = False

    def spec(self) -> PortSpec:
        """A class's ports: as many as its connections to ``in`` and ``out`` use."""
        n_in = max((e.sport + 1 for e in self.connections if e.src == G.IN), default=0)
        n_out = max((e.dport + 1 for e in self.connections if e.dst == G.OUT), default=0)
        return PortSpec(PortRange(n_in, n_in), PortRange(n_out, n_out))


def _keys(src: Source, node: yaml.MappingNode, allowed, what: str):
    """Items of a mapping whose keys must be among ``allowed``."""
    result = {}
    for key, knode, vnode in src.items(node):
        if key not in allowed:
            close = did_you_mean(str(key), allowed)
            src.error(knode, f"unknown key '{key}' in {what}",
                      f"{close + ' ' if close else ''}valid keys: {', '.join(allowed)}")
            continue
        result[key] = (knode, vnode)
    return result


def _read_body(src: Source, body: Body, keys: dict) -> None:
    if "params" in keys:
        node = keys["params"][1]
        if src.want(node, yaml.MappingNode, "'params' must be a mapping of name: value"):
            for key, knode, vnode in src.items(node):
                if not isinstance(key, str) or not NAME.match(key):
                    src.error(knode, f"invalid parameter name '{key}'", f"use {NAME_RULE}")
                    continue
                body.params[key] = (src.value(vnode), vnode)
    if "elements" in keys:
        node = keys["elements"][1]
        if src.want(node, yaml.MappingNode, "'elements' must be a mapping of name: element"):
            for key, knode, vnode in src.items(node, "element name"):
                decl = _read_element(src, key, knode, vnode)
                if decl is not None:
                    body.elements[decl.name] = decl
    if "connections" in keys:
        node = keys["connections"][1]
        if src.want(node, yaml.SequenceNode, "'connections' must be a list of 'a -> b' lines"):
            for item in node.value:
                if src.want(item, yaml.ScalarNode, "a connection must be a line like 'a -> b'"):
                    body.connections += parse_connection(src, item)


def _read_element(src: Source, key, knode, vnode) -> Decl | None:
    if not isinstance(key, str) or not ELEMENT_NAME.match(key) or key in G.INTERFACE:
        src.error(knode, f"invalid element name '{key}'",
                  f"use {ELEMENT_NAME_RULE}; 'in' and 'out' are the graph interface")
        return None
    where = src.where(knode)
    if isinstance(vnode, yaml.ScalarNode) and isinstance(src.value(vnode), str):
        return Decl(key, src.value(vnode), where, vnode, None)  # the short form `x: Kind`
    if not src.want(vnode, yaml.MappingNode,
                    f"element '{key}' must be a mapping like {{kind: Strip, config: {{...}}}}"):
        return None
    keys = _keys(src, vnode, ELEMENT_KEYS, f"element '{key}'")
    if "kind" not in keys:
        if all(k in ELEMENT_KEYS for k, _, _ in src.items(vnode)):
            src.error(knode, f"element '{key}' has no 'kind'", "write {kind: Strip, ...}")
        return None
    kind_node = keys["kind"][1]
    kind = src.value(kind_node)
    if not isinstance(kind, str):
        src.error(kind_node, f"the kind of element '{key}' must be a name, found {render(kind)}")
        return None
    return Decl(key, kind, where, kind_node, keys["config"][1] if "config" in keys else None)


_END = re.compile(r"\s*(?:\[\s*([0-9]+)\s*\])?\s*([A-Za-z0-9_/]+)\s*(?:\[\s*([0-9]+)\s*\])?\s*\Z")


def parse_connection(src: Source, node: yaml.ScalarNode) -> list[Edge]:
    """``a[1] -> [0]b -> c``: Click's arrows; ``x[N]`` an output, ``[N]x`` an input."""
    text = node.value
    pieces, start = [], 0
    for part in text.split("->"):
        pieces.append((part, start + len(part) - len(part.lstrip())))
        start += len(part) + 2
    if len(pieces) < 2:
        src.error(node, f"a connection needs an arrow: '{text}'", "write 'a -> b' or 'a[1] -> b'")
        return []
    ends = []
    for k, (part, offset) in enumerate(pieces):
        m = _END.match(part)
        if not m or not ELEMENT_NAME.match(m.group(2)):
            shown = part.strip()
            src.error(node, f"cannot read '{shown}' in connection '{text}'" if shown
                      else f"missing element in connection '{text}'",
                      f"write 'name', 'name[N]' (output N) or '[N]name' (input N); names use"
                      f" {ELEMENT_NAME_RULE}", offset=offset)
            return []
        inp, name, out = m.group(1), m.group(2), m.group(3)
        if k == 0 and inp is not None:
            src.error(node, f"'{part.strip()}' starts the connection, so it has no input port",
                      f"write '{name} -> ...' or '... -> [{inp}]{name}'", offset=offset)
            return []
        if k == len(pieces) - 1 and out is not None:
            src.error(node, f"'{part.strip()}' ends the connection, so it has no output port",
                      f"write '... -> {name}' or '{name}[{out}] -> ...'", offset=offset)
            return []
        ends.append((name, int(inp or 0), int(out or 0), src.where(node, offset)))
    return [Edge(a[0], a[2], b[0], b[1], a[3], a[3], b[3])
            for a, b in itertools.pairwise(ends)]


@dataclass
class GraphFile:
    """A parsed file: its graph body and the classes it defines or includes."""

    path: str
    body: Body
    name: str
    own_classes: dict[str, Body]


def read_file(path: str, errs: ErrorList, loaded: dict[str, GraphFile],
              text: str | None = None) -> GraphFile | None:
    """Parse one file and, recursively, its includes (each file read once)."""
    key = os.path.realpath(path)
    if key in loaded:
        return loaded[key]
    root = compose(path, errs, text)
    src = Source(path, errs)
    if root is None:
        if not errs:
            errs.add(Where(path, 0, 0), "the file is empty",
                     "a graph file is a mapping with 'elements' and 'connections'")
        return None
    if not src.want(root, yaml.MappingNode, "a graph file must be a mapping with"
                    " 'elements' and 'connections'"):
        return None
    before = len(errs)
    keys = _keys(src, root, GRAPH_KEYS, "the graph file")
    name = Path(path).stem
    if "graph" in keys:
        v = src.value(keys["graph"][1])
        if isinstance(v, str):
            name = v
        else:
            src.error(keys["graph"][1], f"'graph' must be a name, found {render(v)}")
    body = Body(name, src, src.where(root), is_class=False)
    f = GraphFile(path, body, name, {})
    loaded[key] = f
    _read_body(src, body, keys)
    body.incomplete = len(errs) > before
    if "classes" in keys:
        node = keys["classes"][1]
        if src.want(node, yaml.MappingNode, "'classes' must be a mapping of name: class"):
            for cname, knode, vnode in src.items(node, "class name"):
                if not isinstance(cname, str) or not NAME.match(cname):
                    src.error(knode, f"invalid class name '{cname}'", f"use {NAME_RULE}")
                    continue
                if not src.want(vnode, yaml.MappingNode, f"class '{cname}' must be a mapping"
                                " with 'elements' and 'connections'"):
                    continue
                cbody = Body(cname, src, src.where(knode), is_class=True)
                before = len(errs)
                _read_body(src, cbody, _keys(src, vnode, CLASS_KEYS, f"class '{cname}'"))
                cbody.incomplete = len(errs) > before
                f.own_classes[cname] = cbody
    scope = dict(f.own_classes)
    for node, inc in _includes(src, keys):
        ipath = os.path.normpath(os.path.join(os.path.dirname(path), inc))
        if not os.path.exists(ipath):
            src.error(node, f"cannot include '{inc}': no such file",
                      f"include paths are relative to the including file: looked for {ipath}")
            continue
        other = read_file(ipath, errs, loaded)
        if other is None:
            continue
        for cname, cbody in other.body.classes.items():
            if cname in scope and scope[cname] is not cbody:
                first = scope[cname].where
                src.error(node, f"class '{cname}' from '{inc}' is also defined at {first}",
                          "class names must be unique across included files")
                continue
            scope[cname] = cbody
    body.classes = scope
    for cbody in f.own_classes.values():
        cbody.classes = scope
    return f


def _includes(src: Source, keys: dict) -> list[tuple[yaml.Node, str]]:
    if "include" not in keys:
        return []
    node = keys["include"][1]
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    result = []
    for item in items:
        v = src.value(item) if isinstance(item, yaml.ScalarNode) else None
        if isinstance(v, str):
            result.append((item, v))
        else:
            src.error(item, "'include' takes file paths (relative to this file)")
    return result


# --- parameters ----------------------------------------------------------------------

_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_WHOLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}\Z")


def _text_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float, str)):
        return str(value)
    return None


def substituter(src: Source, scope: dict[str, Any], who: str):
    """``subst(text, node)`` for ``Source.value``: ``${x}`` from ``scope``, errors located.

    ``subst.failed`` holds the places of values that could not be substituted, so the
    caller can leave out the config errors they cause.
    """

    def undefined(name: str, node, offset: int) -> None:
        subst.failed.add(src.where(node))
        close = did_you_mean(name, scope)
        known = f"parameters here: {', '.join(sorted(scope))}" if scope else \
            "declare it under 'params:'"
        src.error(node, f"{who}: undefined parameter '${{{name}}}'",
                  f"{close + ' ' if close else ''}{known}", offset=offset)

    def subst(text: str, node: yaml.ScalarNode) -> Any:
        whole = _WHOLE.match(text)
        if whole:
            name = whole.group(1)
            if name not in scope:
                undefined(name, node, 0)
                return text
            return copy.deepcopy(scope[name])
        out, last = [], 0
        for m in _REF.finditer(text):
            out.append(text[last:m.start()])
            last = m.end()
            if m.group(1) is None:  # "$${" is a literal "${"
                out.append("${")
                continue
            name = m.group(1)
            if name in scope and _text_of(scope[name]) is not None:
                out.append(_text_of(scope[name]))
                continue
            subst.failed.add(src.where(node))
            if not NAME.match(name):
                src.error(node, f"{who}: malformed parameter reference '{m.group(0)}'",
                          "write ${name}; write $${ for a literal ${", offset=m.start())
            elif name not in scope:
                undefined(name, node, m.start())
            elif _text_of(scope[name]) is None:
                src.error(node, f"{who}: parameter '${{{name}}}' is a {type(scope[name]).__name__}"
                          " and cannot be part of a string",
                          f"use it as the whole value: \"${{{name}}}\"", offset=m.start())
            out.append(m.group(0))
        out.append(text[last:])
        return "".join(out)

    subst.failed = set()
    return subst


def parse_overrides(items: dict | list[str], path: str, errs: ErrorList) -> dict:
    """Parameter overrides: a dict of values as they are, or ``-p`` style ``k=v``
    strings whose values are read as YAML (``n=5`` is an int, ``ports=[80, 443]`` a list).
    """
    if isinstance(items, dict):
        return dict(items)
    result = {}
    for item in items:
        k, eq, v = item.partition("=")
        k = k.strip()
        if not eq or not NAME.match(k):
            errs.add(Where(path, 0, 0), f"-p {item}: expected name=value")
            continue
        sub = ErrorList()
        node = compose(f"-p {k}", sub, v) if v.strip() else None
        if sub:
            errs.add(Where(path, 0, 0), f"-p {item}: the value is not valid YAML",
                     "quote it: -p 'name=\"value\"'")
            continue
        result[k] = Source(path, sub).value(node) if node is not None else ""
    return result


# --- expansion -----------------------------------------------------------------------


@dataclass
class Flat:
    """The flattened graph under construction."""

    nodes: dict[str, PortNode] = field(default_factory=dict)
    built: dict[str, tuple[type, Any, Where]] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    pseudo: list[str] = field(default_factory=list)
    checked: set[int] = field(default_factory=set)  # class bodies whose ports were checked
    # An unknown kind or a body not fully read: the entry check would only add noise.
    partial: bool = False


def expand(body: Body, prefix: str, scope: dict[str, Any], flat: Flat,
           stack: tuple[str, ...] = ()) -> None:
    """Add ``body``'s elements (configured, compounds flattened) and edges to ``flat``."""
    src = body.src
    local: dict[str, PortNode] = {}
    compounds = set()
    for decl in body.elements.values():
        full = prefix + decl.name
        who = label(full, decl.kind)
        if decl.kind in body.classes:
            cbody = body.classes[decl.kind]
            if decl.kind in stack:
                src.error(decl.kind_node, f"{who}: class '{decl.kind}' contains itself"
                          f" ({' -> '.join(stack + (decl.kind,))})")
                local[decl.name] = PortNode(label(decl.name, decl.kind), None, decl.where)
                continue
            inner = _class_scope(src, cbody, decl, scope, who)
            expand(cbody, full + "/", inner, flat, stack + (decl.kind,))
            local[decl.name] = PortNode(label(decl.name, decl.kind), cbody.spec(), decl.where)
            compounds.add(decl.name)
            flat.pseudo += [full + "/in", full + "/out"]
            continue
        try:
            cls = lookup(decl.kind)
        except UnknownKindError as exc:
            close = exc.suggestions + difflib.get_close_matches(decl.kind, list(body.classes),
                                                                n=1, cutoff=0.6)
            hint = f"did you mean {' or '.join(repr(s) for s in close)}?" if close else \
                "`msh elements` lists the kinds"
            src.error(decl.kind_node, f"{who}: unknown element kind '{decl.kind}'", hint)
            local[decl.name] = PortNode(label(decl.name, decl.kind), None, decl.where)
            flat.partial = True
            continue
        subst = substituter(src, scope, who)
        value = src.value(decl.config, subst) if decl.config else None
        found = ErrorList()
        config = check_config(cls, who, value, _locator(src, decl), found)
        for p in found.problems:
            if p.where not in subst.failed:
                src.errs.add(p.where, p.message, p.hint)
        node = PortNode(who, cls.port_spec(), decl.where, cls.source)
        flat.nodes[full] = node
        if config is not None:
            flat.built[full] = (cls, config, decl.where)
        local[decl.name] = PortNode(label(decl.name, decl.kind), node.spec, decl.where,
                                    cls.source)
    flat.partial |= body.incomplete
    if not body.incomplete and id(body) not in flat.checked:
        flat.checked.add(id(body))
        check_ports({**local, **interface_nodes(body.where)}, body.connections, src.errs)
    known = set(local) | set(G.INTERFACE)

    def name_of(name: str, side: str) -> str:
        if name in G.INTERFACE:
            return prefix + name
        return prefix + name + (f"/{side}" if name in compounds else "")

    for e in body.connections:
        if e.src in known and e.dst in known:
            flat.edges.append(Edge(name_of(e.src, "out"), e.sport, name_of(e.dst, "in"),
                                   e.dport, e.where, e.src_where, e.dst_where))


def _class_scope(src: Source, cbody: Body, decl: Decl, scope: dict, who: str) -> dict:
    """A compound instance's parameters: the class defaults, overridden by its config."""
    inner = {k: copy.deepcopy(v) for k, (v, _) in cbody.params.items()}
    if decl.config is None or (isinstance(decl.config, yaml.ScalarNode)
                               and src.value(decl.config) is None):
        return inner
    if not src.want(decl.config, yaml.MappingNode,
                    f"{who}: the config of a compound element must be a mapping of parameters"):
        return inner
    subst = substituter(src, scope, who)
    for key, knode, vnode in src.items(decl.config):
        if key not in inner:
            close = did_you_mean(str(key), inner)
            known = ", ".join(inner) or "none"
            src.error(knode, f"{who}: class '{decl.kind}' has no parameter '{key}'",
                      f"{close + ' ' if close else ''}its parameters: {known}")
            continue
        failed = len(subst.failed)
        value = src.value(vnode, subst)
        if len(subst.failed) == failed:  # else keep the default: the error is reported
            inner[key] = value
    return inner


def _locator(src: Source, decl: Decl):
    """``locate(loc, key)`` for ``check_config``: the YAML place of a pydantic ``loc``."""

    def locate(loc: tuple, key: bool) -> Where:
        node = decl.config
        if node is None:
            return decl.where
        for k, part in enumerate(loc):
            nxt = None
            if isinstance(node, yaml.MappingNode):
                for kv, knode, vnode in src.items(node):
                    if str(kv) == str(part):
                        nxt = knode if key and k == len(loc) - 1 else vnode
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                    and 0 <= part < len(node.value):
                nxt = node.value[part]
            if nxt is None:
                break
            node = nxt
        return src.where(node)

    return locate


def _eliminate(flat: Flat) -> list[Edge]:
    """Join the edges through each compound boundary: ``x -> C/in -> y`` is ``x -> y``."""
    edges = flat.edges
    for p in flat.pseudo:
        into = [e for e in edges if e.dst == p]
        out_of = [e for e in edges if e.src == p]
        outer_in = p.endswith("/in")
        joined = [Edge(a.src, a.sport, b.dst, b.dport, a.where if outer_in else b.where,
                       a.src_where, b.dst_where)
                  for a in into for b in out_of if a.dport == b.sport]
        edges = [e for e in edges if p not in (e.src, e.dst)] + joined
    return edges


# --- entry points --------------------------------------------------------------------


def load(path: str | os.PathLike, params: dict | list | None = None,
         text: str | None = None) -> nx.MultiDiGraph:
    """Read, check and flatten a YAML graph; raise ``GraphError`` listing every problem.

    ``params`` overrides the file's ``params`` (``{"input": "x.pcap"}``, or ``-p`` style
    ``["input=x.pcap"]``, whose values are read as YAML scalars). ``text`` stands in
    for the file's content (tests).
    """
    path = str(path)
    errs = ErrorList()
    f = read_file(path, errs, {}, text)
    if f is None:
        errs.raise_if_any()
    body = f.body
    scope = {k: v for k, (v, _) in body.params.items()}
    for k, v in parse_overrides(params or {}, path, errs).items():
        if k not in scope:
            close = did_you_mean(k, scope)
            errs.add(Where(path, 0, 0),
                     f"parameter '{k}' is set, but the graph declares no such parameter",
                     f"{close + ' ' if close else ''}its parameters: "
                     f"{', '.join(scope) or 'none'}")
            continue
        scope[k] = v
    flat = Flat()
    expand(body, "", scope, flat)
    edges = _eliminate(flat)
    nodes = {**flat.nodes, **interface_nodes(body.where)}
    check_flow(nodes, edges, errs, body.where, check_entry=not flat.partial)
    g = None
    if not errs:
        g = _build(f, flat, edges, scope, errs)
    errs.raise_if_any()
    return g


def _build(f: GraphFile, flat: Flat, edges: list[Edge], scope: dict,
           errs: ErrorList) -> nx.MultiDiGraph:
    g = G.new_graph(f.name)
    g.graph["file"] = f.path
    g.graph["params"] = scope
    for name, (cls, config, where) in flat.built.items():
        try:
            element = cls(name=name, config=config)
        except ValueError as exc:
            errs.add(where, f"{label(name, cls.kind())}: {exc}")
            continue
        G.add_element(g, element, where, owner=f.name)
    for e in edges:
        G.connect(g, e.src, e.sport, e.dst, e.dport, e.where)
    check_elements(g, errs)
    return g
