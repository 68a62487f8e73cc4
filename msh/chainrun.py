"""Run a chain either way in process: ``naive`` (the composed chain, every middlebox
doing all its own work) or ``msh`` (the compiled plan), and report per middlebox."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from elements.batch import packet_bytes
from msh.compiler import Plan
from msh.runtime import Counters, Program, run

PATHS = ("naive", "msh")


@dataclass
class ChainResult:
    counters: Counters
    owners: dict[str, str]
    outputs: list[tuple[int, bytes]] | None  # (chain port, frame) in order, if captured
    compile_s: float = 0.0  # making the program and compiling (or loading) its kernels
    seconds: float = 0.0  # the run itself

    def drops_by_middlebox(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for k, name in enumerate(self.counters.names):
            n = int(self.counters.drops[k].sum())
            if n:
                owner = self.owners.get(name, "")
                out[owner] = out.get(owner, 0) + n
        return out


def run_chain(plan: Plan, path: str, feed, batch_size: int = 256, limit: int | None = None,
              capture: bool = False, progress: bool = False) -> ChainResult:
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, not {path!r}")
    g = plan.naive if path == "naive" else plan.graph
    t0 = time.perf_counter()
    program = Program(g, batch_size)
    program.warm_up()
    compile_s = time.perf_counter() - t0
    outputs: list[tuple[int, bytes]] | None = [] if capture else None

    def keep(b):
        for i in np.flatnonzero(b.port[: b.meta[0]] >= 0):
            outputs.append((int(b.port[i]), packet_bytes(b, i)))

    t0 = time.perf_counter()
    counters = run(program, feed=feed, limit=limit, progress=progress,
                   on_batch=keep if capture else None)
    seconds = time.perf_counter() - t0
    owners = {n: g.nodes[n]["owner"] for n in program.order}
    return ChainResult(counters, owners, outputs, compile_s, seconds)
