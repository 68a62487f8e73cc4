"""Aho–Corasick multi-pattern matching: built once in Python, scanned in numba.

The automaton is a failure-resolved DFA, so a scan is one table load per byte and no
failure links are followed at run time. Bytes are compressed into classes (every byte
that occurs in a pattern gets its own class, all others share class 0), which keeps
the table ``states x classes`` small enough for 10,000 patterns. A scan's state is a
premultiplied offset ``o = state * classes`` (the root is 0): the next one is
``table[o + cls[byte]]``, no multiply on the load chain; and states are numbered so
that those with outputs come last, so ``o >= dims[1]`` alone says "outputs here". Case-insensitive automata fold
ASCII letters at build time (patterns lowered) and at scan time (``cls`` maps ``A``
and ``a`` to one class), so the scan loop is the same for both.

Outputs are CSR arrays indexed by state number ``s = o // classes``: the patterns ending exactly at state ``s`` are
``out_ids[out_ptr[s]:out_ptr[s + 1]]``. Patterns that end at a suffix of ``s`` are
reached through dictionary links: ``first[s]`` is the nearest state on the failure
chain of ``s`` (``s`` itself included) that has outputs, ``link[t]`` the next one after
``t``, ``-1`` ending the chain. Keeping the outputs per state instead of merged
keeps memory linear in the patterns' total length.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

import numpy as np
from numba import njit


class Automaton(NamedTuple):
    table: np.ndarray  # int32[states * classes]: offset -> next offset, per class
    dims: np.ndarray  # int64[2]: classes, the first offset of a state with outputs
    cls: np.ndarray  # int32[256]: byte -> class (case folded when built with nocase)
    first: np.ndarray  # int32[states]: first state with outputs on the failure chain, or -1
    link: np.ndarray  # int32[states]: next state with outputs after this one, or -1
    out_ptr: np.ndarray  # int32[states + 1]: CSR row pointers into out_ids
    out_ids: np.ndarray  # int32[outputs]: pattern numbers
    pat_len: np.ndarray  # int32[patterns]: length of each pattern


def build(patterns: list[bytes], nocase: bool = False) -> Automaton:
    """The automaton for ``patterns`` (pattern ``k`` is reported as ``k``); duplicates
    are allowed and each is reported. With ``nocase``, ASCII letters match either case."""
    if nocase:
        patterns = [p.lower() for p in patterns]
    for k, p in enumerate(patterns):
        if not p:
            raise ValueError(f"pattern {k} is empty")
    alphabet = sorted({c for p in patterns for c in p})
    cls = np.zeros(256, np.int32)
    for j, c in enumerate(alphabet):
        cls[c] = j + 1
    if nocase:
        for c in range(ord("A"), ord("Z") + 1):
            cls[c] = cls[c + 32]
    n_cls = len(alphabet) + 1

    # Trie: children as dicts of class -> state, outputs as lists.
    children: list[dict[int, int]] = [{}]
    own: list[list[int]] = [[]]
    for k, p in enumerate(patterns):
        s = 0
        for c in p:
            x = int(cls[c])
            nxt = children[s].get(x)
            if nxt is None:
                nxt = len(children)
                children[s][x] = nxt
                children.append({})
                own.append([])
            s = nxt
        own[s].append(k)
    n = len(children)

    delta = np.zeros((n, n_cls), np.int32)
    fail = np.zeros(n, np.int32)
    first = np.full(n, -1, np.int32)
    link = np.full(n, -1, np.int32)
    if own[0]:
        first[0] = 0
    queue = deque()
    for x, t in children[0].items():
        delta[0, x] = t
        queue.append(t)
    while queue:  # breadth first: a state's failure target is finished before it
        s = queue.popleft()
        f = fail[s]
        link[s] = first[f]
        first[s] = s if own[s] else link[s]
        row = delta[f].copy()
        for x, t in children[s].items():
            row[x] = t
            fail[t] = delta[f, x]
            queue.append(t)
        delta[s] = row
    # Renumber: states without outputs first (the root stays 0), then the others.
    has = first >= 0
    order = np.concatenate([np.flatnonzero(~has), np.flatnonzero(has)])
    new = np.empty(n, np.int64)
    new[order] = np.arange(n)
    table = (new[delta[order]] * n_cls).astype(np.int32).ravel()
    remap = np.append(new, -1)  # index -1 (no state) stays -1
    own = [own[s] for s in order]
    out_ptr = np.zeros(n + 1, np.int32)
    out_ptr[1:] = np.cumsum([len(o) for o in own])
    out_ids = np.array([k for o in own for k in o], np.int32)
    pat_len = np.array([len(p) for p in patterns], np.int32)
    dims = np.array([n_cls, int((~has).sum()) * n_cls], np.int64)
    return Automaton(table, dims, cls, remap[first[order]].astype(np.int32),
                     remap[link[order]].astype(np.int32), out_ptr, out_ids, pat_len)


@njit(cache=True)
def ac_find_all(a, data, start, end, state):
    """Every match in ``data[start:end]`` starting from ``state`` (an offset, 0 the
    root): (pattern, end offset) pairs in scan order (end offset exclusive), and the
    state after the last byte. Allocates its result: for tests and tools, not kernels."""
    pats = []
    ends = []
    for p in range(start, end):
        state = a.table[state + a.cls[data[p]]]
        if state < a.dims[1]:
            continue
        t = a.first[state // a.dims[0]]
        while t >= 0:
            for q in range(a.out_ptr[t], a.out_ptr[t + 1]):
                pats.append(a.out_ids[q])
                ends.append(p + 1)
            t = a.link[t]
    return np.array(pats, np.int32), np.array(ends, np.int64), state
