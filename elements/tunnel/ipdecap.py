"""IPDecap: leaves an IP-in-IP tunnel: strips the outer header, checks the inner one."""

from __future__ import annotations

from elements.element import drop
from elements.jit import inlined
from elements.tunnel.outer import (
    Decap,
    enter_inner,
    enter_inner_reference,
    outer_payload,
    outer_payload_reference,
)

IPPROTO_IPIP = 4


@inlined
def ipdecap_kernel(b, i, s, inp):
    start, end = outer_payload(b, i, IPPROTO_IPIP, s)
    if start < 0:
        return drop(end)
    if not enter_inner(b, i, start, end):
        return drop(4)
    return 0


class IPDecap(Decap):
    """Strip the outer IPv4 header of an IP-in-IP packet (protocol 4) and mark the
    inner one: Click's ``StripIPHeader -> CheckIPHeader`` for tunnels, in one element.

    Needs the outer header marked (CheckIPHeader upstream). The packet is dropped as
    ``not_ip`` (no IP annotations), ``not_ipip`` (another protocol), ``fragment``
    (outer fragments: reassemble first), ``wrong_endpoint`` (outer ``src``/``dst`` differ
    from the configured ones), ``bad_inner`` (fewer than 20 inner bytes, version not 4,
    header or total length impossible). Otherwise the head moves to the inner header,
    the length becomes the inner total length (outer padding goes), and the IP
    annotations describe the inner packet; its checksum is not verified (put a
    CheckIPHeader after when the tunnel is not trusted).

    Ports: ``1/1``.

    Example::

        elements:
          chk: {kind: CheckIPHeader}
          decap: {kind: IPDecap, config: {src: 198.51.100.7, dst: 192.0.2.1}}
        connections:
          - in -> chk -> decap -> out

    Counters: the drop reasons. See also: IPEncap, GREDecap, CheckIPHeader.
    """

    drops = ("not_ip", "not_ipip", "fragment", "wrong_endpoint", "bad_inner")
    kernel = staticmethod(ipdecap_kernel)

    def make_state(self, n_outputs: int):
        return self.config.endpoints()

    def reference(self, pkt, inp: int) -> int:
        start, end = outer_payload_reference(pkt, IPPROTO_IPIP, self.config.endpoints())
        if start < 0:
            return -1 - end
        if not enter_inner_reference(pkt, start, end):
            return -1 - 4
        return 0
