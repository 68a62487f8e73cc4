"""PaintSwitch: sends each packet to the output its paint annotation names."""

from __future__ import annotations

import numpy as np

from elements.element import Element, drop
from elements.jit import inlined

PAINT_ALL = 0xFF  # Click: copy to every output


@inlined
def paintswitch_kernel(b, i, s, inp):
    port = np.int64(b.paint[i])
    if port == PAINT_ALL:
        return drop(1)
    if port >= s[0]:
        return drop(0)
    return port


class PaintSwitch(Element):
    """Send each packet to output ``paint`` (Click's PaintSwitch).

    A paint with no output that high is dropped as ``no_output`` (Click's
    ``checked_output_push`` drops it too). A gap below the highest connected output is
    an unconnected port: the runtime counts those drops. Paint 255 means "a copy to
    every output" in Click; msh copies only in fan-out elements (Tee), so such a
    packet is dropped as ``paint_all``: put a Tee where copies are wanted.

    Ports: ``1/-``.

    Example::

        elements:
          ps: {kind: PaintSwitch}
          a: {kind: Counter}
          b: {kind: Counter}
        connections:
          - in -> ps
          - ps[0] -> a -> [0]out
          - ps[1] -> b -> [1]out

    Counters: the drop reasons ``no_output`` and ``paint_all``. See also: Paint, Tee.
    """

    ports = "1/-"
    reads = ("paint",)
    drops = ("no_output", "paint_all")
    kernel = staticmethod(paintswitch_kernel)
    n_outputs = 0  # set by make_state: the reference routes as the kernel does

    def make_state(self, n_outputs: int) -> np.ndarray:
        self.n_outputs = n_outputs
        return np.array([n_outputs], np.int64)

    def reference(self, pkt, inp: int) -> int:
        if pkt.paint == 255:
            return -2
        if pkt.paint >= self.n_outputs:
            return -1
        return pkt.paint
