"""IPRewriter: Click's TCP/UDP network address and port translator."""

from __future__ import annotations

from pydantic import Field

from elements.element import drop
from elements.flowtable import ft_find, ft_lookahead
from elements.jit import inlined
from elements.nat.mapping import (
    F_STATE,
    HANDLE_BITS,
    M_LAST,
    RW_DPORT,
    RW_HASH,
    RW_L4D,
    RW_OUT,
    RW_SPORT,
    T_DEAD,
    advance_clock,
    handle_mapping,
    mapping_handle,
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
from elements.net import (
    IP_PROTO_TCP,
    IP_PROTO_UDP,
    add_delta,
    flow_hash5,
    ip_room,
    rd16,
    rd32,
    tuple_hash,
    wr16,
)
from elements.prefetch import prefetch

TH_FIN, TH_SYN, TH_RST = 0x01, 0x02, 0x04


@inlined
def ip_transport(b, i):
    """(l3, header length, end of the IP packet, protocol, first fragment?) of row ``i``,
    or a header length of 0 when there is no whole IPv4 header at ``l3``."""
    room = ip_room(b, i)
    l3 = b.l3[i]
    if room < 20:
        return l3, 0, 0, 0, False
    row = b.data[i]
    hl = (row[l3] & 0x0F) * 4
    if hl < 20 or hl > room:
        return l3, 0, 0, 0, False
    end = l3 + room
    ip_len = rd16(row, l3 + 2)
    end = min(end, l3 + ip_len)  # Click's CheckIPHeader trims the packet to ip_len
    return l3, hl, end, row[l3 + 9], (rd16(row, l3 + 6) & 0x1FFF) == 0


@inlined
def update_state(b, i, s, f, d, proto, l3, hl, l4):
    """Click's per-flow state after packet ``i`` (direction ``d``): UDP counts packets
    and notes a reply; TCP notes FIN, RST, SYN and payload per direction."""
    state = s.f_rec[f, F_STATE]
    row_flags = b.data[i, l4 + 13]
    if proto == IP_PROTO_UDP:
        if d:  # Click's UDPFlow: reply seen, packets counted up to 3
            state |= 1
        if state < 6:
            state += 2
    else:
        have_payload = hl + (b.data[i, l4 + 12] >> 4) * 4 < rd16(b.data[i], l3 + 2)
        if row_flags & TH_RST:
            state |= 3
        elif row_flags & TH_FIN:
            state |= 1 << d
        elif (row_flags & TH_SYN) or have_payload:
            state &= ~(1 << d)
        if have_payload:
            state |= 4 << d
    s.f_rec[f, F_STATE] = state


@inlined
def iprewriter_kernel(b, i, s, inp):
    s.misc[M_LAST] = -1
    l3, hl, end, proto, first = ip_transport(b, i)
    if hl == 0:
        return drop(NO_IP_HEADER)
    spec = inp if inp < s.inp.shape[0] else s.inp.shape[0] - 1
    kind = s.inp[spec, 0]
    l4 = l3 + hl
    if (proto != IP_PROTO_TCP and proto != IP_PROTO_UDP) or not first or end - l4 < 8:
        if kind == PASS:
            return s.inp[spec, 1]
        return drop(UNHANDLED)
    row = b.data[i]
    sa = rd32(row, l3 + 12)
    da = rd32(row, l3 + 16)
    sp = rd16(row, l4)
    dp = rd16(row, l4 + 2)
    now = b.timestamp[i]
    advance_clock(s, now)
    k = mapping_lookup(s, tuple_hash(b, i, sa, da, sp, dp, proto), sa, da, sp, dp, proto, now)
    if k < 0:
        if kind == PASS:
            return s.inp[spec, 1]
        if kind == DROP:
            return drop(NO_MAPPING)
        k = new_mapping(s, spec, proto, False, sa, da, sp, dp, now)
        if k < 0:
            return drop(MAPPING_FAILURE)
    f = slot_flow(s, k)
    d = slot_dir(s, k)
    rw = s.f_rw[f, d]
    rewrite_addresses(b, i, s, l3, rw)
    if proto == IP_PROTO_UDP:
        wr16(row, l4, rw[RW_SPORT])
        wr16(row, l4 + 2, rw[RW_DPORT])
        check = rd16(row, l4 + 6)
        if check != 0:  # 0 is "no checksum" and stays so
            check = add_delta(check, rw[RW_L4D])
            wr16(row, l4 + 6, check if check != 0 else 0xFFFF)
        b.sport[i] = rw[RW_SPORT]
        b.dport[i] = rw[RW_DPORT]
        b.flow_hash[i] = rw[RW_HASH]
        update_state(b, i, s, f, d, proto, l3, hl, l4)
    elif end - l4 >= 18:  # as Click, a TCP header without its checksum keeps its ports
        wr16(row, l4, rw[RW_SPORT])
        wr16(row, l4 + 2, rw[RW_DPORT])
        wr16(row, l4 + 16, add_delta(rd16(row, l4 + 16), rw[RW_L4D]))
        b.sport[i] = rw[RW_SPORT]
        b.dport[i] = rw[RW_DPORT]
        b.flow_hash[i] = rw[RW_HASH]
        update_state(b, i, s, f, d, proto, l3, hl, l4)
    else:
        b.flow_hash[i] = flow_hash5(b.saddr[i], b.daddr[i], b.sport[i], b.dport[i], proto)
    touch(s, f, now)
    s.misc[M_LAST] = mapping_handle(s, f, d)
    return rw[RW_OUT]


@inlined
def iprewriter_slot_of(s):
    """The decision cache's handle on the mapping the last packet used, -1 for none
    (``mapping_handle``)."""
    return s.misc[M_LAST]


@inlined
def iprewriter_touch(s, h, b, i):
    """What the kernel does to mapping state for a packet of the flow of handle ``h``
    that the decision cache serves (a TCP/UDP first fragment with its whole header):
    the flow's state (FIN, RST, payload) and clocks. -1 when the mapping is gone (it
    died, or was destroyed). Reads and writes the mapping's record alone."""
    now = b.timestamp[i]
    f, d = handle_mapping(s, h, now)
    if f < 0:
        return -1
    l3 = b.l3[i]
    hl = (b.data[i, l3] & 0x0F) * 4
    advance_clock(s, now)
    update_state(b, i, s, f, d, b.proto[i], l3, hl, l3 + hl)
    touch(s, f, now)
    return s.f_rec[f, T_DEAD] - 1


@inlined
def iprewriter_prefetch(s, h):
    """Start fetching what ``iprewriter_touch`` reads: the mapping's record."""
    prefetch(s.f_rec, h & ((1 << HANDLE_BITS) - 1))


@inlined
def iprewriter_lookahead_found(b, i, s, inp):
    """Find row ``i``'s mapping (its slot is fetched) and start fetching its record."""
    k = ft_find(s.ft, b.flow_hash[i], b.saddr[i], b.daddr[i], b.sport[i], b.dport[i],
                b.proto[i])
    if k >= 0:
        f = slot_flow(s, k)
        prefetch(s.f_rec, f)
        prefetch(s.f_rw, f)


class IPRewriterConfig(RewriterConfig):
    tcp_timeout: float = Field(86400, gt=0, description=(
        "Click's TCP_TIMEOUT (s): idle timeout of a TCP flow with data both ways"))
    tcp_done_timeout: float = Field(240, gt=0, description=(
        "Click's TCP_DONE_TIMEOUT (s): after FIN both ways or an RST"))
    tcp_nodata_timeout: float = Field(300, gt=0, description=(
        "Click's TCP_NODATA_TIMEOUT (s): before data has gone both ways"))
    tcp_guarantee: float = Field(5, ge=0, description=(
        "Click's TCP_GUARANTEE (s): a flow this recently active is never evicted"))
    udp_timeout: float = Field(300, gt=0, description="Click's UDP_TIMEOUT (s)")
    udp_streaming_timeout: float | None = Field(None, gt=0, description=(
        "Click's UDP_STREAMING_TIMEOUT (s), once replies flow and 3 packets passed;"
        " default udp_timeout"))
    udp_guarantee: float = Field(5, ge=0, description="Click's UDP_GUARANTEE (s)")


class IPRewriter(Rewriter):
    """Rewrite TCP and UDP flows by input spec: source NAT, NAPT, load balancing (Click's
    IPRewriter).

    Ports: ``1-/1-``: one input per entry of ``inputs`` (an input beyond them uses the
    last spec); outputs as the specs name.

    A packet of a flow that has a mapping is rewritten by it: addresses, ports, the IP
    and TCP/UDP checksums (incrementally; a UDP checksum of 0 stays 0) and the
    ``saddr``/``daddr``/``sport``/``dport``/``flow_hash`` (and ``dst_anno``)
    annotations, then leaves by the mapping's output. A mapping has a forward entry
    and a reply entry in the flow table, so replies arriving on any input are rewritten
    back and leave by the reply output. A packet without a mapping is handled by its
    input's spec (see ``elements.nat.rewriterspec``): ``pattern`` picks a source port
    from the range unique per reply 5-tuple (the flow's own port when free, else random
    from ``seed``; ``#`` sequential), ``keep`` maps without rewriting, ``pass`` sends
    it on unchanged, ``drop`` drops it. As in Click, packets that are not TCP/UDP, are
    non-first fragments or hold fewer than 8 transport bytes pass on a ``pass`` input
    and are dropped elsewhere; a TCP packet with fewer than 18 gets its addresses but
    not its ports rewritten. Flows expire in packet time (``b.timestamp``) with Click's
    timeouts and guarantees, and ``capacity`` evicts as Click's MAPPING_CAPACITY does
    (``elements.nat.mapping``).

    Example::

        elements:
          nat:
            kind: IPRewriter
            config:
              inputs: ["pattern 198.51.100.1 1024-65535 - - 0 1", "drop"]
              capacity: 100000
        connections:
          - in -> nat -> out
          - in[1] -> [1]nat[1] -> [1]out

    Counters: ``nmappings``, ``mapping_failures``, ``size``, ``capacity``,
    ``table_insert_failures``; drops ``no_ip_header``, ``unhandled`` (not TCP/UDP, a
    fragment or short, on a non-pass input), ``no_mapping`` (a ``drop`` input),
    ``mapping_failure`` (ports exhausted or capacity refused).
    See also: ICMPPingRewriter, CheckIPHeader, elements.flowtable.
    """

    Config = IPRewriterConfig
    icmp = False
    reads = ("ip", "tcp", "udp", "l3", "timestamp")
    writes = ("ip.src", "ip.dst", "ip.sum", "l4.ports", "tcp.sum", "udp.sum", "saddr",
              "daddr", "sport", "dport", "flow_hash", "dst_anno")
    keeps_ip_valid = True  # addresses and ports rewritten with incremental checksums
    kernel = staticmethod(iprewriter_kernel)
    slot_of = staticmethod(iprewriter_slot_of)
    touch = staticmethod(iprewriter_touch)
    prefetch = staticmethod(iprewriter_prefetch)
    lookahead = staticmethod(ft_lookahead)
    lookahead_found = staticmethod(iprewriter_lookahead_found)

    def cache_role(self) -> str:
        """A mapping: once made, every packet of the flow is rewritten the same way."""
        return "mapping"

    def timeouts(self) -> list[list[float]]:
        c = self.config
        udp_stream = c.udp_timeout if c.udp_streaming_timeout is None else c.udp_streaming_timeout
        return [[c.tcp_nodata_timeout, c.tcp_timeout, c.tcp_done_timeout, c.tcp_guarantee],
                [c.udp_timeout, udp_stream, c.udp_timeout, c.udp_guarantee],
                [c.udp_timeout, c.udp_timeout, c.udp_timeout, c.udp_guarantee]]
