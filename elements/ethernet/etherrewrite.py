"""EtherRewrite: overwrites the Ethernet destination and source addresses."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from elements.element import Element, ElementConfig, drop
from elements.jit import inlined
from elements.net import EtherAddress, ether_bytes

ADDRS_LEN = 12  # destination then source


@inlined
def etherrewrite_kernel(b, i, s, inp):
    if b.length[i] < ADDRS_LEN:
        return drop(0)
    row = b.data[i]
    h = b.head[i]
    for k in range(ADDRS_LEN):
        row[h + k] = s[k]
    return 0


class EtherRewriteConfig(ElementConfig):
    src: EtherAddress = Field(description="new source address, 00:11:22:33:44:55 (Click's SRC)")
    dst: EtherAddress = Field(description="new destination address (Click's DST)")


class EtherRewrite(Element):
    """Overwrite the first 12 bytes of every frame -- the Ethernet destination and
    source addresses -- with ``dst`` and ``src`` (Click's EtherRewrite); the type field
    and everything after it stay as they are.

    Click writes at the MAC header without a length check; a frame shorter than the 12
    bytes written is dropped as ``too_short`` instead of written past its end.

    Ports: ``1/1``.

    Example::

        elements:
          rw: {kind: EtherRewrite, config: {src: "00:11:22:33:44:55", dst: "66:77:88:99:aa:bb"}}
        connections:
          - in -> rw -> out

    Counters: the drop reason ``too_short``. See also: EtherEncap.
    """

    ports = "1/1"
    Config = EtherRewriteConfig
    reads = ("head", "length")
    writes = ("ether",)
    drops = ("too_short",)
    idempotent = True
    kernel = staticmethod(etherrewrite_kernel)

    def make_state(self, n_outputs: int) -> np.ndarray:
        addrs = ether_bytes(self.config.dst) + ether_bytes(self.config.src)
        return np.frombuffer(addrs, np.uint8).copy()

    def reference(self, pkt, inp: int) -> int:
        if pkt.length < 12:
            return -1
        c = self.config
        pkt.buf[pkt.head : pkt.head + 12] = ether_bytes(c.dst) + ether_bytes(c.src)
        return 0
