"""Chains, naive and compiled, measured in the same run: ``python -m bench.chains``.

For each chain file: compile it (cold: passes and kernel generation; cached: the same
again with numba's disk cache warm), check that both paths emit the same packets per
port and the same drops per middlebox on the full run, then time naive and msh runs
alternately (so both see the same machine) and report their medians and the ratio.
``--sweep N`` also measures chains of 1..N middleboxes (firewall, nat, firewall, ...)
and plots both paths' throughput against chain length.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from bench.harness import Clock, resident_trace, source, versions
from msh.chain import Chain, Middlebox, load_chain
from msh.chainrun import run_chain
from msh.compiler import compile_chain
from msh.runtime import DEFAULT_BATCH, Program, run
from msh.yamlgraph import load

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHAINS = [ROOT / "graphs/chains/fw-nat-lb.yaml",
                  ROOT / "graphs/chains/fw-ids-nat-lb-shaper.yaml"]
SWEEP_CYCLE = ["firewall", "nat"]


def sweep_chain(length: int) -> Chain:
    """firewall, nat, firewall, nat, ...: each firewall with its own admin network and
    each NAT with its own public address, so no two middleboxes are the same."""
    steps = []
    for k in range(length):
        kind = SWEEP_CYCLE[k % len(SWEEP_CYCLE)]
        params = ({"admin_net": f"10.0.{16 * k}.0/20"} if kind == "firewall"
                  else {"public": f"198.51.100.{k + 1}"})
        steps.append(Middlebox(f"{kind}{k}", load(ROOT / "graphs" / f"{kind}.yaml", params)))
    return Chain(f"sweep-{length}", steps)


def compile_times(make, pcap: str, batch: int) -> dict:
    """Seconds from a chain file to its first batch run, both paths (passes, code
    generation, numba's compile or its disk cache): the first time in this process,
    and again (every kernel in memory). A cold figure needs an empty ``MSH_CACHE_DIR``."""
    out = {}
    for label in ("first", "again"):
        t0 = time.perf_counter()
        plan = compile_chain(make())
        for g in (plan.graph, plan.naive):
            run(Program(g, batch), feed=source(pcap, batch).feed)
        out[label] = time.perf_counter() - t0
    return out


def bench_chain(name: str, make, pcap: str, packets: int, runs: int, batch: int,
                clock: str = "wall") -> dict:
    plan = compile_chain(make())
    naive = run_chain(plan, "naive", source(pcap, packets).feed, batch_size=batch,
                      capture=False)
    msh = run_chain(plan, "msh", source(pcap, packets).feed, batch_size=batch)
    if (list(naive.counters.exits) != list(msh.counters.exits)
            or naive.drops_by_middlebox() != msh.drops_by_middlebox()):
        raise SystemExit(f"bench: {name}: naive and msh disagree: exits"
                         f" {list(naive.counters.exits)} vs {list(msh.counters.exits)}, drops"
                         f" {naive.drops_by_middlebox()} vs {msh.drops_by_middlebox()}")
    times: dict[str, list[float]] = {"naive": [], "msh": []}
    for _ in range(runs):
        for path in ("naive", "msh"):
            # set-up (the tables' memory is zeroed when made) is not the packets' time
            program = Program(plan.naive if path == "naive" else plan.graph, batch)
            feed = source(pcap, packets).feed
            with Clock() as c:
                run(program, feed=feed)
            times[path].append(getattr(c, clock))
    med = {p: statistics.median(t) for p, t in times.items()}
    result = {
        "chain": name, "packets": packets, "runs": runs, "batch": batch, "clock": clock,
        **{f"{p}_mpps": packets / med[p] / 1e6 for p in med},
        **{f"{p}_ns_per_packet": med[p] / packets * 1e9 for p in med},
        **{f"{p}_spread_mpps": [packets / max(t) / 1e6, packets / min(t) / 1e6]
           for p, t in times.items()},
        "speedup": med["naive"] / med["msh"],
        "exits": [int(x) for x in msh.counters.exits],
        "drops_by_middlebox": msh.drops_by_middlebox(),
        "flow_cache": msh.counters.cache,
        "cost": plan.cost(),
    }
    print(f"{name:<28} naive {result['naive_mpps']:6.2f} Mpps  msh {result['msh_mpps']:6.2f}"
          f" Mpps  x{result['speedup']:.2f}", flush=True)
    return result


def plot(points: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [p["length"] for p in points]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(n, [p["naive_mpps"] for p in points], "o-", label="naive chain")
    ax.plot(n, [p["msh_mpps"] for p in points], "s-", label="msh plan")
    ax.set_xlabel("middleboxes in the chain (firewall, nat, ...)")
    ax.set_ylabel("Mpps, one core")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.chains", description=__doc__.split("\n")[0])
    p.add_argument("chains", nargs="*", help="chain files (default: the shipped ones)")
    p.add_argument("--pcap", help="trace to replay (default: the shared reference trace)")
    p.add_argument("--packets", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    p.add_argument("--sweep", type=int, default=0, metavar="N",
                   help="also sweep chain lengths 1..N and plot them")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="time runs by the wall clock or by this process's CPU time (steadier"
                        " on a shared machine)")
    p.add_argument("--out", default="bench/out", help="where JSON and plots go")
    a = p.parse_args(argv)
    pcap = resident_trace(a.pcap)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"versions": versions(), "pcap": pcap, "chains": [], "sweep": []}
    for path in a.chains or DEFAULT_CHAINS:
        make = lambda path=path: load_chain(path)
        compile_s = compile_times(make, pcap, a.batch)  # first, before anything is in memory
        result = bench_chain(Path(path).stem, make, pcap, a.packets, a.runs, a.batch, a.clock)
        doc["chains"].append({**result, "compile_s": compile_s})
    for length in range(1, a.sweep + 1):
        make = lambda n=length: sweep_chain(n)
        point = bench_chain(f"sweep-{length}", make, pcap, a.packets, a.runs, a.batch, a.clock)
        doc["sweep"].append({"length": length, **point})
    if doc["sweep"]:
        plot(doc["sweep"], out / "chain_sweep.png")
        print(f"wrote {out / 'chain_sweep.png'}")
    (out / "chains.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out / 'chains.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
