"""Counter: counts packets and bytes passing through."""

from __future__ import annotations

import numpy as np

from elements.element import Element
from elements.jit import inlined


@inlined
def counter_kernel(b, i, s, inp):
    s[0] += 1
    s[1] += b.length[i]
    return 0


class Counter(Element):
    """Count packets and bytes, then pass each packet on unchanged (Click's Counter).

    Ports: ``1/1``.

    Example::

        elements:
          cnt: {kind: Counter}

    Counters: ``count`` (packets), ``byte_count`` (bytes). See also: Discard.
    """

    ports = "1/1"
    reads = ("length",)
    state_kind = "global"
    kernel = staticmethod(counter_kernel)

    def make_state(self, n_outputs: int) -> np.ndarray:
        return np.zeros(2, np.int64)

    def counters(self, state: np.ndarray) -> dict[str, int]:
        return {"count": int(state[0]), "byte_count": int(state[1])}

    def reference(self, pkt, inp: int) -> int:
        self.ref_count = getattr(self, "ref_count", 0) + 1
        return 0
