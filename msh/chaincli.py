"""The chain commands of ``msh``: compile, explain, run either path, show the plan.

Kept apart from ``msh/cli.py`` (graphs) so that each reads in one sitting; ``msh run``
and ``msh show`` hand chain files (those with a top-level ``chain:`` key) over here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _plan(args: argparse.Namespace):
    from msh.chain import load_chain
    from msh.compiler import compile_chain

    t0 = time.perf_counter()
    plan = compile_chain(load_chain(args.chain), keep_intermediates=bool(
        getattr(args, "dump_passes", None)))
    return plan, time.perf_counter() - t0


def compile_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("chain", metavar="CHAIN", help="a chain YAML file (graphs/chains/)")
    p.add_argument("-o", "--output", metavar="PLAN.json", help="write the plan as JSON")
    p.add_argument("--dump-passes", metavar="DIR",
                   help="write the graph after every pass to DIR/NN-pass.yaml (ports the"
                   " chain leaves unconnected are fed from an Idle, so each file loads)")


def compile_cmd(args: argparse.Namespace) -> int:
    from msh.dump import to_yaml
    from msh.runtime import Program

    plan, seconds = _plan(args)
    t0 = time.perf_counter()
    Program(plan.graph)  # generate and compile (or load from the cache) the walk
    build = time.perf_counter() - t0
    doc = plan.to_dict()
    doc["compile_seconds"] = {"passes": seconds, "kernel": build}
    text = json.dumps(doc, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}: {len(doc['stages'])} stages, passes {seconds:.3f} s,"
              f" kernel {build:.2f} s")
    else:
        sys.stdout.write(text)
    if args.dump_passes:
        out = Path(args.dump_passes)
        out.mkdir(parents=True, exist_ok=True)
        for k, (name, g) in enumerate(plan.intermediates):
            (out / f"{k:02d}-{name}.yaml").write_text(to_yaml(g))
    return 0


def explain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("chain", metavar="CHAIN", help="a chain YAML file")


def explain_cmd(args: argparse.Namespace) -> int:
    from msh.compiler import explain

    plan, _ = _plan(args)
    print(explain(plan))
    return 0


def show_plan(args: argparse.Namespace) -> int:
    """``msh show CHAIN --plan``: the plan's stages as clusters (text, DOT or PNG)."""
    import networkx as nx

    from msh import show as S

    args.chain = args.graph
    plan, _ = _plan(args)
    g = plan.graph if args.plan else plan.naive
    staged = nx.relabel_nodes(g, {n: f"{g.nodes[n].get('stage') or 'host'}/{n}"
                                  for n in g if n not in ("in", "out")})
    if args.png:
        S.png(staged, args.png)
        print(f"wrote {args.png}")
    elif args.dot:
        sys.stdout.write(S.dot(staged))
    else:
        from msh.compiler import explain

        print(explain(plan))
    return 0


def run_chain(args: argparse.Namespace) -> int:
    """``msh run CHAIN --path naive|msh``: counters per middlebox element, Mpps."""
    from elements.io.pcapfile import PcapFeed
    from msh.chainrun import run_chain as run_plan
    from msh.errors import UserError
    from msh.runtime import DEFAULT_BATCH, TRACE_HIT, Program
    from msh.runtime import run as run_program
    from msh.trace import default_trace

    args.chain = args.graph
    plan, _ = _plan(args)
    trace = sorted(int(x) for x in args.trace.split(",")) if args.trace else []
    feed = PcapFeed(args.input or default_trace(), repeat=args.repeat)
    if not trace:
        batch = args.batch or DEFAULT_BATCH
        result = run_plan(plan, args.path, feed, batch_size=batch, limit=args.limit,
                          progress=not args.no_progress and sys.stderr.isatty())
        seconds = result.seconds
        report = result.counters.to_dict()
        report.update(chain=plan.chain, path=args.path, seconds=seconds,
                      compile_s=result.compile_s, batch=batch,
                      mpps=result.counters.entered / seconds / 1e6,
                      drops_by_middlebox=result.drops_by_middlebox())
        for name, info in report["elements"].items():
            print(f"{name:<24} out {info['out']} {info['drops'] or ''}")
        if report.get("flow_cache"):
            print("flow cache:", " ".join(f"{k}={v}" for k, v in report["flow_cache"].items()))
        print(f"{args.path}: {report['entered']} packets in {seconds:.3f} s:"
              f" {report['mpps']:.3f} Mpps (batch {batch}, compile {result.compile_s:.2f} s)")
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        return 0
    if args.path != "msh" and args.path != "naive":
        raise UserError(f"--path must be naive or msh, not {args.path!r}")
    g = plan.graph if args.path == "msh" else plan.naive
    program = Program(g, args.batch or DEFAULT_BATCH, trace=True)
    seen = [0]
    region = g.graph.get("cache", {}).get("nodes", [])

    def show(b):
        tr, tn = program.trace
        for i in range(int(b.meta[0])):
            number = seen[0] + i
            if number in trace:
                steps = [f"flow cache hit (replays {', '.join(region)})" if x == TRACE_HIT
                         else program.order[x] for x in tr[i, : tn[i]]]
                fate = f"out[{b.port[i]}]" if b.port[i] >= 0 else "dropped"
                print(f"packet {number}: {' -> '.join(steps)} -> {fate}")
        seen[0] += int(b.meta[0])

    run_program(program, feed=feed, limit=args.limit if args.limit is not None
                else max(trace) + 1, on_batch=show)
    return 0
