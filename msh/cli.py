"""The ``msh`` command: validate, run, show graphs; describe elements.

Each subcommand is an entry of ``COMMANDS``: its help line, a function adding its
arguments, and the function that runs it (``args -> exit status``), or a
``"module:function"`` string imported only when that subcommand runs. Heavy modules
(numba, networkx, the elements) are imported inside the commands, after the
arguments are parsed: ``--no-jit`` must set ``NUMBA_DISABLE_JIT`` before numba is
imported, and ``msh --help`` should start at once.

Exit status: 0 ok, 2 bad input (a graph's errors are printed without a traceback).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# At exit, while it tears the modules down, the cyclic collector walks the ~150,000
# objects that numba, pydantic and networkx made, again and again (~0.1 s of every
# command). The process is ending: freeze them instead. Python does not promise to
# finalize objects still alive at exit anyway.
atexit.register(gc.freeze)


@dataclass(frozen=True)
class Command:
    help: str
    arguments: Callable[[argparse.ArgumentParser], None] | str
    run: Callable[[argparse.Namespace], int] | str


def _graph_args(p: argparse.ArgumentParser, many: bool = False) -> None:
    p.add_argument("graphs" if many else "graph", nargs="+" if many else None,
                   metavar="GRAPH", help="a graph YAML file")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a graph parameter (the value is read as YAML: 5 is an int)")


# --- validate ------------------------------------------------------------------------


def validate_args(p: argparse.ArgumentParser) -> None:
    _graph_args(p, many=True)


def validate(args: argparse.Namespace) -> int:
    from msh import graph as G
    from msh.chain import is_chain_file, load_chain
    from msh.errors import GraphError
    from msh.yamlgraph import load

    status = 0
    for path in args.graphs:
        try:
            if is_chain_file(path):
                chain = load_chain(path)
                print(f"ok: {path} (chain of {len(chain.steps)} steps)")
                continue
            g = load(path, args.param)
        except GraphError as exc:
            print(exc, file=sys.stderr)
            status = 2
            continue
        print(f"ok: {path} ({len(G.elements(g))} elements)")
    return status


# --- run -----------------------------------------------------------------------------


def run_args(p: argparse.ArgumentParser) -> None:
    _graph_args(p)
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="packets per batch (default: the runtime's, 1024)")
    p.add_argument("--no-jit", action="store_true",
                   help="run the kernels as plain Python (NUMBA_DISABLE_JIT=1): slow, for"
                   " debugging")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="stop after N packets")
    p.add_argument("--input", metavar="PCAP",
                   help="the trace to play: sets the graph's 'input' parameter, or feeds"
                   " a graph that takes packets at 'in'")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    chains = p.add_argument_group("chains (a GRAPH file with a top-level 'chain:' key)")
    chains.add_argument("--path", choices=("naive", "msh"), default="msh",
                        help="run the naive chain or the compiled plan (default msh)")
    chains.add_argument("--trace", metavar="N,M,...",
                        help="print the path of these packets (0-based) through the plan,"
                        " in the original element names")
    chains.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="play the trace K times")


def _input_file(args, g) -> str:
    """The pcap fed at ``in``: --input, else the graph's ``input`` param, else the
    default trace (msh/trace.py)."""

    if args.input:
        return args.input
    param = g.graph.get("params", {}).get("input")
    if isinstance(param, str) and param:
        return param
    from msh.trace import default_trace

    return default_trace()


def run(args: argparse.Namespace) -> int:
    from msh import graph as G
    from msh.errors import UserError
    from msh.yamlgraph import load

    if args.batch is not None and args.batch < 1:
        raise UserError(f"--batch must be at least 1, not {args.batch}")
    if args.limit is not None and args.limit < 0:
        raise UserError(f"--limit must be at least 0, not {args.limit}")
    from msh.chain import is_chain_file

    if is_chain_file(args.graph):
        from msh.chaincli import run_chain

        return run_chain(args)
    params = list(args.param)
    declared = _declared_params(args.graph)
    if args.input and "input" in declared and not any(
            p.partition("=")[0].strip() == "input" for p in params):
        params.append(f"input={json.dumps(args.input)}")
    g = load(args.graph, params)

    from elements.io.pcapfile import PcapFeed
    from msh.runtime import DEFAULT_BATCH, Program
    from msh.runtime import run as run_program

    sources = [name for name, el in G.elements(g) if el.source]
    feed = None
    if not sources:
        feed = PcapFeed(_input_file(args, g), repeat=1)
    elif args.input and "input" not in declared:
        raise UserError(f"--input: the graph reads its packets from '{sources[0]}' and has"
                        " no 'input' parameter to set")
    t0 = time.perf_counter()
    try:
        program = Program(g, args.batch or DEFAULT_BATCH)
    except ValueError as exc:  # an element's make_state rejected its config
        raise UserError(f"{args.graph}: {exc}") from None
    program.warm_up()
    compile_s = time.perf_counter() - t0
    progress = not args.no_progress and sys.stderr.isatty()
    t0 = time.perf_counter()
    counters = run_program(program, feed=feed, limit=args.limit, progress=progress)
    seconds = time.perf_counter() - t0
    report = _report(g, program, counters, seconds, compile_s)
    print(_format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _declared_params(path: str) -> set[str]:
    """The parameter names a graph file declares (empty if it cannot be read: the
    load that follows reports why)."""
    from msh.errors import ErrorList
    from msh.yamlgraph import read_file

    f = read_file(path, ErrorList(), {})
    return set(f.body.params) if f is not None else set()


def _report(g, program, counters, seconds: float, compile_s: float) -> dict:
    from numba.core import config as numba_config

    from msh import graph as G

    data = counters.to_dict()
    for name, info in data["elements"].items():
        info["out"] = info["out"][: G.n_outputs(g, name)]
        info["kind"] = g.nodes[name]["element"].kind()
    for name in program.sources:
        el = g.nodes[name]["element"]
        data["elements"] = {name: {"kind": el.kind(), **el.counters(None)}, **data["elements"]}
    packets = counters.entered
    return {
        "graph": g.graph.get("name"),
        "file": g.graph.get("file"),
        "packets": packets,
        "seconds": seconds,
        "mpps": packets / seconds / 1e6 if seconds > 0 else 0.0,
        "compile_seconds": compile_s,
        "batch": program.batch_size,
        "jit": not numba_config.DISABLE_JIT,
        **data,
    }


def _format_report(report: dict) -> str:
    rows = []
    for name, info in report["elements"].items():
        parts = []
        if info.get("out"):
            parts.append("out " + " ".join(f"{k}:{n}" for k, n in enumerate(info["out"])))
        if info.get("drops"):
            parts.append("dropped " + " ".join(f"{r}:{n}" for r, n in info["drops"].items()))
        extra = {k: v for k, v in info.items() if k not in ("out", "drops", "kind")}
        if extra:
            parts.append(" ".join(f"{k}={v}" for k, v in extra.items()))
        rows.append((f"{name} :: {info['kind']}", "  ".join(parts)))
    width = max([len(r[0]) for r in rows] + [0])
    lines = [f"{left:<{width}}  {right}".rstrip() for left, right in rows]
    exits = " ".join(f"out[{k}]:{n}" for k, n in enumerate(report["exits"]) if n)
    lines.append(f"left by {exits or 'no output'}; dropped {report['dropped']}")
    lines.append(f"{report['packets']} packets in {report['seconds']:.3f} s:"
                 f" {report['mpps']:.3f} Mpps (batch {report['batch']},"
                 f" {'JIT' if report['jit'] else 'no JIT'}, compile"
                 f" {report['compile_seconds']:.2f} s)")
    return "\n".join(lines)


# --- elements ------------------------------------------------------------------------


def elements_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", help="describe this element kind in full")


def elements(args: argparse.Namespace) -> int:

    from elements.element import REGISTRY, load_all, lookup

    load_all()
    if args.kind is None:
        width = max(len(k) for k in REGISTRY)
        for kind in sorted(REGISTRY):
            print(f"{kind:<{width}}  {summary(REGISTRY[kind])}")
        return 0
    from elements.element import UnknownKindError
    from msh.errors import UserError

    try:
        cls = lookup(args.kind)
    except UnknownKindError as exc:
        raise UserError(str(exc)) from None
    print(describe_kind(cls))
    return 0


def summary(cls) -> str:
    """The first sentence of a class docstring (which may wrap over lines)."""
    import inspect

    paragraph = (inspect.getdoc(cls) or "").split("\n\n")[0]
    text = " ".join(paragraph.split())
    end = text.find(". ")
    return text[: end + 1] if end >= 0 else text


_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"),
           ("min_length", "at least {} item(s)"), ("max_length", "at most {} item(s)"))


def _constraints(field) -> list[str]:
    result = []
    for meta in field.metadata:
        for attr, text in _BOUNDS:
            value = getattr(meta, attr, None)
            if value is not None:
                result.append(text.format(value) if "{}" in text else f"{text} {value}")
    return result


def _schema_type(prop: dict, defs: dict) -> str:
    """A JSON-schema property as a short type: ``list of str | null``."""
    if "$ref" in prop:
        target = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
        if "properties" in target:
            return "mapping of " + ", ".join(target["properties"])
        return _schema_type(target, defs)
    if "enum" in prop:
        return "one of " + ", ".join(json.dumps(v) for v in prop["enum"])
    if "const" in prop:
        return json.dumps(prop["const"])
    if "anyOf" in prop:
        return " | ".join(_schema_type(p, defs) for p in prop["anyOf"])
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items") or prop.get("prefixItems")
        if isinstance(items, list):
            return "[" + ", ".join(_schema_type(p, defs) for p in items) + "]"
        return f"list of {_schema_type(items or {}, defs)}"
    if kind == "object":
        return "mapping"
    return {"integer": "int", "number": "float", "string": "str", "boolean": "bool"}.get(
        kind, kind or "any")


def describe_kind(cls) -> str:
    """Everything a user needs to configure and connect ``cls``: its manual page."""
    import inspect

    from msh.validate import _describe_range

    spec = cls.port_spec()
    lines = [cls.kind(), "=" * len(cls.kind()), "", inspect.getdoc(cls) or "", ""]
    lines.append(f"ports:  {cls.ports} ({_describe_range(spec.inputs, 'input')},"
                 f" {_describe_range(spec.outputs, 'output')})")
    fields = cls.Config.model_fields
    import pydantic
    from pydantic.errors import PydanticInvalidForJsonSchema

    try:
        schema = cls.Config.model_json_schema()
    except PydanticInvalidForJsonSchema:  # a field type with no schema: show no type
        schema = {}
    props, defs = schema.get("properties", {}), schema.get("$defs", {})
    lines.append("config:" if fields else "config: none")
    for name, f in fields.items():
        ann = _schema_type(props.get(name, {}), defs)
        if f.is_required():
            default = "required"
        else:
            value = f.get_default(call_default_factory=True)
            if isinstance(value, pydantic.BaseModel):
                value = value.model_dump(mode="json")
            default = f"default {json.dumps(value, default=str)}"
        lines.append(f"  {name} ({ann}, {default})")
        if f.description:
            lines.append(f"      {f.description}")
        bounds = _constraints(f)
        if bounds:
            lines.append(f"      constraints: {', '.join(bounds)}")
    lines.append(f"reads:  {', '.join(cls.reads) or '-'}")
    lines.append(f"writes: {', '.join(cls.writes) or '-'}")
    lines.append(f"state:  {cls.state_kind}")
    lines.append(f"drops:  {', '.join(cls.drops) or '-'}")
    traits = [t for t in ("source", "fanout") if getattr(cls, t)]
    if traits:
        lines.append(f"traits: {', '.join(traits)}")
    return "\n".join(lines)


# --- show ----------------------------------------------------------------------------


def show_args(p: argparse.ArgumentParser) -> None:
    _graph_args(p)
    p.add_argument("--dot", action="store_true", help="print Graphviz DOT source")
    p.add_argument("--png", metavar="FILE", help="draw the graph to FILE with Graphviz")
    p.add_argument("--plan", action="store_true",
                   help="for a chain: draw the compiled plan's stages (else the naive chain)")


def show(args: argparse.Namespace) -> int:
    from msh import show as S
    from msh.chain import is_chain_file
    from msh.yamlgraph import load

    if is_chain_file(args.graph):
        from msh.chaincli import show_plan

        return show_plan(args)

    g = load(args.graph, args.param)
    if args.png:
        S.png(g, args.png)
        print(f"wrote {args.png}")
    elif args.dot:
        sys.stdout.write(S.dot(g))
    else:
        sys.stdout.write(S.text(g))
    return 0


# --- the table -----------------------------------------------------------------------

COMMANDS: dict[str, Command] = {
    "validate": Command("check graph files; print every error", validate_args, validate),
    "run": Command("run a graph in-process and print its counters", run_args, run),
    "elements": Command("list element kinds, or describe one", elements_args, elements),
    "show": Command("print a graph as text, DOT or PNG", show_args, show),
    "compile": Command("compile a chain into a plan (JSON)", "msh.chaincli:compile_args",
                       "msh.chaincli:compile_cmd"),
    "explain": Command("say what compiling a chain merged, removed, hoisted and cached",
                       "msh.chaincli:explain_args", "msh.chaincli:explain_cmd"),
}


def _resolve(target) -> Callable[[argparse.Namespace], int]:
    if callable(target):
        return target
    import importlib

    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msh", description="msh: Click-style middlebox graphs with numba kernels")
    from msh import __version__

    parser.add_argument("--version", action="version", version=f"msh {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        _resolve(cmd.arguments)(p)
        p.set_defaults(run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "no_jit", False):
        os.environ["NUMBA_DISABLE_JIT"] = "1"
    from msh.errors import GraphError, UserError

    try:
        return _resolve(args.run)(args)
    except GraphError as exc:
        print(exc, file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"msh: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"msh: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        from elements.io.pcapfile import PcapError

        if isinstance(exc, PcapError):
            print(f"msh: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
