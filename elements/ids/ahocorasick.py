"""Aho–Corasick multi-pattern matching: built once in Python, scanned in numba.

The automaton is a failure-resolved DFA: ``delta[state, cls[byte]]`` is the next
state for every byte, so a scan is one table load per byte and no failure links are
followed at run time. Bytes are compressed into classes (every byte that occurs in a
pattern gets its own class, all others share class 0), which keeps the table
``states x classes`` small enough for 10,000 patterns. Case-insensitive automata fold
ASCII letters at build time (patterns lowered) and at scan time (``cls`` maps ``A``
and ``a`` to one class), so the scan loop is the same for both.

Outputs are CSR arrays: the patterns ending exactly at state ``s`` are
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
    delta: np.ndarray  # int32[states, classes]: failure-resolved transitions
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
    out_ptr = np.zeros(n + 1, np.int32)
    out_ptr[1:] = np.cumsum([len(o) for o in own])
    out_ids = np.array([k for o in own for k in o], np.int32)
    pat_len = np.array([len(p) for p in patterns], np.int32)
    return Automaton(delta, cls, first, link, out_ptr, out_ids, pat_len)


@njit(cache=True)
def ac_find_all(a, data, start, end, state):
    """Every match in ``data[start:end]`` starting from ``state``: (pattern, end offset)
    pairs in scan order (end offset exclusive), and the state after the last byte.
    Allocates its result: for tests and tools, not for kernels."""
    pats = []
    ends = []
    for p in range(start, end):
        state = a.delta[state, a.cls[data[p]]]
        t = a.first[state]
        while t >= 0:
            for q in range(a.out_ptr[t], a.out_ptr[t + 1]):
                pats.append(a.out_ids[q])
                ends.append(p + 1)
            t = a.link[t]
    return np.array(pats, np.int32), np.array(ends, np.int64), state
