"""Compiler passes: each module is one pure ``run(graph) -> graph``, applied in order.

The chain is first composed into one graph (``compose_chain``); the pipeline below then
rewrites it. ``PIPELINE`` is the one list that says the order.
"""

from __future__ import annotations

from msh.passes import cache_flows, cancel_encap, hoist_front, remove_dead, remove_repeated

PIPELINE = [
    remove_dead,  # drop elements no packet can reach
    cancel_encap,  # Unstrip(n) -> Strip(n) between middleboxes is the identity
    remove_repeated,  # a second idempotent element with nothing written since
    remove_dead,  # what the removals above cut off
    hoist_front,  # the longest safe front goes to the hypervisor stage
    cache_flows,  # per-flow decisions of the flow-deterministic region, cached
]
