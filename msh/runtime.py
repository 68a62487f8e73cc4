"""The in-process runtime: lower a graph to one generated walk kernel and push batches.

Every element of the graph gets a number. The generated ``walk`` takes each packet of
a batch from its entry point through the element kernels until it leaves by a graph
output (``out``) or is dropped, counting per element output port and drop reason.
Fan-out elements (Tee) are expanded in the walk: clones are appended to the batch and
walked after. One kernel per graph: no Python between elements.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np

from elements.batch import Batch, make_batch
from elements.codegen import Fast, load_source
from elements.element import Element
from msh import graph as G
from msh.flowcache import cache_counters, make_cache
from msh.passes.cache_flows import region_edges
from msh.schedule import Schedule

# Rows a walk's passes take at a time: all passes run over rows 0-31, then 32-63, ...
# Few enough that what a pass asks for is still in L1 when the next pass reads it (a
# batch of 1024 rows asked for 128 KiB of cache entries, more than L1 holds). Measured,
# NAT graph: 121 -> 111 ns a packet on the trace, 275 -> 182 at 100k flows (16: same).
PASS_ROWS = 32
DEFAULT_BATCH = 1024  # measured: reading and the firewall graphs peak at 1024-2048
TRACE_HIT = -2  # in a trace: the packet's flow hit the decision cache
TRACE_STEPS = 64
# Flows the decision cache holds (by default as many as the NAT's mappings). Measured
# at 100,000 flows: a 16k-flow cache thrashed (x0.86 of naive), this one x1.18.
CACHE_FLOWS = 1 << 17


class AccountingError(RuntimeError):
    """Packets entered that neither left by a port nor were counted as dropped."""


@dataclass
class Counters:
    """What a run did: per element output and drop counts, per graph output exits."""

    names: list[str]
    drop_names: list[tuple[str, ...]]
    out: np.ndarray  # [element, port]
    drops: np.ndarray  # [element, reason]; the last column is "unconnected port"
    exits: np.ndarray  # [graph output]
    entered: int = 0
    extra: dict[str, dict[str, int]] = field(default_factory=dict)
    cache: dict[str, int] = field(default_factory=dict)  # the decision cache's counters

    def element(self, name: str) -> dict:
        k = self.names.index(name)
        reasons = self.drop_names[k] + ("unconnected_port",)
        result = {
            "out": [int(x) for x in self.out[k] if True][: self.out.shape[1]],
            "drops": {r: int(self.drops[k, j]) for j, r in enumerate(reasons) if self.drops[k, j]},
        }
        result.update(self.extra.get(name, {}))
        return result

    def total_dropped(self) -> int:
        return int(self.drops.sum())

    def to_dict(self) -> dict:
        return {
            "entered": self.entered,
            "exits": [int(x) for x in self.exits],
            "dropped": self.total_dropped(),
            "elements": {n: self.element(n) for n in self.names},
            **({"flow_cache": self.cache} if self.cache else {}),
        }


def _import(fn, alias: str) -> str:
    """Import a module-level kernel (generated ones included: their modules are in
    ``sys.modules`` once the element's ``make_state`` has built them). Kernels are
    ``elements.jit.inlined``: LLVM inlines them into the walk."""
    return f"from {fn.__module__} import {fn.__name__} as {alias}"


def _fingerprint(fns) -> str:
    """A hash of the source files of the kernels: the walk file's name (and so numba's
    cache of it) changes when any of them does."""
    digest = hashlib.sha256()
    for path in sorted({inspect.getsourcefile(getattr(f, "py_func", f)) for f in fns}):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def stage_points(g: nx.MultiDiGraph, order: list[str]) -> list[str]:
    """The elements the walk looks ahead for (see ``stages``), in ``order``."""
    cache = g.graph.get("cache")
    region = set(cache["nodes"]) if cache else set()
    entry = cache["entry"] if cache else None
    return [n for n in order if n == entry or (
        n not in region and g.nodes[n]["element"].looks_ahead())]


def stages(g: nx.MultiDiGraph, order: list[str]) -> dict[str, int]:
    """The pass of the walk in which each element runs: the number of *stage points* at
    or before it. A stage point is the cached region's entry or an element outside the
    region that looks ahead (``looks_ahead``); every element after one runs a pass
    later, so each element runs in one pass and passes never go back along an edge.
    All 0 (one pass) when an element that fans out would run before the last pass:
    its clones are walked at the end of the batch, after the rows of a later pass."""
    reach = [nx.descendants(g, p) | {p} for p in stage_points(g, order)]
    phase = {n: sum(n in r for r in reach) for n in order}
    last = max(phase.values(), default=0)
    if any(g.nodes[n]["element"].fanout and phase[n] < last for n in order):
        return dict.fromkeys(order, 0)
    return phase


def walk_source(g: nx.MultiDiGraph, order: list[str], trace: bool = False) -> str:
    """Python source of the walk kernel for graph ``g`` with elements numbered by ``order``.

    With a cached region (``graph.graph["cache"]``, see msh/flowcache.py) the walk
    also takes the cache state ``cs``: it looks a flow up on arrival at the region
    entry, replays a hit, and records the fate of a miss as it leaves the region.
    The walk goes over the batch in passes (``stages``), as VPP's nodes do: a pass
    takes every packet up to the next *stage point* (the region entry, or an element
    that looks ahead) and asks the CPU for what that element will read first (the
    flow's cache entry and then the mapping state of each hit, or the flow's table
    slot), so that the next pass finds it in the core's caches instead of stalling on
    each packet in turn. The passes take ``PASS_ROWS`` rows at a time. Every element
    runs in one pass, so it still sees the packets in batch order. With ``trace`` it
    also takes ``tr`` (int32[rows, steps]) and ``tn`` (steps taken) and records every
    element each packet meets, ``TRACE_HIT`` for a cache hit."""
    index = {name: k for k, name in enumerate(order)}
    cache = g.graph.get("cache")
    region = set(cache["nodes"]) if cache else set()
    mappings = [n for n in cache["nodes"] if g.nodes[n]["element"].cache_role() == "mapping"] \
        if cache else []
    edge_bit = {e: k for k, e in enumerate(region_edges(g))}
    entry = cache["entry"] if cache else None
    phase = stages(g, order)
    last_phase = max(phase.values(), default=0)
    # what the walk asks for at each stage point that is not in the first pass
    asks = {n: "cache_prefetch(cs, b, i)" if n == entry else
            f"lookahead{index[n]}(b, i, s{index[n]}, inp)"
            for n in stage_points(g, order) if phase[n] > 0}
    lines = [
        "import numpy as np",
        "from numba import njit",
        "from elements.batch import clone_row",
        "from elements.element import HELD",
    ]
    if cache:
        lines.append("from msh.flowcache import NEVER, MISSES, V_HANDLES, WALKED, cacheable, "
                     "cache_find, cache_prefetch, cache_replay, cache_settle, cache_store")
    kernels = [g.nodes[n]["element"].kernel for n in order if not g.nodes[n]["element"].fanout]
    kernels += [f for n in mappings for f in (g.nodes[n]["element"].slot_of,
                                                   g.nodes[n]["element"].touch,
                                                   g.nodes[n]["element"].prefetch) if f]
    kernels += [f for n in asks if n != entry for f in (
        g.nodes[n]["element"].lookahead, g.nodes[n]["element"].lookahead_found) if f]
    lines += [f"# kernels: {_fingerprint(kernels)}", ""]
    for name in order:
        el = g.nodes[name]["element"]
        k = index[name]
        if not el.fanout:
            lines.append(_import(el.kernel, f"k{k}"))
        if name in mappings:
            lines += [_import(el.slot_of, f"slot_of{k}"), _import(el.touch, f"touch{k}")]
            lines += [_import(el.prefetch, f"prefetch{k}")] if el.prefetch else []
        if name in asks and name != entry:
            lines.append(_import(el.lookahead, f"lookahead{k}"))
            if el.lookahead_found is not None:
                lines.append(_import(el.lookahead_found, f"found{k}"))
    if last_phase:  # the pass in which each element runs
        lines.append(f"PHASE = np.array({[phase[n] for n in order]}, np.int64)")
    states = "".join(f", s{k}" for k in range(len(order)))
    lines += [
        "",
        "",
        "@njit(cache=True, _nrt=False)",
        (f"def walk(b, start_node, start_inp, cout, cdrop, cexit{', cs' if cache else ''}"
         f"{', tr, tn' if trace else ''}{states}):"),
        # an unsigned row index: numba then adds no negative-index wraparound to
        # every access to the batch's arrays (measured: fw-nat-lb plan 208 -> 173 ns)
        "    i = np.uint64(0)",
    ]
    def ask(node: str | None, indent: str) -> list[str]:
        """Ask for what stage point ``node`` (None: whichever ``node`` is) reads first."""
        if node is not None:
            return [f"{indent}{asks[node]}"] if node in asks else []
        out = []
        for n, call in asks.items():
            out += [f"{indent}{'if' if not out else 'elif'} node == {index[n]}:",
                    f"{indent}    {call}"]
        return out

    def park(indent: str) -> list[str]:
        """Leave row i at ``node`` for the pass that runs it, when that is a later one."""
        return [f"{indent}if node >= 0 and phase < PHASE[node]:",
                f"{indent}    start_node[i] = node", f"{indent}    start_inp[i] = inp",
                *ask(None, indent + "    "), f"{indent}    node = -2"]

    head, lines = lines, [
        "    while i < np.uint64(b.meta[0]):",
        "        node = start_node[i]",
        "        inp = start_inp[i]",
    ]
    if last_phase:  # a packet that starts at an element of a later pass waits for it
        lines += park("        ")
    if cache:
        lines += ["        rec = False", "        mask = np.int64(0)",
                  "        oh = np.uint32(0)", "        o0 = np.uint32(0)", "        o1 = np.uint32(0)",
                  "        o2 = np.uint16(0)", "        o3 = np.uint16(0)", "        o4 = np.uint8(0)",
                  "        ohead = np.int32(0)", "        olen = np.int32(0)",
                  "        sfate = np.int64(0)"]
        lines += [f"        sl{j} = -1" for j in range(len(mappings))]
    lines.append("        while node >= 0:")

    def step(what: int, indent: str) -> list[str]:
        """With ``trace``: note that row i met element ``what`` (or ``TRACE_HIT``)."""
        if not trace:
            return []
        return [f"{indent}if tn[i] < tr.shape[1]:", f"{indent}    tr[i, tn[i]] = {what}",
                f"{indent}    tn[i] += 1"]

    def touches(slots: list[str], indent: str) -> list[str]:
        """Refresh every mapping the flow used; ``ok`` false when one is gone."""
        out = [f"{indent}ok = True", f"{indent}exp = NEVER"]
        for j, name in enumerate(mappings):
            k = index[name]
            out += [f"{indent}if ok and {slots[j]} >= 0:",
                    f"{indent}    e = touch{k}(s{k}, {slots[j]}, b, i)",
                    f"{indent}    if e < 0:", f"{indent}        ok = False",
                    f"{indent}    elif e < exp:", f"{indent}        exp = e"]
        return out

    store_node = len(order)  # the walk's one place where a recorded flow is stored

    def found(name: str, indent: str) -> list[str]:
        """For a row waiting at stage point ``name``, whose first read was asked for a
        pass ago: find what it leads to and ask for that (the state of the mappings a
        cached flow will touch; an element's ``lookahead_found``)."""
        if name == entry:
            out = []
            for j, m in enumerate(mappings):
                k = index[m]
                if g.nodes[m]["element"].prefetch is not None:
                    out += [f"{indent}        h = cs.ft.rec[c, V_HANDLES + {j}]",
                            f"{indent}        if h >= 0:", f"{indent}            prefetch{k}(s{k}, h)"]
            return [f"{indent}if cacheable(b, i):", f"{indent}    c = cache_find(cs, b, i)",
                    f"{indent}    if c >= 0:", *out] if out else []
        el = g.nodes[name]["element"]
        if el.lookahead_found is None:
            return []
        return [f"{indent}found{index[name]}(b, i, s{index[name]}, start_inp[i])"]

    def between(p: int, indent: str) -> list[str]:
        """Before pass ``p``: ``found`` for every row waiting at one of its stage points."""
        cases = []
        for name in asks:
            body = found(name, indent + "        ") if phase[name] == p else []
            if body:
                cases += [f"{indent}    {'elif' if cases else 'if'} start_node[i] == {index[name]}:",
                          *body]
        if not cases:
            return []
        return [f"{indent}if phase + 1 == {p}:", f"{indent}    i = lo",
                f"{indent}    while i < hi:", *("    " + c for c in cases),
                f"{indent}        i += np.uint64(1)"]

    def store(fate: str, indent: str) -> list[str]:
        """Leaving the region while recording: go to the store block with the fate
        (one copy of the refresh and store code, however many ways out there are)."""
        return [f"{indent}sfate = np.int64({fate})", f"{indent}node = {store_node}"]

    def store_block(indent: str) -> list[str]:
        """Remember the flow's fate, then follow it as a hit would."""
        out = [f"{indent}rec = False"]
        out += touches([f"sl{j}" for j in range(len(mappings))], indent)
        out += [f"{indent}if ok:",
                (f"{indent}    c = cache_store(cs, oh, o0, o1, o2, o3, o4, ohead, olen, b,"
                 f" i, sfate, mask, exp)"),
                f"{indent}    if c >= 0:"]
        out += [f"{indent}        cs.ft.rec[c, V_HANDLES + {j}] = sl{j}"
                for j in range(len(mappings))]
        out += [f"{indent}        pass"]
        return out + follow("sfate", indent)

    def follow(fate: str, indent: str) -> list[str]:
        """Go where a recorded fate says (the drop itself is counted already)."""
        return [f"{indent}kind = {fate} & 3",
                f"{indent}if kind == 0:",
                f"{indent}    node = {fate} >> 10",
                f"{indent}    inp = ({fate} >> 2) & 0xFF",
                *(park(indent + "    ") if last_phase else []),
                f"{indent}elif kind == 1:",
                f"{indent}    b.port[i] = {fate} >> 2",
                f"{indent}    cexit[{fate} >> 2] += 1",
                f"{indent}    node = -1",
                f"{indent}else:",
                f"{indent}    b.port[i] = -1",
                f"{indent}    node = -1"]

    def goto(src: str, target: tuple[str, int], row: str, indent: str,
             record: bool = True) -> list[str]:
        dst, dport = target
        leaving = record and row == "i" and src in region and dst not in region
        if leaving:
            fate = (dport << 2) | 1 if dst == G.OUT else (index[dst] << 10) | (dport << 2)
            return ([f"{indent}if rec:", *store(f"{fate}", indent + "    "), f"{indent}else:"]
                    + goto(src, target, row, indent + "    ", record=False))
        if row == "i" and dst != G.OUT and phase[dst] > phase[src]:
            return [f"{indent}start_node[i] = {index[dst]}", f"{indent}start_inp[i] = {dport}",
                    f"{indent}inp = {dport}", *ask(dst, indent),
                    f"{indent}node = -2"]  # a later pass takes it on
        if dst == G.OUT:
            return [f"{indent}b.port[{row}] = {dport}", f"{indent}cexit[{dport}] += 1",
                    f"{indent}node = -1" if row == "i" else f"{indent}start_node[{row}] = -1"]
        if row == "i":
            return [f"{indent}node = {index[dst]}", f"{indent}inp = {dport}"]
        return [f"{indent}start_node[{row}] = {index[dst]}", f"{indent}start_inp[{row}] = {dport}"]

    def lookup(indent: str) -> list[str]:
        """On arrival at the region entry: replay a hit, or start recording."""
        hit = indent + "        "
        out = [f"{indent}if cacheable(b, i):",
               f"{indent}    c = cache_find(cs, b, i)",
               f"{indent}    if c >= 0:"]
        out += touches([f"cs.ft.rec[c, V_HANDLES + {j}]" for j in range(len(mappings))], hit)
        out += [f"{hit}if ok:",
                *step(TRACE_HIT, hit + "    "),
                f"{hit}    fate = cache_replay(cs, c, b, i, cdrop, exp)",
                *follow("fate", hit + "    "),
                f"{hit}    continue",
                f"{indent}    cs.stats[MISSES] += 1",
                f"{indent}    rec = True",
                f"{indent}    mask = np.int64(0)",
                f"{indent}    oh = b.flow_hash[i]",
                f"{indent}    o0 = b.saddr[i]",
                f"{indent}    o1 = b.daddr[i]",
                f"{indent}    o2 = b.sport[i]",
                f"{indent}    o3 = b.dport[i]",
                f"{indent}    o4 = b.proto[i]",
                f"{indent}    ohead = b.head[i]",
                f"{indent}    olen = b.length[i]"]
        out += [f"{indent}    sl{j} = -1" for j in range(len(mappings))]
        out += [f"{indent}else:", f"{indent}    cs.stats[WALKED] += 1"]
        return out

    for k, name in enumerate(order):
        el = g.nodes[name]["element"]
        succ = G.successors(g, name)
        unconnected = len(el.drops)
        lines.append(f"            {'if' if k == 0 else 'elif'} node == {k}:")
        ind = " " * 16
        if el.fanout:
            lines += step(k, ind)
            for port in sorted(p for p in succ if p > 0):
                lines += [f"{ind}j = clone_row(b, i)", f"{ind}if j < 0:",
                          f"{ind}    cdrop[{k}, 0] += 1", f"{ind}else:",
                          f"{ind}    cout[{k}, {port}] += 1"]
                lines += goto(name, succ[port], "j", ind + "    ")
            lines.append(f"{ind}cout[{k}, 0] += 1")
            lines += goto(name, succ[0], "i", ind)
            continue
        if name == entry:
            lines += lookup(ind)
        lines += step(k, ind)
        lines.append(f"{ind}r = k{k}(b, i, s{k}, inp)")
        if name in mappings:
            lines.append(f"{ind}sl{mappings.index(name)} = slot_of{k}(s{k})")
        lines += [f"{ind}if r == HELD:", f"{ind}    b.port[i] = -3", f"{ind}    node = -1",
                  f"{ind}elif r < 0:", f"{ind}    cdrop[{k}, -1 - r] += 1"]
        if name in region and name in mappings:  # a failed mapping may succeed later
            lines.append(f"{ind}    rec = False")
        if name in region and name not in mappings:
            lines += [f"{ind}    if rec:", *store(f"({k} << 10) | ((-1 - r) << 2) | 2",
                                                     ind + "        "),
                      f"{ind}    else:", f"{ind}        b.port[i] = -1", f"{ind}        node = -1"]
        else:
            lines += [f"{ind}    b.port[i] = -1", f"{ind}    node = -1"]
        for port in sorted(succ):
            lines.append(f"{ind}elif r == {port}:")
            lines.append(f"{ind}    cout[{k}, {port}] += 1")
            if (name, port) in edge_bit:
                bit = edge_bit[(name, port)]
                lines.append(f"{ind}    mask |= np.int64({(1 << bit) - (bit == 63) * (1 << 64)})")
            lines += goto(name, succ[port], "i", ind + "    ")
        lines += [f"{ind}else:", f"{ind}    cdrop[{k}, {unconnected}] += 1",
                  f"{ind}    b.port[i] = -1", f"{ind}    node = -1"]
    if cache:
        lines.append(f"            elif node == {store_node}:")
        lines += store_block(" " * 16)
    if not order:
        lines.append("            node = -1")
    if last_phase:
        lines += ["        if node == -1:", "            start_node[i] = -1"]
    lines += ["        i += np.uint64(1)"]
    if last_phase:  # the passes go over PASS_ROWS rows at a time
        lines[0] = "    while i < hi:"
        lines = ["    lo = np.uint64(0)", "    while lo < np.uint64(b.meta[0]):",
                 f"        hi = min(lo + np.uint64({PASS_ROWS}), np.uint64(b.meta[0]))",
                 "        phase = 0",
                 "        i = lo", "        while True:", *("        " + line for line in lines),
                 f"            if phase == {last_phase}:", "                break",
                 *(x for p in range(1, last_phase + 1) for x in between(p, "            ")),
                 "            phase += 1", "            i = lo", "        lo = hi"]
    if cache:
        lines.append("    cache_settle(cs, cout)")
    return "\n".join(head + lines + [""])


class Program:
    """A validated graph made runnable: numbered elements, their states, the walk."""

    def __init__(self, g: nx.MultiDiGraph, batch_size: int = DEFAULT_BATCH,
                 cache_capacity: int = CACHE_FLOWS, trace: bool = False):
        self.graph = g
        self.batch_size = batch_size
        self.sources = [n for n, el in G.elements(g) if el.source]
        self.order = [n for n, el in G.elements(g) if not el.source]
        self.index = {n: k for k, n in enumerate(self.order)}
        self.elements = [g.nodes[n]["element"] for n in self.order]
        self.states = [el.make_state(G.n_outputs(g, n)) for n, el in zip(self.order, self.elements)]
        n_el = max(len(self.order), 1)
        max_ports = max([G.n_outputs(g, n) for n in self.order] + [1])
        max_drops = max([len(el.drops) for el in self.elements] + [0]) + 1
        n_exits = G.n_inputs(g, G.OUT) if G.OUT in g else 0
        self.counters = Counters(
            names=list(self.order),
            drop_names=[el.drops for el in self.elements],
            out=np.zeros((n_el, max_ports), np.int64),
            drops=np.zeros((n_el, max_drops), np.int64),
            exits=np.zeros(max(n_exits, 1), np.int64),
        )
        fanout = any(el.fanout for el in self.elements)
        self.capacity = batch_size * (4 if fanout else 1)
        self.batch: Batch = make_batch(self.capacity)
        self._flushing = [(el, st) for el, st in zip(self.elements, self.states)
                          if type(el).flush is not Element.flush]
        self.start_node = np.zeros(self.capacity, np.int32)
        self.start_inp = np.zeros(self.capacity, np.int32)
        self.walk = Fast(load_source("walk", walk_source(g, self.order, trace)).walk)
        self.trace = None
        if trace:  # per row of the last batch: the elements it met, in order
            self.trace = (np.full((self.capacity, TRACE_STEPS), -1, np.int32),
                          np.zeros(self.capacity, np.int32))
        self.cache = None
        if g.graph.get("cache"):
            edges = [(self.index[n], p) for n, p in region_edges(g)]
            mappings = sum(g.nodes[n]["element"].cache_role() == "mapping"
                           for n in g.graph["cache"]["nodes"])
            self.cache = make_cache(cache_capacity, edges, mappings)
        self.schedule = Schedule(self)

    def entry(self, source: str) -> tuple[int, int]:
        """(element number, input port) where packets from ``source`` start."""
        dst, dport = G.successors(self.graph, source)[0]
        if dst == G.OUT:
            return -1 - dport, 0
        return self.index[dst], dport

    def warm_up(self) -> None:
        """Compile (or load from the disk cache) every kernel a run calls, so that a
        timed run times packets: push an empty batch, ask the pull trees for nothing."""
        self.batch.meta[0] = 0
        self.push(0, self.entry(self.sources[0] if self.sources else G.IN))
        self.schedule.warm_up()

    def push(self, n: int, entry: tuple[int, int], b: Batch | None = None,
             entered: bool = True) -> Batch:
        """Walk rows ``0..n-1`` of ``b`` (default ``self.batch``, already filled) from
        ``entry``; ``entered=False`` for packets released by a queue (msh.schedule)."""
        b = self.batch if b is None else b
        node, inp = entry
        if node < 0:  # source wired straight to a graph output
            b.port[:n] = -1 - node
            self.counters.exits[-1 - node] += n
            node = -1
        self.start_node[:n] = node
        self.start_inp[:n] = inp
        self.counters.entered += n if entered else 0
        c = self.counters
        extra = () if self.cache is None else (self.cache,)
        if self.trace is not None:
            self.trace[0][:] = -1
            self.trace[1][:] = 0
            extra += self.trace
        self.walk(b, self.start_node, self.start_inp, c.out, c.drops, c.exits, *extra,
                  *self.states)
        for el, st in self._flushing:
            el.flush(st)
        return b

    def finish(self) -> Counters:
        """Close sinks, gather element counters and check that no packet was lost."""
        c = self.counters
        for name, el, st in zip(self.order, self.elements, self.states):
            el.close(st)
            c.extra[name] = el.counters(st)
        if self.cache is not None:
            c.cache = cache_counters(self.cache)
        clones = sum(int(c.out[k, 1:].sum()) for k, el in enumerate(self.elements) if el.fanout)
        held = sum(int(x.get("held", 0)) for x in c.extra.values())
        left = int(c.exits.sum()) + c.total_dropped() + held
        if c.entered + clones != left:
            raise AccountingError(
                f"{c.entered} packets entered and {clones} were cloned, but {left} are accounted"
                f" for ({int(c.exits.sum())} left by a port, {c.total_dropped()} dropped,"
                f" {held} held)"
            )
        return c


def run(program: Program, feed=None, limit: int | None = None, progress: bool = False,
        on_batch=None) -> Counters:
    """Push every packet of the graph's source (or of ``feed``, for a graph whose
    packets come in at ``in``) through ``program``; ``on_batch(b)`` sees each walked
    batch (its ``port`` array says where each row went)."""
    g = program.graph
    if program.sources:
        name = program.sources[0]
        feeder = g.nodes[name]["element"]
    elif feed is not None and G.IN in g:
        name, feeder = G.IN, feed
    else:
        raise ValueError("the graph has no source element and no input was given")
    entry = program.entry(name)
    program.schedule.live = bool(getattr(feeder, "live", False))
    total = getattr(feeder, "total", None)
    if limit is not None:
        total = min(total, limit) if total is not None else limit
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="pkt", unit_scale=True, leave=False, mininterval=0.5)
    done = 0
    b = program.batch
    while limit is None or done < limit:
        want = program.batch_size if limit is None else min(program.batch_size, limit - done)
        n = feeder.fill(b, want)
        if n == 0:
            break
        program.schedule.before(b, n, on_batch)
        program.push(n, entry)
        if on_batch is not None:
            on_batch(b)
        program.schedule.after(b, n, on_batch)
        done += n
        if bar is not None:
            bar.update(n)
    program.schedule.drain(on_batch)
    if bar is not None:
        bar.close()
    if hasattr(feeder, "close"):
        feeder.close()
    return program.finish()
