"""HashSwitch: picks an output from a hash of a fixed byte range of the packet."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from elements.element import Element, ElementConfig
from elements.jit import inlined


@inlined
def hashswitch_kernel(b, i, s, inp):
    off = s[0]
    n_bytes = s[1]
    n = s[2]
    if b.length[i] < off + n_bytes:  # too short: output 0, as Click does
        return 0
    row = b.data[i]
    start = b.head[i] + off
    d = 0
    for k in range(start, start + n_bytes):
        d += np.int64(row[k])  # an int64 sum, also in plain Python (NumPy 2 keeps uint8)
    if n == 2 or n == 4 or n == 8:
        return (d ^ (d >> 4)) & (n - 1)
    return d % n


class HashSwitchConfig(ElementConfig):
    offset: int = Field(ge=0, le=1 << 16, description="first byte hashed, from the packet's start (Click's OFFSET)")
    length: int = Field(ge=1, le=1 << 16, description="number of bytes hashed, > 0 (Click's LENGTH)")


class HashSwitch(Element):
    """Send each packet to the output chosen by a hash of ``length`` bytes at ``offset``
    (Click's HashSwitch), so that packets with equal bytes there share an output.

    Ports: ``1/1-``: one input, any number of outputs.

    Behaviour, exactly Click's: the hash ``d`` is the sum of the bytes; with 2, 4 or 8
    outputs the output is ``(d ^ (d >> 4)) & (n - 1)``, otherwise ``d % n``. A packet
    shorter than ``offset + length`` goes to output 0. Offsets count from the packet's
    first byte (its head), not from the IP header.

    Example::

        elements:
          hs: {kind: HashSwitch, config: {offset: 16, length: 4}}
        connections:
          - in -> hs
          - hs[0] -> [0]out
          - hs[1] -> [1]out

    Counters: none (the runtime counts each output port).

    See also: RoundRobinSwitch, MaglevLB.
    """

    ports = "1/1-"
    Config = HashSwitchConfig
    reads = ("head", "length", "ether", "ip", "tcp", "icmp", "payload")
    kernel = staticmethod(hashswitch_kernel)

    def make_state(self, n_outputs: int) -> np.ndarray:
        self.ref_outputs = max(n_outputs, 1)  # for ``reference``
        return np.array([self.config.offset, self.config.length, self.ref_outputs], np.int64)

    def reference(self, pkt, inp: int) -> int:
        off, n_bytes, n = self.config.offset, self.config.length, self.ref_outputs
        if pkt.length < off + n_bytes:
            return 0
        d = sum(pkt.buf[pkt.head + off : pkt.head + off + n_bytes])
        return (d ^ (d >> 4)) & (n - 1) if n in (2, 4, 8) else d % n
