"""L4Gateway: a full-proxy style double NAT that relays client connections to a backend."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from pydantic import Field, model_validator

from elements.element import Element, ElementConfig, drop
from elements.flowtable import (
    FlowTable,
    flowtable_counters,
    ft_insert,
    ft_lookahead,
    ft_lookup,
    ft_remove,
    ft_set_expiry,
    make_flowtable,
    worth_lookahead,
    zeroed,
)
from elements.jit import inlined
from elements.lb.l4rewrite import (
    L4_OK,
    l4_status,
    ref_l4_status,
    ref_rehash,
    ref_set_field,
    rehash,
    set_daddr,
    set_dport,
    set_saddr,
    set_sport,
)
from elements.net import IPv4Address, flow_hash5, ipv4_int

FORWARD, REVERSE = 1, 2
# Indices into ``GatewayState.cfg``.
C_VIP, C_VPORT, C_GW, C_BACKEND, C_BPORT, C_PORT_LOW, C_TIMEOUT = range(7)
D_NOT_FOR_VIP, D_NO_PORT, D_FULL, D_CONFLICT, D_NO_FLOW = 4, 5, 6, 7, 8


class L4GatewayConfig(ElementConfig):
    vip: IPv4Address = Field(description="the gateway address clients connect to")
    vport: int = Field(ge=1, le=65535, description="the port clients connect to")
    backend: IPv4Address = Field(description="the server connections are relayed to")
    backend_port: int | None = Field(None, ge=1, le=65535,
                                     description="the server's port; unset: vport")
    source: IPv4Address | None = Field(None, description="the gateway's own address toward"
                                       " the backend; unset: vip")
    port_low: int = Field(1024, ge=1, le=65535, description="first source port the gateway"
                          " uses toward the backend")
    port_high: int = Field(65535, ge=1, le=65535, description="last such source port")
    capacity: int = Field(65536, ge=1, le=1 << 24, description="connections tracked at once")
    timeout: float = Field(300.0, gt=0, description="seconds of packet time an idle"
                           " connection lives")

    @model_validator(mode="after")
    def _range(self) -> L4GatewayConfig:
        if self.port_low > self.port_high:
            raise ValueError(f"port_low ({self.port_low}) is above port_high ({self.port_high})")
        return self


class GatewayState(NamedTuple):
    cfg: np.ndarray  # int64: vip, vport, source, backend, backend port, port_low, timeout ns
    ft: FlowTable
    kind: np.ndarray  # uint8[slots]: FORWARD (client side) or REVERSE (backend side)
    gport: np.ndarray  # int32[slots]: the connection's gateway port
    c_addr: np.ndarray  # uint32[slots]: reverse entry: the client's address
    c_port: np.ndarray  # int32[slots]: reverse entry: the client's port
    peer: np.ndarray  # int64[slots]: the other direction's slot
    port_exp: np.ndarray  # int64[ports]: expiry of the connection using port_low + j
    cursor: np.ndarray  # int64[1]: where the search for a free port starts
    stats: np.ndarray  # int64[2]: connections, packets relayed back


@inlined
def _refresh(s, k, expiry):
    ft_set_expiry(s.ft, k, expiry)
    ft_set_expiry(s.ft, s.peer[k], expiry)
    s.port_exp[s.gport[k] - s.cfg[C_PORT_LOW]] = expiry


@inlined
def _free_port(s, now):
    """Index of a port whose last connection has expired (round robin), or -1."""
    n = s.port_exp.shape[0]
    c = s.cursor[0]
    for j in range(n):
        p = c + j
        if p >= n:
            p -= n
        if s.port_exp[p] < now:
            s.cursor[0] = p + 1 if p + 1 < n else 0
            return p
    return -1


@inlined
def l4gateway_kernel(b, i, s, inp):
    st = l4_status(b, i, False)
    if st != L4_OK:
        return drop(st - 1)
    now = b.timestamp[i]
    expiry = now + s.cfg[C_TIMEOUT]
    ft = s.ft
    k = ft_lookup(ft, b.flow_hash[i], b.saddr[i], b.daddr[i], b.sport[i], b.dport[i],
                  b.proto[i], now)
    if inp == 1:  # from the backend, back to its client
        if k < 0 or s.kind[k] != REVERSE:
            return drop(D_NO_FLOW)
        _refresh(s, k, expiry)
        s.stats[1] += 1
        set_saddr(b, i, np.uint32(s.cfg[C_VIP]))
        set_sport(b, i, np.uint32(s.cfg[C_VPORT]))
        set_daddr(b, i, s.c_addr[k])
        set_dport(b, i, np.uint32(s.c_port[k]))
        rehash(b, i)
        return 1
    if b.daddr[i] != s.cfg[C_VIP] or b.dport[i] != s.cfg[C_VPORT]:
        return drop(D_NOT_FOR_VIP)
    if k >= 0:
        if s.kind[k] != FORWARD:
            return drop(D_CONFLICT)
        _refresh(s, k, expiry)
        gport = s.gport[k]
    else:
        p = _free_port(s, now)
        if p < 0:
            return drop(D_NO_PORT)
        gport = np.int32(s.cfg[C_PORT_LOW] + p)
        gw = np.uint32(s.cfg[C_GW])
        backend = np.uint32(s.cfg[C_BACKEND])
        bport = np.uint16(s.cfg[C_BPORT])
        proto = b.proto[i]
        k = ft_insert(ft, b.flow_hash[i], b.saddr[i], b.daddr[i], b.sport[i], b.dport[i],
                      proto, now, expiry)
        if k < 0:
            return drop(D_FULL)
        rh = flow_hash5(backend, gw, bport, gport, proto)
        r = ft_insert(ft, rh, backend, gw, bport, np.uint16(gport), proto, now, expiry)
        if r < 0:
            ft_remove(ft, k)
            return drop(D_FULL)
        s.kind[k] = FORWARD
        s.kind[r] = REVERSE
        s.gport[k] = gport
        s.gport[r] = gport
        s.peer[k] = r
        s.peer[r] = k
        s.c_addr[r] = b.saddr[i]
        s.c_port[r] = b.sport[i]
        s.port_exp[p] = expiry
        s.stats[0] += 1
    set_saddr(b, i, np.uint32(s.cfg[C_GW]))
    set_sport(b, i, np.uint32(gport))
    set_daddr(b, i, np.uint32(s.cfg[C_BACKEND]))
    set_dport(b, i, np.uint32(s.cfg[C_BPORT]))
    rehash(b, i)
    return 0


class L4Gateway(Element):
    """Relay TCP/UDP connections made to ``vip:vport`` to a backend server, rewriting
    both ends as a full proxy would at L4: the backend sees the gateway, not the client.

    Ports: ``2/2``. Input 0: packets from clients, leave on output 0 toward the backend.
    Input 1: packets from the backend, leave on output 1 toward clients.

    Behaviour: packets need IP annotations (CheckIPHeader before it). A client packet
    to ``vip:vport`` becomes ``source:gport -> backend:backend_port``, where ``gport``
    is a gateway port given to the connection when its first packet arrives (searched
    round robin in ``port_low..port_high`` among ports whose connection has expired).
    The connection is tracked both ways; a backend packet to ``source:gport`` of a
    tracked connection becomes ``vip:vport -> client:port``. Everything else in the
    packet is relayed unmodified; the IP and TCP/UDP checksums are updated
    incrementally and the 5-tuple annotations and ``flow_hash`` follow. A connection
    expires ``timeout`` seconds of packet time after its last packet either way, and
    then frees its port. Fragments are dropped (only the first has ports).

    Example::

        elements:
          gw:
            kind: L4Gateway
            config: {vip: 203.0.113.1, vport: 443, backend: 10.0.0.10, source: 10.0.0.1}
          mark: {kind: MarkIPHeader}
          mark_replies: {kind: MarkIPHeader}
        connections:
          - in -> mark -> gw -> out
          - in[1] -> mark_replies -> [1]gw[1] -> [1]out

    Counters: ``connections`` (opened), ``relayed_back`` (backend packets), the flow
    table's ``inserts``, ``insert_failures``, ``expired``; drop reasons ``not_ip``,
    ``not_tcp_udp``, ``fragment``, ``truncated``, ``not_for_vip``, ``no_port`` (every
    gateway port busy), ``table_full``, ``tuple_conflict``, ``no_flow`` (a backend
    packet of no tracked connection).

    See also: MaglevLB, StatefulFirewall.
    """

    ports = "2/2"
    Config = L4GatewayConfig
    reads = ("ip", "l3", "l4", "flags", "proto", "saddr", "daddr", "sport", "dport",
             "flow_hash", "timestamp", "head", "length")
    writes = ("ip.src", "ip.dst", "ip.sum", "l4.ports", "tcp.sum", "udp.sum", "saddr",
              "daddr", "sport", "dport", "flow_hash")
    state_kind = "per-flow"
    keeps_ip_valid = True  # addresses and ports rewritten with incremental checksums
    drops = ("not_ip", "not_tcp_udp", "fragment", "truncated", "not_for_vip", "no_port",
             "table_full", "tuple_conflict", "no_flow")
    kernel = staticmethod(l4gateway_kernel)
    lookahead = staticmethod(ft_lookahead)

    def looks_ahead(self) -> bool:
        """Its table (two entries a connection) is too big to stay cached."""
        return worth_lookahead(2 * self.config.capacity)

    def make_state(self, n_outputs: int) -> GatewayState:
        c = self.config
        ft = make_flowtable(2 * c.capacity)
        slots = ft.rec.shape[0]
        self.ref = {"conns": {}, "ports": {}, "cursor": 0}  # ``reference`` starts afresh too
        return GatewayState(
            cfg=np.array([ipv4_int(c.vip), c.vport, ipv4_int(c.source or c.vip),
                          ipv4_int(c.backend), c.backend_port or c.vport, c.port_low,
                          int(c.timeout * 1e9)], np.int64),
            ft=ft, kind=zeroed(slots, np.uint8), gport=zeroed(slots, np.int32),
            c_addr=zeroed(slots, np.uint32), c_port=zeroed(slots, np.int32),
            peer=zeroed(slots, np.int64),
            port_exp=np.full(c.port_high - c.port_low + 1, -1, np.int64),
            cursor=np.zeros(1, np.int64), stats=np.zeros(2, np.int64))

    def counters(self, state: GatewayState) -> dict[str, int]:
        return {"connections": int(state.stats[0]), "relayed_back": int(state.stats[1]),
                **flowtable_counters(state.ft)}

    def reference(self, pkt, inp: int) -> int:
        """Plain Python over dicts (assumes the flow table never fills)."""
        c = self.config
        r = self.ref
        st = ref_l4_status(pkt, False)
        if st:
            return -st
        now, expiry = pkt.timestamp, pkt.timestamp + int(c.timeout * 1e9)
        vip, gw, backend = ipv4_int(c.vip), ipv4_int(c.source or c.vip), ipv4_int(c.backend)
        bport = c.backend_port or c.vport
        key = (pkt.saddr, pkt.daddr, pkt.sport, pkt.dport, pkt.proto)
        e = r["conns"].get(key)
        if e is not None and e["expiry"] < now:
            e = None
        if inp == 1:
            if e is None or e["kind"] != REVERSE:
                return drop(D_NO_FLOW)
            self._ref_refresh(e, expiry)
            for name, value in (("saddr", vip), ("sport", c.vport), ("daddr", e["client"]),
                                ("dport", e["cport"])):
                ref_set_field(pkt, name, value)
            ref_rehash(pkt)
            return 1
        if pkt.daddr != vip or pkt.dport != c.vport:
            return drop(D_NOT_FOR_VIP)
        if e is not None:
            if e["kind"] != FORWARD:
                return drop(D_CONFLICT)
            self._ref_refresh(e, expiry)
        else:
            n = c.port_high - c.port_low + 1
            p = next((q for q in ((r["cursor"] + j) % n for j in range(n))
                      if r["ports"].get(q, -1) < now), None)
            if p is None:
                return drop(D_NO_PORT)
            r["cursor"] = (p + 1) % n
            gport = c.port_low + p
            e = {"kind": FORWARD, "gport": gport, "expiry": expiry}
            rev = {"kind": REVERSE, "gport": gport, "expiry": expiry, "client": pkt.saddr,
                   "cport": pkt.sport, "peer": e}
            e["peer"] = rev
            r["conns"][key] = e
            r["conns"][(backend, gw, bport, gport, pkt.proto)] = rev
            r["ports"][p] = expiry
        for name, value in (("saddr", gw), ("sport", e["gport"]), ("daddr", backend),
                            ("dport", bport)):
            ref_set_field(pkt, name, value)
        ref_rehash(pkt)
        return 0

    def _ref_refresh(self, e: dict, expiry: int) -> None:
        e["expiry"] = e["peer"]["expiry"] = expiry
        self.ref["ports"][e["gport"] - self.config.port_low] = expiry
