"""Inline each element kernel into the generated walk.

Measured here: a numba call that takes the Batch (a tuple of 17 arrays) increfs and
decrefs every array on the way in and out, ~300 ns a packet once a branch stops
numba from pruning the pairs. The walk is therefore compiled without the NRT (kernels
never allocate) and every kernel is inlined into it at the numba IR level. The
helpers a kernel calls are not inlined by the walk (measured: inlining them all made
the NAT's walk take 90 s instead of 30 s to compile, and run 30% slower); a helper
that takes the batch should be ``inline="always"`` or compiled with ``_nrt=False``.
"""

from __future__ import annotations

from numba import njit
from numba.core.registry import CPUDispatcher

_memo: dict = {}


def inline(fn):
    """A copy of numba kernel ``fn`` marked ``inline="always"``; a plain function (JIT
    disabled) comes back as it is."""
    if not isinstance(fn, CPUDispatcher):
        return fn
    if fn.py_func not in _memo:
        _memo[fn.py_func] = njit(inline="always")(fn.py_func)
    return _memo[fn.py_func]
