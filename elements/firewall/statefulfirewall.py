"""StatefulFirewall: IPFilter rules decide which connections may open; replies of
tracked connections come back in; TCP connections follow a checked state machine."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Annotated, NamedTuple

import numpy as np
from pydantic import AfterValidator, Field

from elements import flowtable, net
from elements.codegen import load_source
from elements.element import Element, ElementConfig, drop
from elements.flowtable import (
    FlowTable,
    flowtable_counters,
    ft_home,
    ft_insert,
    ft_lookup,
    ft_set_expiry,
    make_flowtable,
    worth_lookahead,
    zeroed,
)
from elements.ip import iprules
from elements.jit import inlined
from elements.lb import l4rewrite
from elements.lb.l4rewrite import (
    L4_FRAGMENT,
    L4_NOT_IP,
    L4_NOT_TCPUDP,
    L4_OK,
    L4_TRUNCATED,
    l4_status,
    ref_l4_status,
)
from elements.net import IP_PROTO_TCP, flow_hash5
from elements.prefetch import prefetch

# Connection states (``FirewallState.conn``).
NONE, SYN_SENT, SYN_RECEIVED, ESTABLISHED, FIN_WAIT, TIME_WAIT, CLOSED, OPEN = range(8)
STATE_NAMES = ("none", "syn_sent", "syn_received", "established", "fin_wait", "time_wait",
               "closed", "open")  # OPEN: a non-TCP flow
TH_FIN, TH_SYN, TH_RST, TH_ACK = 0x01, 0x02, 0x04, 0x10

# Drop reasons, by index.
D_NOT_IP, D_FRAGMENT, D_TRUNCATED, D_DENIED, D_NO_CONN, D_BAD_STATE, D_FULL = range(7)
# ``fw_known``'s result when the packet would open a connection: the rules decide.
NEW = 1 << 16
# Indices into ``FirewallState.timeouts`` (ns).
T_ESTABLISHED, T_TRANSITORY, T_CLOSED, T_OTHER = range(4)


class FirewallState(NamedTuple):
    timeouts: np.ndarray  # int64[4]: established, transitory, closed, non-TCP (ns)
    ft: FlowTable  # keyed by the 5-tuple of the outbound direction
    conn: np.ndarray  # uint8[slots]: connection state
    fins: np.ndarray  # uint8[slots]: bit 0 outbound FIN seen, bit 1 inbound FIN seen
    stats: np.ndarray  # int64[2]: connections opened, packets passed by state


@inlined
def _state_timeout(s, state):
    if state == ESTABLISHED:
        return s.timeouts[T_ESTABLISHED]
    if state == TIME_WAIT or state == CLOSED:
        return s.timeouts[T_CLOSED]
    if state == OPEN:
        return s.timeouts[T_OTHER]
    return s.timeouts[T_TRANSITORY]


@inlined
def tcp_step(state, fins, d, flags):
    """(new state, new FIN bits), or state -1 for an invalid transition, of a TCP
    connection in ``state`` seeing a segment with ``flags`` in direction ``d`` (0 out,
    1 in)."""
    syn = flags & TH_SYN
    ack = flags & TH_ACK
    if flags & TH_RST:
        if state == CLOSED:
            return -1, fins
        return CLOSED, fins
    if syn and flags & TH_FIN:
        return -1, fins
    if syn and not ack:
        if d == 0 and state == SYN_SENT:
            return SYN_SENT, fins  # retransmitted SYN
        return -1, fins
    if syn:  # SYN-ACK: only the answer to our SYN (or its retransmission)
        if d == 1 and (state == SYN_SENT or state == SYN_RECEIVED):
            return SYN_RECEIVED, fins
        if d == 1 and state == ESTABLISHED:
            return ESTABLISHED, fins
        return -1, fins
    if not ack:
        return -1, fins
    if state == SYN_RECEIVED and d == 0:
        state = ESTABLISHED
    elif state == SYN_SENT or state == SYN_RECEIVED or state == CLOSED:
        return -1, fins
    if flags & TH_FIN and (state == ESTABLISHED or state == FIN_WAIT):
        fins |= 1 << d
        state = TIME_WAIT if fins == 3 else FIN_WAIT
    return state, fins


@inlined
def _check(b, i):
    """0 when the packet can be tracked, else 1 + its drop reason."""
    st = l4_status(b, i, True)
    if st == L4_NOT_IP:
        return 1 + D_NOT_IP
    if st == L4_FRAGMENT or (st == L4_NOT_TCPUDP and b.flags[i] & 4):
        return 1 + D_FRAGMENT
    if st == L4_TRUNCATED:
        return 1 + D_TRUNCATED
    return 0


@inlined
def fw_inbound(b, i, s):
    """A packet from outside: it must belong to a tracked connection."""
    bad = _check(b, i)
    if bad:
        return drop(bad - 1)
    now = b.timestamp[i]
    saddr = b.daddr[i]
    daddr = b.saddr[i]
    sport = b.dport[i]
    dport = b.sport[i]
    proto = b.proto[i]
    h = flow_hash5(saddr, daddr, sport, dport, proto)
    k = ft_lookup(s.ft, h, saddr, daddr, sport, dport, proto, now)
    if k < 0:
        return drop(D_NO_CONN)
    state = s.conn[k]
    if proto == IP_PROTO_TCP:
        state, fins = tcp_step(state, s.fins[k], 1, b.data[i, b.l4[i] + 13])
        if state < 0:
            return drop(D_BAD_STATE)
        s.conn[k] = state
        s.fins[k] = fins
    ft_set_expiry(s.ft, k, now + _state_timeout(s, state))
    s.stats[1] += 1
    return 1


@inlined
def fw_known(b, i, s):
    """An outbound packet of a tracked connection: its verdict; ``NEW`` when it would
    open a connection (the rules decide, then ``fw_open``)."""
    bad = _check(b, i)
    if bad:
        return drop(bad - 1)
    now = b.timestamp[i]
    proto = b.proto[i]
    k = ft_lookup(s.ft, b.flow_hash[i], b.saddr[i], b.daddr[i], b.sport[i], b.dport[i], proto,
                  now)
    if proto != IP_PROTO_TCP:
        if k < 0:
            return NEW
        ft_set_expiry(s.ft, k, now + s.timeouts[T_OTHER])
        s.stats[1] += 1
        return 0
    flags = b.data[i, b.l4[i] + 13]
    opening = (flags & (TH_SYN | TH_ACK | TH_RST | TH_FIN)) == TH_SYN
    if k < 0:
        return NEW if opening else drop(D_NO_CONN)
    state = s.conn[k]
    if opening and (state == CLOSED or state == TIME_WAIT):
        return NEW  # the 5-tuple is reused by a new connection
    state, fins = tcp_step(state, s.fins[k], 0, flags)
    if state < 0:
        return drop(D_BAD_STATE)
    s.conn[k] = state
    s.fins[k] = fins
    ft_set_expiry(s.ft, k, now + _state_timeout(s, state))
    s.stats[1] += 1
    return 0


@inlined
def fw_lookahead(b, i, s, inp):
    """Start fetching the slot where row ``i``'s lookup starts (keyed by the outbound
    5-tuple, so reversed for a packet from outside) and its connection state."""
    h = b.flow_hash[i]
    if inp == 1:
        h = flow_hash5(b.daddr[i], b.saddr[i], b.dport[i], b.sport[i], b.proto[i])
    k = ft_home(s.ft, h)
    prefetch(s.ft.rec, k)
    prefetch(s.conn, k)


@inlined
def fw_open(b, i, s):
    """Track the connection this allowed outbound packet opens."""
    now = b.timestamp[i]
    state = SYN_SENT if b.proto[i] == IP_PROTO_TCP else OPEN
    k = ft_insert(s.ft, b.flow_hash[i], b.saddr[i], b.daddr[i], b.sport[i], b.dport[i],
                  b.proto[i], now, now + _state_timeout(s, state))
    if k < 0:
        return drop(D_FULL)
    s.conn[k] = state
    s.fins[k] = 0
    s.stats[0] += 1
    return 0


# The kernel: the rule list compiled by iprules (renamed ``rules``) and this wrapper.
WRAPPER = f"""

from elements.firewall.statefulfirewall import fw_inbound, fw_known, fw_open, NEW


@inlined
def kernel(b, i, s, inp):
    if inp == 1:
        return fw_inbound(b, i, s)
    r = fw_known(b, i, s)
    if r != NEW:
        return r
    if rules(b, i, s, inp) != 0:
        return {-1 - D_DENIED}
    return fw_open(b, i, s)
"""


def _sources_digest(*modules) -> str:
    return hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in modules)).hexdigest()


# numba's cache checks only the generated file itself: naming what the kernel calls
# (by a hash of those modules) keeps an edit there from reusing stale machine code.
_DEPENDS = f"# calls into: {_sources_digest(sys.modules[__name__], l4rewrite, flowtable, net)}\n"


def _check_rule(text: str) -> str:
    action, _ = iprules.parse_filter_rule(text)
    if action not in (0, iprules.DROP):
        raise ValueError(f"a StatefulFirewall rule's action is allow, deny or drop, found"
                         f" output {action}")
    return text


Rule = Annotated[str, AfterValidator(_check_rule)]


class StatefulFirewallConfig(ElementConfig):
    rules: list[Rule] = Field(
        min_length=1,
        description="IPFilter rules (ACTION PATTERN, first match wins; allow or deny/drop)"
                    " deciding which outbound packets may open a connection; no match"
                    " denies")
    capacity: int = Field(65536, ge=1, le=1 << 24, description="connections tracked at once")
    tcp_timeout: float = Field(3600.0, gt=0, description="seconds an idle established TCP"
                               " connection lives")
    tcp_transitory_timeout: float = Field(120.0, gt=0, description="seconds in the handshake"
                                          " and FIN-WAIT states")
    tcp_closed_timeout: float = Field(10.0, gt=0, description="seconds in TIME-WAIT and after"
                                      " a RST")
    other_timeout: float = Field(60.0, gt=0, description="seconds an idle UDP/ICMP/other"
                                 " flow lives")


class StatefulFirewall(Element):
    """Let connections opened from inside out, and only their replies in, tracking each
    TCP connection's state (a stateful firewall, as Linux conntrack with a strict TCP
    policy).

    Ports: ``2/2``. Input 0: outbound packets (from the protected side), leave on
    output 0. Input 1: inbound packets, leave on output 1.

    Behaviour: packets need IP annotations (CheckIPHeader before it). An outbound packet
    of a tracked connection passes if its TCP flags are a valid next step. Any other
    outbound packet may open a connection: for TCP only a bare SYN can; IPFilter
    ``rules`` (Click's syntax, first match wins, no match denies) then decide. An
    inbound packet passes only when it belongs to a tracked connection (the reverse
    5-tuple) and, for TCP, is a valid step: SYN_SENT -> (SYN-ACK in) SYN_RECEIVED ->
    (ACK out) ESTABLISHED -> (FIN) FIN_WAIT -> (FIN the other way) TIME_WAIT; a RST
    either way closes (CLOSED); a bare SYN out on a CLOSED or TIME_WAIT connection opens
    it anew. Unsolicited inbound SYNs, SYN-ACKs and ACKs are dropped; so are segments
    without ACK after the SYN. UDP, ICMP and other protocols are tracked by their
    5-tuple (ports 0 without ports) with ``other_timeout``. Entries expire by packet
    time, each state with its timeout. Non-first fragments are dropped (no ports);
    ICMP errors about a connection are not matched to it.

    Example::

        elements:
          fw:
            kind: StatefulFirewall
            config:
              rules: ["allow tcp dst port 80 or 443", "allow udp dst port 53", "deny all"]
          mark: {kind: MarkIPHeader}
          mark_replies: {kind: MarkIPHeader}
        connections:
          - in -> mark -> fw -> out
          - in[1] -> mark_replies -> [1]fw[1] -> [1]out

    Counters: ``connections`` (opened), ``tracked_packets`` (passed by state), the flow
    table's ``inserts``, ``insert_failures``, ``expired``; drop reasons ``not_ip``,
    ``fragment``, ``truncated``, ``denied`` (by the rules), ``no_connection`` (no
    tracked connection, or a TCP segment other than SYN trying to open one),
    ``bad_state`` (an invalid TCP transition), ``table_full``.

    See also: IPFilter, MaglevLB, L4Gateway.
    """

    ports = "2/2"
    Config = StatefulFirewallConfig
    reads = ("ip", "tcp", "l3", "l4", "flags", "proto", "saddr", "daddr", "sport", "dport",
             "flow_hash", "timestamp", "head", "length")
    state_kind = "per-flow"
    drops = ("not_ip", "fragment", "truncated", "denied", "no_connection", "bad_state",
             "table_full")
    kernel = None  # generated per rule list by make_state
    lookahead = staticmethod(fw_lookahead)

    def compiled(self) -> list[tuple[iprules.Expr, int]]:
        return [(expr, -1 if action == iprules.DROP else 0)
                for action, expr in map(iprules.parse_filter_rule, self.config.rules)]

    def looks_ahead(self) -> bool:
        """Its table is too big to stay cached."""
        return worth_lookahead(self.config.capacity)

    def make_state(self, n_outputs: int) -> FirewallState:
        rules = iprules.KernelWriter(self.compiled(), -1, -1).source()
        rules = rules.replace("def kernel(b, i, s, inp):", "def rules(b, i, s, inp):", 1)
        self.kernel = load_source("statefulfirewall", rules + WRAPPER + _DEPENDS).kernel
        c = self.config
        ft = make_flowtable(c.capacity)
        slots = ft.rec.shape[0]
        self.ref_conns = {}  # ``reference``'s connections start afresh with the state
        return FirewallState(
            timeouts=np.array([int(t * 1e9) for t in (c.tcp_timeout, c.tcp_transitory_timeout,
                                                      c.tcp_closed_timeout, c.other_timeout)],
                              np.int64),
            ft=ft, conn=zeroed(slots, np.uint8), fins=zeroed(slots, np.uint8),
            stats=np.zeros(2, np.int64))

    def counters(self, state: FirewallState) -> dict[str, int]:
        return {"connections": int(state.stats[0]), "tracked_packets": int(state.stats[1]),
                **flowtable_counters(state.ft)}

    def connection_state(self, state: FirewallState, saddr: int, daddr: int, sport: int,
                         dport: int, proto: int, now: int) -> str:
        """The state name of the connection opened by ``saddr:sport -> daddr:dport``."""
        k = ft_lookup(state.ft, flow_hash5(saddr, daddr, sport, dport, proto), saddr, daddr,
                      sport, dport, proto, now)
        return "none" if k < 0 else STATE_NAMES[state.conn[k]]

    # ---- the plain-Python oracle: a dict of connections and a transition table ----

    def reference(self, pkt, inp: int) -> int:
        conns = self.ref_conns
        st = ref_l4_status(pkt, True)
        if st == L4_NOT_IP:
            return drop(D_NOT_IP)
        if st == L4_FRAGMENT or (st == L4_NOT_TCPUDP and pkt.flags & 4):
            return drop(D_FRAGMENT)
        if st == L4_TRUNCATED:
            return drop(D_TRUNCATED)
        assert st in (L4_OK, L4_NOT_TCPUDP)
        now = pkt.timestamp
        fwd = (pkt.saddr, pkt.daddr, pkt.sport, pkt.dport, pkt.proto)
        key = fwd if inp == 0 else (pkt.daddr, pkt.saddr, pkt.dport, pkt.sport, pkt.proto)
        c = conns.get(key)
        if c is not None and c["expiry"] < now:
            c = None
        tcp = pkt.proto == IP_PROTO_TCP
        flags = pkt.u8(pkt.l4 + 13) if tcp else 0
        opening = tcp and flags & (TH_SYN | TH_ACK | TH_RST | TH_FIN) == TH_SYN
        if inp == 0 and (c is None or (opening and c["state"] in (CLOSED, TIME_WAIT))):
            if tcp and not opening:
                return drop(D_NO_CONN)
            if iprules.first_match(self.compiled(), -1, -1, pkt) != 0:
                return drop(D_DENIED)
            state = SYN_SENT if tcp else OPEN
            conns[key] = {"state": state, "fins": 0, "expiry": now + self._ref_timeout(state)}
            return 0
        if c is None:
            return drop(D_NO_CONN)
        if tcp:
            step = _ref_step(c["state"], c["fins"], inp, flags)
            if step is None:
                return drop(D_BAD_STATE)
            c["state"], c["fins"] = step
        c["expiry"] = now + self._ref_timeout(c["state"])
        return inp

    def _ref_timeout(self, state: int) -> int:
        c = self.config
        seconds = {ESTABLISHED: c.tcp_timeout, TIME_WAIT: c.tcp_closed_timeout,
                   CLOSED: c.tcp_closed_timeout, OPEN: c.other_timeout}.get(
                       state, c.tcp_transitory_timeout)
        return int(seconds * 1e9)


# (state, direction, segment kind) -> next state; anything absent is invalid. Segment
# kinds: "syn", "synack", "ack" (ACK without SYN/RST, FIN handled apart), "rst".
_REF_TABLE = {
    (SYN_SENT, 0, "syn"): SYN_SENT,
    (SYN_SENT, 1, "synack"): SYN_RECEIVED,
    (SYN_RECEIVED, 1, "synack"): SYN_RECEIVED,
    (ESTABLISHED, 1, "synack"): ESTABLISHED,
    (SYN_RECEIVED, 0, "ack"): ESTABLISHED,
    **{(st, d, "ack"): st for st in (ESTABLISHED, FIN_WAIT, TIME_WAIT) for d in (0, 1)},
    **{(st, d, "rst"): CLOSED for st in (SYN_SENT, SYN_RECEIVED, ESTABLISHED, FIN_WAIT,
                                         TIME_WAIT) for d in (0, 1)},
}


def _ref_step(state: int, fins: int, d: int, flags: int):
    if flags & TH_RST:
        kind = "rst"
    elif flags & TH_SYN:
        if flags & TH_FIN:
            return None
        kind = "synack" if flags & TH_ACK else "syn"
    elif flags & TH_ACK:
        kind = "ack"
    else:
        return None
    nxt = _REF_TABLE.get((state, d, kind))
    if nxt is None:
        return None
    if kind == "ack" and flags & TH_FIN and nxt in (ESTABLISHED, FIN_WAIT):
        fins |= 1 << d
        nxt = TIME_WAIT if fins == 3 else FIN_WAIT
    return nxt, fins
