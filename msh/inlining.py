"""Inline element kernels, and every numba helper they call, into the generated walk.

Measured here: a numba call that takes the Batch (a tuple of 17 arrays) increfs and
decrefs every array on the way in and out, ~300 ns a packet once a branch stops
numba from pruning the pairs. The walk is therefore compiled without the NRT
(kernels never allocate) and with every kernel inlined at the numba IR level,
recursively, so the whole walk is one function with no reference counting at all.
"""

from __future__ import annotations

import types

from numba import njit
from numba.core.registry import CPUDispatcher

_memo: dict[types.FunctionType, object] = {}


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def deep_inline(fn):
    """A copy of numba function ``fn`` marked ``inline="always"`` whose numba callees
    are deep-inlined copies too. Plain functions (JIT disabled) come back as they are."""
    py = getattr(fn, "py_func", None)
    if py is None or not isinstance(fn, CPUDispatcher):
        return fn
    if py in _memo:
        return _memo[py]
    scope = dict(py.__globals__)
    for name in _names(py.__code__):
        value = scope.get(name)
        if isinstance(value, CPUDispatcher):
            scope[name] = deep_inline(value)
    clone = types.FunctionType(py.__code__, scope, py.__name__, py.__defaults__, py.__closure__)
    clone.__module__ = py.__module__
    clone.__qualname__ = py.__qualname__
    _memo[py] = njit(inline="always")(clone)
    return _memo[py]
