"""Paint: sets the paint annotation."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from elements.element import Element, ElementConfig
from elements.jit import inlined


@inlined
def paint_kernel(b, i, s, inp):
    b.paint[i] = s[0]
    return 0


class PaintConfig(ElementConfig):
    color: int = Field(ge=0, le=255, description="the paint value, 0-255 (Click's COLOR)")


class Paint(Element):
    """Set every packet's paint annotation to ``color`` (Click's Paint).

    Ports: ``1/1``.

    Example::

        elements:
          p: {kind: Paint, config: {color: 3}}

    See also: PaintSwitch.
    """

    ports = "1/1"
    Config = PaintConfig
    writes = ("paint",)
    idempotent = True
    kernel = staticmethod(paint_kernel)

    def cache_role(self) -> str:
        return "verdict"

    def make_state(self, n_outputs: int) -> np.ndarray:
        return np.array([self.config.color], np.uint8)

    def reference(self, pkt, inp: int) -> int:
        pkt.paint = self.config.color
        return 0
