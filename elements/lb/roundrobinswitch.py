"""RoundRobinSwitch: sends packets to its outputs in turn."""

from __future__ import annotations

import numpy as np

from elements.element import Element
from elements.jit import inlined


@inlined
def roundrobinswitch_kernel(b, i, s, inp):
    out = s[0]
    nxt = out + 1
    s[0] = 0 if nxt >= s[1] else nxt
    return out


class RoundRobinSwitch(Element):
    """Send each packet to the next output in turn, 0, 1, ..., n-1, 0, ... (Click's
    RoundRobinSwitch): the simplest load balancer, blind to flows.

    Ports: ``1/1-``: one input, any number of outputs.

    Behaviour: the first packet goes to output 0; the turn is kept across batches.

    Example::

        elements:
          rr: {kind: RoundRobinSwitch}
        connections:
          - in -> rr
          - rr[0] -> [0]out
          - rr[1] -> [1]out

    Counters: ``next`` (the output the next packet takes).

    See also: HashSwitch, MaglevLB.
    """

    ports = "1/1-"
    state_kind = "global"
    kernel = staticmethod(roundrobinswitch_kernel)

    def make_state(self, n_outputs: int) -> np.ndarray:
        self.ref_outputs, self.ref_next = max(n_outputs, 1), 0  # for ``reference``
        return np.array([0, self.ref_outputs], np.int64)

    def counters(self, state: np.ndarray) -> dict[str, int]:
        return {"next": int(state[0])}

    def reference(self, pkt, inp: int) -> int:
        out = self.ref_next
        self.ref_next = 0 if out + 1 >= self.ref_outputs else out + 1
        return out
