"""Run a chain either way in process: ``naive`` (the composed chain, every middlebox
doing all its own work) or ``msh`` (the compiled plan), and report per middlebox."""

from __future__ import annotations

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
    program = Program(g, batch_size)
    outputs: list[tuple[int, bytes]] | None = [] if capture else None

    def keep(b):
        for i in np.flatnonzero(b.port[: b.meta[0]] >= 0):
            outputs.append((int(b.port[i]), packet_bytes(b, i)))

    counters = run(program, feed=feed, limit=limit, progress=progress,
                   on_batch=keep if capture else None)
    owners = {n: g.nodes[n]["owner"] for n in program.order}
    return ChainResult(counters, owners, outputs)
