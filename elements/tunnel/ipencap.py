"""IPEncap: wraps each packet in an outer IPv4 header (IP-in-IP and friends)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from elements.element import Element, drop
from elements.jit import inlined
from elements.tunnel.outer import TunnelConfig, encap_params, push_ipv4, push_ipv4_reference


@inlined
def ipencap_kernel(b, i, s, inp):
    params, ident = s
    l3 = push_ipv4(b, i, params, ident[0], 0)
    if l3 < 0:
        return drop(-1 - l3)
    ident[0] += 1
    return 0


class IPEncapConfig(TunnelConfig):
    proto: int = Field(ge=0, le=255, description="outer protocol: 4 for IP-in-IP (Click's PROTO)")


class IPEncap(Element):
    """Prepend an IPv4 header ``src -> dst`` with protocol ``proto`` (Click's IPEncap).

    As in Click: version 4, header length 20, TOS ``tos``, total length = the new
    packet length, ID from a per-element counter starting at 0, no fragment offset
    (DF when ``df``), TTL ``ttl`` (250), the header checksum computed, the
    destination annotation set to ``dst`` and the IP header annotations set to the new
    header (so ``l4`` points at the inner packet). The head moves back 20 bytes into the
    slot's headroom. With ``proto: 4`` this is an IP-in-IP (RFC 2003) tunnel entry.

    ``mtu`` (not in Click, where an IPFragmenter follows): a packet that would be
    longer than ``mtu`` once encapsulated is dropped as ``too_big``, whatever its DF
    bit; the sender learns nothing (no ICMP), so set the inner MTU accordingly.

    Ports: ``1/1``.

    Example::

        elements:
          chk: {kind: CheckIPHeader}
          vpn: {kind: IPEncap, config: {proto: 4, src: 192.0.2.1, dst: 198.51.100.7, mtu: 1500}}
        connections:
          - in -> chk -> vpn -> out

    Counters: drop reasons ``too_big``, ``no_headroom`` (only after 108 bytes of
    other encapsulation). See also: IPDecap, GREEncap, CheckIPHeader.
    """

    ports = "1/1"
    Config = IPEncapConfig
    reads = ("head", "length")
    writes = ("ip", "head", "length", "l3", "l4", "flags", "proto", "saddr", "daddr", "sport",
              "dport", "flow_hash", "dst_anno")
    state_kind = "global"  # the ID counter
    drops = ("too_big", "no_headroom")
    kernel = staticmethod(ipencap_kernel)

    def make_state(self, n_outputs: int) -> tuple:
        self.ref_ident = 0
        return encap_params(self.config.proto, self.config), np.zeros(1, np.int64)

    def reference(self, pkt, inp: int) -> int:
        l3 = push_ipv4_reference(pkt, encap_params(self.config.proto, self.config),
                                 self.ref_ident, 0)
        if l3 < 0:
            return l3  # drop(0) too_big is -1, drop(1) no_headroom is -2
        self.ref_ident += 1
        return 0
