"""The pull side: what schedulers, shapers and unqueuers declare so the runtime can pull.

Click moves packets two ways: *push* (the upstream element hands a packet on) and
*pull* (a downstream element asks for one when it can send). A ``Queue`` turns push
into pull: its kernel stores the packet (``HELD``); its output is pulled. msh's
walk kernel only pushes, so pull elements are not reached by the walk at all. After
every batch, ``msh.schedule`` asks each *pull root* (a pull element whose output
pushes: Unqueue, RatedUnqueue, or any pull output wired to a push element or to the
graph's ``out``) for the packets that are due, in time order, and walks them on from
the root's successor.

A pull element declares three numba functions over its state ``s``; the schedule
module generates, per pull tree, the code that composes them (see its docstring):

- ``ready(s) -> int64``: the earliest time (ns) at which a pull may pass this element
  (a shaper's token bucket), or ``UNSET`` for "now";
- ``order(s, a, m) -> int``: which of the ``m`` inputs to try at attempt ``a`` (0..m-1)
  -- strict priority tries ``a``, round robin starts after the last input served;
- ``took(s, b, j, k, t)``: a packet pulled from input ``k`` left at time ``t`` and is
  now row ``j`` of batch ``b`` (a shaper charges its tokens, round robin moves on).

``pull_role`` says where the element sits: ``"pull"`` (pull in, pull out: schedulers,
shapers) or ``"unqueue"`` (pull in, push out). ``Queue`` is the ``"store"`` (push in,
pull out) and declares ``head_time``/``pop`` instead.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from elements.element import Element, drop
from elements.jit import inlined
from elements.shaper.tokenbucket import UNSET


@inlined
def pushed_kernel(b, i, s, inp):
    return drop(0)


@inlined
def always_ready(s):
    return UNSET


@inlined
def in_order(s, a, m):
    return a


@inlined
def took_nothing(s, b, j, k, t):
    pass


class PullElement(Element, register=False):
    """Base of the elements with pull inputs. ``msh.schedule`` rejects a graph that
    pushes into one, so the walk never calls ``kernel``; it is there because the walk is
    generated for every element, and drops (``pushed``) rather than lose a packet."""

    ports = "1/1"
    pull_role: ClassVar[str] = "pull"
    drops = ("pushed",)
    kernel = staticmethod(pushed_kernel)
    ready = staticmethod(always_ready)
    order = staticmethod(in_order)
    took = staticmethod(took_nothing)

    def make_state(self, n_outputs: int) -> np.ndarray:
        return np.zeros(1, np.int64)
