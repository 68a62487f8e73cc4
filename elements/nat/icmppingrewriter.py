"""ICMPPingRewriter: Click's NAT for ICMP echo requests and replies."""

from __future__ import annotations

from pydantic import Field

from elements.element import drop
from elements.jit import inlined
from elements.nat.iprewriter import ip_transport
from elements.nat.mapping import (
    RW_DPORT,
    RW_L4D,
    RW_OUT,
    RW_SPORT,
    advance_clock,
    mapping_lookup,
    new_mapping,
    rewrite_addresses,
    slot_dir,
    slot_flow,
    touch,
)
from elements.nat.rewriterbase import (
    MAPPING_FAILURE,
    NO_IP_HEADER,
    NO_MAPPING,
    UNHANDLED,
    Rewriter,
    RewriterConfig,
)
from elements.nat.rewriterspec import DROP, PASS
from elements.net import IP_PROTO_ICMP, add_delta, flow_hash5, rd16, rd32, wr16

ICMP_ECHOREPLY, ICMP_ECHO = 0, 8


@inlined
def icmppingrewriter_kernel(b, i, s, inp):
    l3, hl, end, proto, first = ip_transport(b, i)
    if hl == 0:
        return drop(NO_IP_HEADER)
    spec = inp if inp < s.inp.shape[0] else s.inp.shape[0] - 1
    kind = s.inp[spec, 0]
    l4 = l3 + hl
    row = b.data[i]
    if proto != IP_PROTO_ICMP or not first or end - l4 < 6 or (
            row[l4] != ICMP_ECHO and row[l4] != ICMP_ECHOREPLY):
        if kind == PASS:
            return s.inp[spec, 1]
        return drop(UNHANDLED)
    echo = row[l4] == ICMP_ECHO
    ident = rd16(row, l4 + 4)
    # Click's flow id: (src, id + !echo, dst, id + echo), so a reply finds the reverse
    sp = (ident + (0 if echo else 1)) & 0xFFFF
    dp = (ident + (1 if echo else 0)) & 0xFFFF
    sa = rd32(row, l3 + 12)
    da = rd32(row, l3 + 16)
    now = b.timestamp[i]
    advance_clock(s, now)
    k = mapping_lookup(s, flow_hash5(sa, da, sp, dp, proto), sa, da, sp, dp, proto, now)
    if k < 0:
        if kind == PASS:
            return s.inp[spec, 1]
        if kind == DROP or not echo:
            return drop(NO_MAPPING)
        k = new_mapping(s, spec, proto, True, sa, da, sp, dp, now)
        if k < 0:
            return drop(MAPPING_FAILURE)
    f = slot_flow(s, k)
    d = slot_dir(s, k)
    rw = s.f_rw[f, d]
    rewrite_addresses(b, i, s, l3, rw)
    wr16(row, l4 + 4, rw[RW_SPORT] if d == 0 else rw[RW_DPORT])
    wr16(row, l4 + 2, add_delta(rd16(row, l4 + 2), rw[RW_L4D]))
    b.flow_hash[i] = flow_hash5(b.saddr[i], b.daddr[i], b.sport[i], b.dport[i], proto)
    touch(s, f, now)
    return rw[RW_OUT]


class ICMPPingRewriterConfig(RewriterConfig):
    timeout: float = Field(300, gt=0, description="Click's TIMEOUT (s): idle timeout")
    guarantee: float = Field(5, ge=0, description="Click's GUARANTEE (s)")


class ICMPPingRewriter(Rewriter):
    """Rewrite ICMP echo requests and their replies: ping through a NAT (Click's
    ICMPPingRewriter).

    Ports: ``1-/1-``: one input per entry of ``inputs``; outputs as the specs name.

    An echo request without a mapping gets one from its input's spec, as IPRewriter's
    (``pattern SADDR ID DADDR - FOUT ROUT``: the ``SPORT`` field is the ICMP
    identifier, so ``1-65535#`` allocates identifiers); the request's addresses and
    identifier are rewritten, and the reply (matched on any input by addresses and
    identifier) is rewritten back and leaves by the reply output. IP and ICMP
    checksums are updated incrementally, with the ``saddr``/``daddr``/``flow_hash``
    (and ``dst_anno``) annotations. A reply without a mapping, any other ICMP type,
    another protocol, a non-first fragment or fewer than 6 ICMP bytes pass on a ``pass``
    input and are dropped elsewhere, as in Click. Identifiers are unique per reply
    flow (Click checks a key that misses the identifier + 1 of ICMP replies; msh checks
    the reply's real key).

    Example::

        elements:
          ping:
            kind: ICMPPingRewriter
            config: {inputs: ["pattern 198.51.100.1 1-65535# - - 0 1"]}
        connections:
          - in -> ping -> out
          - ping[1] -> [1]out

    Counters: ``nmappings``, ``mapping_failures``, ``size``, ``capacity``,
    ``table_insert_failures``; drops ``no_ip_header``, ``unhandled``, ``no_mapping``,
    ``mapping_failure``.
    See also: IPRewriter.
    """

    Config = ICMPPingRewriterConfig
    icmp = True
    reads = ("ip", "icmp", "l3", "timestamp")
    writes = ("ip.src", "ip.dst", "ip.sum", "icmp", "saddr", "daddr", "flow_hash", "dst_anno")
    kernel = staticmethod(icmppingrewriter_kernel)

    def timeouts(self) -> list[list[float]]:
        t, g = self.config.timeout, self.config.guarantee
        return [[t, t, t, g]] * 3
