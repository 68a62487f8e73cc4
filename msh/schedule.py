"""The pull side of the runtime: release the packets that queues hold when they are due.

The walk kernel only pushes; a ``Queue`` keeps what it is pushed (``HELD``). What
leaves a queue is decided here, after each batch, by the *pull trees* of the graph.
A pull tree has a *root* -- an element that pushes what it pulls (Unqueue,
RatedUnqueue, BandwidthRatedUnqueue) or a pull output wired to a push element or to
``out`` (then the graph's egress pulls as fast as packets come, as Click's ToDevice
on an infinitely fast link) -- above schedulers and shapers, with Queues as leaves.

**Time.** For a trace, time is the packets' timestamps: after a batch, ``now`` is
just before the batch's latest timestamp (the next batch may bring more packets of
that time; they queue first). For live traffic (a feeder with ``live = True``) it is
the wall clock (``time.time_ns``).
Releases are computed as events, not polled: a subtree can give a packet at
``avail = max(own ready time, min over its inputs' avail)``, where a Queue's avail
is its head packet's arrival time and a shaper's ready time is when its token bucket
next allows a pull. The root releases, in time order, every packet whose ``avail``
is ``<= now``; a scheduler at time ``t`` only considers inputs with a packet by
``t``, and packets that arrive at ``t`` are queued before anything leaves at ``t``.
So departures do not depend on how the trace is cut into batches. Only a Queue's
overflow does: it is decided when the batch is walked. Before each batch the
schedule releases what was due before that batch's first packet, so only releases
due *within* a batch come after the batch's own arrivals (use small batches when a
queue is nearly as short as a batch).

**Departure time.** A released packet's timestamp is set to its departure time (the
``t`` it was released at), not its arrival: downstream elements, pcap writers and
rate measurements see the shaped timing, as they would behind a Click shaper running
in real time. Departures from one root never go back in time.

**Drain.** At the end of a run, ``drain`` lets time run on (``now`` = the end of
time) until every pull tree is empty: the last packets leave at the times their
shapers allow, without waiting in wall time. Packets in a Queue that nothing pulls
stay held and are counted as held.

Released packets are walked from the root's successor with ``Program.push(...,
entered=False)``: they were counted when they entered, and leave the queue's
``held`` count as they are released. Each pull element counts what it gave on its
output 0 (``Counters.out``), as the walk does for push elements.
"""

from __future__ import annotations

import time

import networkx as nx
import numpy as np

from elements.batch import make_batch
from elements.codegen import Fast, load_source
from elements.shaper.tokenbucket import NEVER, UNSET
from msh import graph as G
from msh.errors import ErrorList

STORE, PULL, UNQUEUE = "store", "pull", "unqueue"
# The per-node functions are inlined into the root's release loop (a call passes every
# array of the tree's states and of the batch, field by field), and nothing is
# reference-counted: the code allocates nothing, as the walk (3x faster).
INLINED = '@njit(cache=True, inline="always", _nrt=False)'
RELEASE = "@njit(cache=True, _nrt=False)"


def role(g: nx.MultiDiGraph, name: str) -> str | None:
    """``store`` (Queue), ``pull`` (scheduler/shaper), ``unqueue``, or None (push)."""
    el = g.nodes[name].get("element")
    return getattr(el, "pull_role", None) if el is not None else None


def _label(g: nx.MultiDiGraph, name: str) -> str:
    el = g.nodes[name].get("element")
    return f"'{name} :: {type(el).__name__}'" if el is not None else f"'{name}'"


def pull_roots(g: nx.MultiDiGraph) -> list[str]:
    """Check the pull connections and return the roots of the pull trees, in graph order.

    Raises ``GraphError`` naming every misconnection: a push output into a pull input,
    a pull input with two connections or a gap, a pull output connected twice, an
    Unqueue with no output.
    """
    errors = ErrorList()
    roots = []
    for name, _el in G.elements(g):
        r = role(g, name)
        if r is None:
            continue
        if r in (PULL, UNQUEUE):
            ports: dict[int, int] = {}
            for src, _, d in g.in_edges(name, data=True):
                ports[d["dst_port"]] = ports.get(d["dst_port"], 0) + 1
                if role(g, src) not in (STORE, PULL):
                    errors.add(d["where"], f"{_label(g, src)} pushes into pull input"
                               f" {d['dst_port']} of {_label(g, name)}",
                               "put a Queue between them")
            for port in range(max(ports, default=-1) + 1):
                if ports.get(port, 0) != 1:
                    errors.add(g.nodes[name]["where"], f"pull input {port} of {_label(g, name)}"
                               f" has {ports.get(port, 0)} connections; it needs exactly one")
            if not ports:
                errors.add(g.nodes[name]["where"], f"{_label(g, name)} has no input to pull from")
        out0 = [(v, d) for _, v, d in g.out_edges(name, data=True) if d["src_port"] == 0]
        if r == UNQUEUE:
            if not out0:
                errors.add(g.nodes[name]["where"],
                           f"output 0 of {_label(g, name)} is not connected")
            else:
                roots.append(name)
            continue
        if len(out0) > 1:
            errors.add(out0[1][1]["where"],
                       f"pull output 0 of {_label(g, name)} is connected {len(out0)} times")
        elif out0 and role(g, out0[0][0]) not in (PULL, UNQUEUE):
            roots.append(name)  # a pull output feeding a push element or ``out``
    errors.raise_if_any()
    return roots


def _inputs(g: nx.MultiDiGraph, name: str) -> list[str]:
    """The nodes a pull element pulls from, by input port."""
    return [src for src, _, d in sorted(g.in_edges(name, data=True),
                                        key=lambda e: e[2]["dst_port"])]


def _tree(g: nx.MultiDiGraph, root: str) -> list[str]:
    """Every node of the pull tree under ``root``, root first (depth first). It is a
    tree: each pull output has one connection (``pull_roots`` checked), so no node is
    reached twice and a loop of pull elements has no root."""
    seen: list[str] = []
    stack = [root]
    while stack:
        name = stack.pop()
        seen.append(name)
        if role(g, name) != STORE:
            stack.extend(reversed(_inputs(g, name)))
    return seen


def release_source(g: nx.MultiDiGraph, roots: list[str], index: dict[str, int]) -> str:
    """Python source of one ``release_<k>(b, now, limit, last, cout, S)`` per root ``k``.

    ``S`` is the tuple of the states of the root's tree, in ``_tree`` order. For each
    node ``n`` of the tree, ``avail_n(S)`` is the earliest time it can give a packet
    (``NEVER`` if it holds none) and ``pull_n(b, j, t, cout, S)`` moves the packet it
    gives at time ``t`` into row ``j`` of ``b`` (False when it has none due by ``t``),
    counting it on the node's output 0 in ``cout`` (the runtime's per-port counts).
    """
    lines = ["from numba import njit", "from elements.shaper.tokenbucket import NEVER", ""]
    imports: dict[tuple[str, str], str] = {}
    binds: list[str] = []  # numba calls module-level functions, not class attributes
    body: list[str] = []
    for root in roots:
        tree = _tree(g, root)
        pos = {name: p for p, name in enumerate(tree)}
        for name in reversed(tree):  # leaves first: each function calls defined ones
            k = index[name]
            el = g.nodes[name]["element"]
            cls = type(el)
            alias = imports.setdefault((cls.__module__, cls.__name__), f"E{len(imports)}")
            s = f"S[{pos[name]}]"
            fn = f"{index[root]}_{k}"
            if role(g, name) == STORE:
                binds += [f"head_{k} = {alias}.head_time", f"pop_{k} = {alias}.pop"]
                body += [
                    INLINED, f"def avail_{fn}(S):", f"    return head_{k}({s})",
                    "", "",
                    INLINED, f"def pull_{fn}(b, j, t, cout, S):",
                    f"    if head_{k}({s}) > t:", "        return False",
                    f"    pop_{k}({s}, b, j)", f"    cout[{k}, 0] += 1", "    return True",
                    "", "",
                ]
                continue
            binds += [f"ready_{k} = {alias}.ready", f"order_{k} = {alias}.order",
                      f"took_{k} = {alias}.took"]
            inputs = [f"{index[root]}_{index[src]}" for src in _inputs(g, name)]
            m = len(inputs)
            body += [INLINED, f"def avail_{fn}(S):", "    a = NEVER"]
            for c in inputs:
                body += [f"    x = avail_{c}(S)", "    if x < a:", "        a = x"]
            body += ["    if a == NEVER:", "        return NEVER", f"    r = ready_{k}({s})",
                     "    return r if r > a else a", "", "",
                     INLINED, f"def pull_{fn}(b, j, t, cout, S):",
                     f"    if ready_{k}({s}) > t:", "        return False",
                     f"    for a in range({m}):", f"        k = order_{k}({s}, a, {m})",
                     "        got = False"]
            for port, c in enumerate(inputs):
                body += [f"        {'if' if port == 0 else 'elif'} k == {port}:",
                         f"            got = avail_{c}(S) <= t and pull_{c}(b, j, t, cout, S)"]
            body += ["        if got:", f"            took_{k}({s}, b, j, k, t)",
                     f"            cout[{k}, 0] += 1", "            return True",
                     "    return False", "", ""]
        fn = f"{index[root]}_{index[root]}"
        body += [
            RELEASE, f"def release_{index[root]}(b, now, limit, last, cout, S):",
            "    n = 0", "    while n < limit:", f"        t = avail_{fn}(S)",
            "        if t == NEVER:", "            break", "        if t < last[0]:",
            "            t = last[0]", "        if t > now:", "            break",
            f"        if not pull_{fn}(b, n, t, cout, S):", "            break",
            "        b.timestamp[n] = t", "        b.port[n] = -2", "        last[0] = t",
            "        n += 1", "    b.meta[0] = n", "    return n", "", "",
        ]
    for (mod, cls), alias in imports.items():
        lines.append(f"from {mod} import {cls} as {alias}")
    return "\n".join(lines + binds + ["", ""] + body)


class Schedule:
    """The pull trees of a ``Program`` and the clock that releases their packets."""

    def __init__(self, program) -> None:
        g = program.graph
        self.program = program
        self.roots = pull_roots(g)
        self.live = False
        self.now = UNSET
        self.released = 0
        if not self.roots:
            return
        module = load_source("release", release_source(g, self.roots, program.index))
        self._release = [Fast(getattr(module, f"release_{program.index[r]}")) for r in self.roots]
        self._states = [tuple(program.states[program.index[n]] for n in _tree(g, r))
                        for r in self.roots]
        self._entries = [program.entry(r) for r in self.roots]
        self._last = [np.full(1, UNSET, np.int64) for _ in self.roots]
        self.batch = make_batch(program.capacity)

    def warm_up(self) -> None:
        """Compile the release kernels: ask each tree for what is due before any time
        (nothing, so no state changes)."""
        if not self.roots:
            return
        for release, states, last in zip(self._release, self._states, self._last):
            release(self.batch, UNSET, self.program.batch_size, last,
                    self.program.counters.out, states)

    def before(self, b, n: int, on_batch=None) -> None:
        """Release what was due before the first packet of the batch about to be walked."""
        if self.roots and not self.live:
            self.tick(max(int(b.timestamp[:n].min()) - 1, UNSET), on_batch)

    def after(self, b, n: int, on_batch=None) -> None:
        """Release what is due now that the batch (rows ``0..n-1`` of ``b``) was walked:
        up to the wall clock, or to just before the batch's latest timestamp (the next
        batch may bring more packets of that time, and they queue first)."""
        if self.roots:
            latest = time.time_ns() if self.live else int(b.timestamp[:n].max()) - 1
            self.tick(max(self.now, latest), on_batch)

    def drain(self, on_batch=None) -> None:
        """Let time run on until every pull tree is empty (the end of a trace)."""
        if self.roots:
            self.tick(NEVER - 1, on_batch)

    def tick(self, now: int, on_batch=None) -> int:
        """Release, root by root and in time order, every packet due by ``now``; walk
        them on. Roots are visited again until none has anything due: a released packet
        may enter another queue."""
        self.now = max(self.now, now)
        program, rb = self.program, self.batch
        limit = program.batch_size
        total = 0
        moved = True
        while moved:
            moved = False
            for release, states, entry, last in zip(self._release, self._states, self._entries,
                                                    self._last):
                while True:
                    n = release(rb, now, limit, last, program.counters.out, states)
                    if n == 0:
                        break
                    moved = True
                    total += n
                    program.push(n, entry, b=rb, entered=False)
                    if on_batch is not None:
                        on_batch(rb)
                    if n < limit:
                        break
        self.released += total
        return total
