"""MaglevLB: an L4 load balancer; new flows pick a backend by Maglev hashing, then stick."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from pydantic import Field, field_validator, model_validator

from elements.element import Element, ElementConfig, drop
from elements.flowtable import (
    FlowTable,
    flowtable_counters,
    ft_home,
    ft_insert,
    ft_live,
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
from elements.lb.maglev import build_table, is_prime
from elements.net import IPv4Address, flow_hash5, ipv4_int
from elements.prefetch import prefetch

FORWARD, REVERSE = 1, 2
# Indices into ``MaglevState.cfg``.
C_VIP, C_VPORT, C_TIMEOUT, C_NBACKENDS, C_VMASK = 0, 1, 2, 3, 4
# Indices into ``MaglevState.stats``.
S_NEW, S_STUCK, S_REPLIES = 0, 1, 2


class Backend(ElementConfig):
    addr: IPv4Address = Field(description="the backend's IPv4 address")
    port: int | None = Field(None, ge=1, le=65535,
                             description="destination port toward it; unset keeps the client's")
    weight: int = Field(1, ge=0, le=10_000,
                        description="relative share of new flows; 0 drains the backend")


class MaglevLBConfig(ElementConfig):
    vip: IPv4Address = Field(description="the virtual IP address clients connect to")
    vip_prefix: int = Field(32, ge=0, le=32, description="serve every address of vip/prefix"
                            " (a virtual network; replies get back the address they were sent to)")
    vport: int | None = Field(None, ge=1, le=65535,
                              description="the service port; unset balances every port")
    backends: list[Backend] = Field(min_length=1, description="the backend servers")
    table_size: int = Field(65537, ge=7, le=(1 << 24) - 3,
                            description="Maglev lookup table size, a prime (>= 100 x backends is best)")
    capacity: int = Field(65536, ge=1, le=1 << 24, description="concurrent flows tracked")
    timeout: float = Field(300.0, gt=0, description="seconds of packet time an idle flow lives")
    max_backends: int = Field(256, ge=1, le=1 << 16,
                              description="room for backends added later by set_backends")

    @field_validator("table_size")
    @classmethod
    def _prime(cls, m: int) -> int:
        if not is_prime(m):
            raise ValueError(f"table_size must be a prime (such as 65537 or 251), found {m}")
        return m

    @model_validator(mode="after")
    def _fits(self) -> MaglevLBConfig:
        _check_backends(self.backends, self.table_size, self.max_backends)
        return self


def _check_backends(backends: list[Backend], m: int, room: int) -> None:
    if len(backends) > room:
        raise ValueError(f"{len(backends)} backends exceed max_backends ({room})")
    if len(backends) > m:
        raise ValueError(f"{len(backends)} backends do not fit a table of {m}")
    if not any(bk.weight > 0 for bk in backends):
        raise ValueError("at least one backend needs a weight above 0")
    seen = set()
    for bk in backends:
        if (bk.addr, bk.port) in seen:
            raise ValueError(f"backend {bk.addr}:{bk.port} is listed twice")
        seen.add((bk.addr, bk.port))


class MaglevState(NamedTuple):
    cfg: np.ndarray  # int64: vip, vport (-1 any), timeout ns, number of backends
    table: np.ndarray  # int32[table_size]: backend index
    b_addr: np.ndarray  # uint32[max_backends]
    b_port: np.ndarray  # int32[max_backends]: -1 keeps the port
    picks: np.ndarray  # int64[max_backends]: new flows sent to each backend
    ft: FlowTable
    # Per flow-table slot, in one row so that a packet touches one more cache line:
    # [0] = kind (FORWARD/REVERSE) | port << 8 | addr << 32, where a forward entry holds
    # its backend's address and port + 1 (0: keep the port) and a reverse entry the port
    # and the virtual address the client used; [1] = the other direction's slot.
    val: np.ndarray  # uint64[slots, 2]
    stats: np.ndarray  # int64[3]: new flows, packets of known flows, replies
    last: np.ndarray  # int64[1]: the entry the last packet used, -1 if none (``slot_of``)


@inlined
def _handle(s, k):
    """The decision cache's handle on the flow of entry ``k``: the slots of both its
    directions' entries, so a refresh needs no lookup (``maglevlb_touch``)."""
    return (np.int64(s.val[k, 1]) << 32) | k


@inlined
def maglevlb_kernel(b, i, s, inp):
    s.last[0] = -1
    st = l4_status(b, i, False)
    if st != L4_OK:
        return drop(st - 1)
    now = b.timestamp[i]
    expiry = now + s.cfg[C_TIMEOUT]
    ft = s.ft
    saddr = b.saddr[i]
    daddr = b.daddr[i]
    sport = b.sport[i]
    dport = b.dport[i]
    proto = b.proto[i]
    if inp == 1:  # a reply from a backend: give it the VIP back
        k = ft_lookup(ft, b.flow_hash[i], saddr, daddr, sport, dport, proto, now)
        if k < 0:
            return drop(8)
        v = s.val[k, 0]
        if v & np.uint64(0xFF) != REVERSE:
            return drop(8)
        ft_set_expiry(ft, k, expiry)
        ft_set_expiry(ft, s.val[k, 1], expiry)
        s.stats[S_REPLIES] += 1
        s.last[0] = _handle(s, k)
        set_saddr(b, i, np.uint32(v >> np.uint64(32)))
        set_sport(b, i, np.uint32((v >> np.uint64(8)) & np.uint64(0xFFFF)))
        rehash(b, i)
        return 1
    if (daddr & s.cfg[C_VMASK]) != s.cfg[C_VIP] or (s.cfg[C_VPORT] >= 0
                                                     and dport != s.cfg[C_VPORT]):
        return drop(4)
    k = ft_lookup(ft, b.flow_hash[i], saddr, daddr, sport, dport, proto, now)
    if k >= 0:
        v = s.val[k, 0]
        if v & np.uint64(0xFF) != FORWARD:
            return drop(7)  # the 5-tuple is some flow's reply tuple
        ft_set_expiry(ft, k, expiry)
        ft_set_expiry(ft, s.val[k, 1], expiry)
        s.stats[S_STUCK] += 1
        addr = np.uint32(v >> np.uint64(32))
        port = np.int64((v >> np.uint64(8)) & np.uint64(0xFFFFFF)) - 1
    else:
        j = s.table[np.int64(b.flow_hash[i]) % s.table.shape[0]]
        if j < 0:
            return drop(5)
        addr = s.b_addr[j]
        port = s.b_port[j]
        new_dport = dport if port < 0 else np.uint16(port)
        rh = flow_hash5(addr, saddr, new_dport, sport, proto)
        if ft_lookup(ft, rh, addr, saddr, new_dport, sport, proto, now) >= 0:
            return drop(7)  # another live flow already owns this reply tuple
        k = ft_insert(ft, b.flow_hash[i], saddr, daddr, sport, dport, proto, now, expiry)
        if k < 0:
            return drop(6)
        r = ft_insert(ft, rh, addr, saddr, new_dport, sport, proto, now, expiry)
        if r < 0:
            ft_remove(ft, k)
            return drop(6)
        s.val[k, 0] = (np.uint64(FORWARD) | (np.uint64(port + 1) << np.uint64(8))
                      | (np.uint64(addr) << np.uint64(32)))
        s.val[k, 1] = r
        s.val[r, 0] = (np.uint64(REVERSE) | (np.uint64(dport) << np.uint64(8))
                      | (np.uint64(daddr) << np.uint64(32)))
        s.val[r, 1] = k
        s.picks[j] += 1
        s.stats[S_NEW] += 1
    s.last[0] = _handle(s, k)
    set_daddr(b, i, addr)
    if port >= 0:
        set_dport(b, i, np.uint32(port))
    rehash(b, i)
    return 0


@inlined
def maglevlb_slot_of(s):
    """The decision cache's handle (``_handle``) on the flow the last packet used, -1
    for none."""
    return s.last[0]


@inlined
def maglevlb_touch(s, h, b, i):
    """Refresh the flow of handle ``h`` (both directions) for packet ``i`` as the kernel
    would; -1 when the entry is gone."""
    now = b.timestamp[i]
    k = h & 0xFFFFFFFF
    if not ft_live(s.ft, k, now):
        return -1
    expiry = now + s.cfg[C_TIMEOUT]
    ft_set_expiry(s.ft, k, expiry)
    ft_set_expiry(s.ft, h >> 32, expiry)
    return expiry


@inlined
def maglevlb_prefetch(s, h):
    """Start fetching both entries ``maglevlb_touch`` refreshes."""
    prefetch(s.ft.rec, h & 0xFFFFFFFF)
    prefetch(s.ft.rec, h >> 32)


@inlined
def maglevlb_lookahead(b, i, s, inp):
    """Start fetching the slot where row ``i``'s lookup starts, and its value row.
    (Fetching the other direction's slot too, after a lookup a pass later, measured
    slower: 143 vs 136 ns a packet on the trace.)"""
    k = ft_home(s.ft, b.flow_hash[i])
    prefetch(s.ft.rec, k)
    prefetch(s.val, k)


class MaglevLB(Element):
    """Balance the TCP/UDP flows sent to a virtual address over backend servers by
    Maglev consistent hashing (Eisenbud et al., NSDI'16), keeping each flow on its
    backend, and give replies the virtual address back.

    Ports: ``2/2``. Input 0: client packets to the VIP, leave rewritten on output 0
    (toward the backends). Input 1: backend replies, leave on output 1 (toward
    clients).

    Behaviour: packets must carry IP annotations (CheckIPHeader or MarkIPHeader before
    it). A client packet to ``vip`` (and ``vport`` when set) of a known flow goes to
    that flow's backend; a new flow's backend is the Maglev table entry of its flow
    hash, with shares in proportion to the weights; the flow is then remembered both
    ways. The destination address (and port, when the backend has one) is rewritten,
    the IP and TCP/UDP checksums are updated incrementally, and the ``daddr``,
    ``dport`` and ``flow_hash`` annotations follow. A reply on input 1 must match a
    remembered flow; its source becomes the VIP and the port the client used. Flows
    expire after ``timeout`` seconds of packet time without a packet either way.
    ``set_backends(state, backends)`` changes the backends at run time: the table is
    rebuilt in place, flows already tracked keep their backend, and new flows move only
    as much as Maglev's minimal disruption allows. Fragments are dropped: only a first
    fragment has ports.

    Example::

        elements:
          lb:
            kind: MaglevLB
            config:
              vip: 10.0.0.100
              vport: 80
              backends:
                - {addr: 192.168.1.1, port: 8080}
                - {addr: 192.168.1.2, port: 8080, weight: 2}
          mark: {kind: MarkIPHeader}
          mark_replies: {kind: MarkIPHeader}
        connections:
          - in -> mark -> lb -> out
          - in[1] -> mark_replies -> [1]lb[1] -> [1]out

    Counters: ``new_flows``, ``known_flow_packets``, ``replies``, ``backend<j>_flows``
    (new flows per backend, by position in ``backends``), the flow table's
    ``inserts``, ``insert_failures``, ``expired``; drop reasons ``not_ip``,
    ``not_tcp_udp``, ``fragment``, ``truncated``, ``not_for_vip``, ``no_backend``,
    ``flow_table_full``, ``tuple_conflict`` (a new flow would share its reply 5-tuple
    with a live one), ``no_flow`` (a reply of no known flow).

    See also: HashSwitch, RoundRobinSwitch, L4Gateway, StatefulFirewall.
    """

    ports = "2/2"
    Config = MaglevLBConfig
    reads = ("ip", "l3", "l4", "flags", "proto", "saddr", "daddr", "sport", "dport",
             "flow_hash", "timestamp")
    writes = ("ip.src", "ip.dst", "ip.sum", "l4.ports", "tcp.sum", "udp.sum", "saddr",
              "daddr", "sport", "dport", "flow_hash")
    state_kind = "per-flow"
    keeps_ip_valid = True  # addresses and ports rewritten with incremental checksums
    drops = ("not_ip", "not_tcp_udp", "fragment", "truncated", "not_for_vip", "no_backend",
             "flow_table_full", "tuple_conflict", "no_flow")
    kernel = staticmethod(maglevlb_kernel)
    slot_of = staticmethod(maglevlb_slot_of)
    touch = staticmethod(maglevlb_touch)
    prefetch = staticmethod(maglevlb_prefetch)
    lookahead = staticmethod(maglevlb_lookahead)

    def cache_role(self) -> str:
        """A mapping: once a flow has its backend, every packet of it is rewritten the
        same way while its entry lives."""
        return "mapping"

    def looks_ahead(self) -> bool:
        """Its table (two entries a flow) is too big to stay cached."""
        return worth_lookahead(2 * self.config.capacity)

    def make_state(self, n_outputs: int) -> MaglevState:
        c = self.config
        mask = (0xFFFFFFFF << (32 - c.vip_prefix)) & 0xFFFFFFFF
        ft = make_flowtable(2 * c.capacity)
        slots = ft.rec.shape[0]
        state = MaglevState(
            cfg=np.array([ipv4_int(c.vip) & mask, -1 if c.vport is None else c.vport,
                          int(c.timeout * 1e9), 0, mask], np.int64),
            table=np.full(c.table_size, -1, np.int32),
            b_addr=np.zeros(c.max_backends, np.uint32),
            b_port=np.full(c.max_backends, -1, np.int32),
            picks=np.zeros(c.max_backends, np.int64),
            ft=ft,
            val=zeroed((slots, 2), np.uint64),
            stats=np.zeros(3, np.int64),
            last=np.full(1, -1, np.int64),
        )
        self.set_backends(state, c.backends)
        self.ref_state, self.ref_flows = state, {}  # ``reference`` runs beside this state
        return state

    def set_backends(self, state: MaglevState, backends: list) -> None:
        """Replace the backends (``Backend`` or dicts) and rebuild the lookup table in
        place; tracked flows keep their backend. Per-backend counters restart."""
        backends = [Backend.model_validate(bk) for bk in backends]
        _check_backends(backends, state.table.shape[0], state.b_addr.shape[0])
        n = len(backends)
        addrs = [ipv4_int(bk.addr) for bk in backends]
        ports = [-1 if bk.port is None else bk.port for bk in backends]
        build_table(addrs, ports, [bk.weight for bk in backends], state.table.shape[0],
                    state.table)
        state.b_addr[:n] = addrs
        state.b_port[:n] = ports
        state.picks[:] = 0
        state.cfg[C_NBACKENDS] = n
        self.backend_list = backends

    def counters(self, state: MaglevState) -> dict[str, int]:
        out = {"new_flows": int(state.stats[S_NEW]),
               "known_flow_packets": int(state.stats[S_STUCK]),
               "replies": int(state.stats[S_REPLIES])}
        out.update({f"backend{j}_flows": int(state.picks[j])
                    for j in range(int(state.cfg[C_NBACKENDS]))})
        out.update(flowtable_counters(state.ft))
        return out

    def reference(self, pkt, inp: int) -> int:
        """Plain Python over dicts, beside the last ``make_state`` (whose lookup table it
        reads, so ``set_backends`` applies to both). Assumes the flow table never fills."""
        ref = self.ref_flows
        s = self.ref_state
        st = ref_l4_status(pkt, False)
        if st:
            return -st
        now, expiry = pkt.timestamp, pkt.timestamp + int(s.cfg[C_TIMEOUT])
        key = (pkt.saddr, pkt.daddr, pkt.sport, pkt.dport, pkt.proto)
        entry = ref.get(key)
        live = entry is not None and entry["expiry"] >= now
        if inp == 1:
            if not live or entry["kind"] != REVERSE:
                return -9
            entry["expiry"] = entry["peer"]["expiry"] = expiry
            ref_set_field(pkt, "saddr", entry["vip"])
            ref_set_field(pkt, "sport", entry["port"])
            ref_rehash(pkt)
            return 1
        vport = int(s.cfg[C_VPORT])
        if (pkt.daddr & int(s.cfg[C_VMASK])) != int(s.cfg[C_VIP]) or (
                vport >= 0 and pkt.dport != vport):
            return -5
        if live:
            if entry["kind"] != FORWARD:
                return -8
            entry["expiry"] = entry["peer"]["expiry"] = expiry
        else:
            j = int(s.table[pkt.flow_hash % len(s.table)])
            if j < 0:
                return -6
            addr, port = int(s.b_addr[j]), int(s.b_port[j])
            rkey = (addr, pkt.saddr, pkt.dport if port < 0 else port, pkt.sport, pkt.proto)
            other = ref.get(rkey)
            if other is not None and other["expiry"] >= now:
                return -8
            entry = {"kind": FORWARD, "addr": addr, "port": port, "expiry": expiry}
            ref[key] = entry
            ref[rkey] = {"kind": REVERSE, "port": pkt.dport, "vip": pkt.daddr, "expiry": expiry,
                         "peer": entry}
            entry["peer"] = ref[rkey]
        ref_set_field(pkt, "daddr", entry["addr"])
        if entry["port"] >= 0:
            ref_set_field(pkt, "dport", entry["port"])
        ref_rehash(pkt)
        return 0
