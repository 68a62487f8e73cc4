"""The Maglev lookup table (Eisenbud et al., NSDI'16, section 3.4), with weights.

Each backend has a permutation of the table's ``m`` slots (``m`` prime) given by an
``offset`` and a ``skip`` from two hashes of its identity. Backends take turns; on its
turn a backend claims the next slot of its permutation that is still free, until the
table is full. Weights give a backend proportionally more turns: in round ``r`` a
backend of weight ``w`` takes a turn when ``floor((r+1) w / wmax) > floor(r w / wmax)``,
so the heaviest backend takes one every round. Because a backend's preferences do not
depend on the others, removing one backend moves few slots of the others: the
property that makes changes of the backend set barely disturb new flows.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_MASK64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """splitmix64's finaliser: a fixed, portable hash (Python's ``hash`` is salted)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def permutation_params(addr: int, port: int, m: int) -> tuple[int, int]:
    """(offset, skip) of the backend ``addr:port`` (port -1: any) in a table of ``m``."""
    ident = (int(addr) << 17) | (int(port) + 1)
    offset = _mix64(ident ^ 0x5BD1E995) % m
    skip = _mix64(ident ^ 0xC2B2AE3D27D4EB4F) % (m - 1) + 1
    return offset, skip


@njit(cache=True)
def maglev_fill(offset, skip, weight, table):
    """Fill ``table`` (int32[m]) with backend indices; ``-1`` everywhere when no backend
    has a positive weight. Allocates one small array per call (config time only)."""
    m = table.shape[0]
    n = offset.shape[0]
    table[:] = -1
    wmax = 0
    for j in range(n):
        wmax = max(wmax, weight[j])
    if wmax == 0:
        return
    nxt = np.zeros(n, np.int64)
    filled = 0
    r = 0
    while True:
        for j in range(n):
            w = weight[j]
            if (r + 1) * w // wmax == r * w // wmax:
                continue
            c = (offset[j] + nxt[j] * skip[j]) % m
            while table[c] >= 0:
                nxt[j] += 1
                c = (offset[j] + nxt[j] * skip[j]) % m
            table[c] = j
            nxt[j] += 1
            filled += 1
            if filled == m:
                return
        r += 1


def build_table(addrs: list[int], ports: list[int], weights: list[int], m: int,
                table: np.ndarray | None = None) -> np.ndarray:
    """The lookup table for these backends (written into ``table`` when given)."""
    if table is None:
        table = np.empty(m, np.int32)
    params = [permutation_params(a, p, m) for a, p in zip(addrs, ports)]
    offset = np.array([o for o, _ in params], np.int64)
    skip = np.array([s for _, s in params], np.int64)
    maglev_fill(offset, skip, np.asarray(weights, np.int64), table)
    return table


def is_prime(m: int) -> bool:
    if m < 2:
        return False
    k = 2
    while k * k <= m:
        if m % k == 0:
            return False
        k += 1
    return True
