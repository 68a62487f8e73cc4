"""A plain-Python IPRewriter/ICMPPingRewriter: the test oracle for the numba kernels.

Written from Click's semantics, not from the kernels: mappings are objects in a dict
keyed by 5-tuple, liveness is checked against packet time on every look-up, the
capacity victim is found by sorting the live flows, and checksums are patched by
summing the changed words. Only the random source (xorshift64*, seeded as the kernel
seeds it) must be the same so that random port choices can be compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from elements.nat.mapping import seed_state
from elements.nat.rewriterspec import DROP, KEEP, PASS, InputSpec, Pattern
from elements.net import flow_hash5

MASK64 = (1 << 64) - 1
DROP_NO_IP, DROP_UNHANDLED, DROP_NO_MAPPING, DROP_FAILURE = -1, -2, -3, -4


@dataclass(eq=False)
class Flow:
    keys: tuple  # forward key, reply key: (saddr, daddr, sport, dport, proto)
    to: tuple  # per direction: (saddr, daddr, sport, dport) a packet becomes
    outs: tuple
    proto: int
    spec: int
    born: int
    state: int = 0
    bexp: int = 0
    gexp: int = 0
    dead: int = 0
    deltas: list = field(default_factory=list)


def _ones(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _delta(pairs) -> int:
    """Click's checksum delta for the words that change (old, new)."""
    return _ones(sum((~o & 0xFFFF) + n for o, n in pairs if o != n))


def _words(addr: int) -> list[int]:
    return [addr >> 16, addr & 0xFFFF]


def _patch(check: int, delta: int) -> int:
    return check if delta == 0 else ~_ones((~check & 0xFFFF) + delta) & 0xFFFF


class RefRewriter:
    def __init__(self, specs: list[InputSpec], capacity: int, timeouts_s, dst_anno: bool,
                 seed: int, icmp: bool):
        self.specs = specs
        self.capacity = capacity
        self.tmo = [[round(t * 1_000_000_000) for t in row] for row in timeouts_s]
        self.dst_anno = dst_anno
        self.icmp = icmp
        self.rng = seed_state(seed)
        self.table: dict[tuple, tuple[Flow, int]] = {}
        self.flows: list[Flow] = []
        self.nexts: dict[Pattern, int] = {}
        self.rr = [0] * len(specs)
        self.count = [0] * len(specs)
        self.failures = [0] * len(specs)
        self.born = 0

    # -- time --------------------------------------------------------------------------
    def _cls(self, proto: int) -> int:
        return {6: 0, 17: 1}.get(proto, 2)

    def _timeout(self, flow: Flow) -> int:
        row = self.tmo[self._cls(flow.proto)]
        if flow.proto == 6:
            if flow.state & 3 == 3:
                return row[2]
            return row[1] if flow.state & 12 == 12 else row[0]
        if flow.proto == 17 and flow.state > 6:
            return row[1]
        return row[0]

    def _restart(self, flow: Flow, now: int) -> None:
        t, g = self._timeout(flow), self.tmo[self._cls(flow.proto)][3]
        flow.bexp, flow.gexp, flow.dead = now + t, now + g, now + max(t, g)

    def _find(self, key: tuple, now: int):
        hit = self.table.get(key)
        if hit is None or hit[0].dead <= now or hit[0] not in self.flows:
            return None
        return hit

    def _destroy(self, flow: Flow) -> None:
        self.flows.remove(flow)
        self.count[flow.spec] -= 1
        for d, key in enumerate(flow.keys):
            if self.table.get(key) == (flow, d):
                del self.table[key]

    # -- port allocation (Click's IPRewriterPattern::rewrite_flowid) -------------------
    def _random(self, n: int) -> int:
        x = self.rng
        x ^= x >> 12
        x = (x ^ (x << 25)) & MASK64
        x ^= x >> 27
        self.rng = x
        return (((x * 0x2545F4914F6CDD1D) & MASK64) >> 32) % n

    def _reply_taken(self, proto, saddr, daddr, sport, dport, now) -> bool:
        if self.icmp:
            sport = (dport + 1) & 0xFFFF
        return self._find((saddr, daddr, sport, dport, proto), now) is not None

    def _rewrite(self, p: Pattern, key: tuple, now: int):
        s, d, sp, dp, proto = key
        ns, nd = p.saddr or s, p.daddr or d
        nsp, ndp = p.sport or sp, p.dport or dp
        if not p.variation:
            return ns, nd, nsp, ndp
        base = p.sport if p.napt else p.saddr
        if p.napt and p.same_first and 0 <= sp - base <= p.variation \
                and not self._reply_taken(proto, nd, ns, ndp, sp, now):
            self.nexts[p] = sp - base + 1
            return ns, nd, sp, ndp
        if p.sequential:
            val = self.nexts.get(p, 0)
            val = 0 if val > p.variation else val
        else:
            val = self._random(p.variation + 1)
        for _ in range(p.variation + 1):
            cand = base + val
            taken = (self._reply_taken(proto, nd, ns, ndp, cand, now) if p.napt
                     else self._reply_taken(proto, nd, cand, ndp, nsp, now))
            if not taken:
                self.nexts[p] = val + 1
                return (ns, nd, cand, ndp) if p.napt else (cand, nd, nsp, ndp)
            val = 0 if val == p.variation else val + 1
        return None

    # -- mappings ------------------------------------------------------------------------
    def _create(self, spec_no: int, key: tuple, now: int):
        spec = self.specs[spec_no]
        s, d, sp, dp, proto = key
        if spec.kind == KEEP:
            new, outs = (s, d, sp, dp), (spec.foutput, spec.routput)
        else:
            n, new = len(spec.patterns), None
            for _ in range(n):
                p = spec.patterns[self.rr[spec_no]]
                self.rr[spec_no] = (self.rr[spec_no] + 1) % n
                new = self._rewrite(p, key, now)
                if new is not None:
                    outs = (p.foutput, p.routput)
                    break
            if new is None:
                self.failures[spec_no] += 1
                return None
        ns, nd, nsp, ndp = new
        if self.icmp:
            ndp = (nsp + 1) & 0xFFFF
        reply = (nd, ns, ndp, nsp, proto)
        if reply == key:
            self.failures[spec_no] += 1
            return None
        old = self._find(reply, now)
        if old is not None:
            self._destroy(old[0])
        cls = self.tmo[self._cls(proto)]
        live = [f for f in self.flows if f.dead > now]
        if len(live) >= self.capacity:
            eligible = sorted((f for f in live if f.gexp <= now), key=lambda f: (f.bexp, f.born))
            if not eligible or (cls[3] == 0 and now + cls[0] < eligible[0].bexp):
                self.failures[spec_no] += 1
                return None
            self._destroy(eligible[0])
        self.flows = [f for f in self.flows if f.dead > now]
        flow = Flow(keys=(key, reply), to=((ns, nd, nsp, ndp), (d, s, dp, sp)), outs=outs,
                    proto=proto, spec=spec_no, born=self.born)
        self.born += 1
        flow.bexp, flow.gexp, flow.dead = now + cls[0], now + cls[3], now + max(cls[0], cls[3])
        ipd = [_delta(zip(_words(s) + _words(d), _words(ns) + _words(nd))),
               _delta(zip(_words(nd) + _words(ns), _words(d) + _words(s)))]
        if self.icmp:
            l4d = [_delta([(sp, nsp)]), _delta([(nsp, sp)])]
        else:
            l4d = [_delta(zip(_words(s) + _words(d) + [sp, dp],
                              _words(ns) + _words(nd) + [nsp, ndp])),
                   _delta(zip(_words(nd) + _words(ns) + [ndp, nsp],
                              _words(d) + _words(s) + [dp, sp]))]
        flow.deltas = list(zip(ipd, l4d))
        self.flows.append(flow)
        self.count[spec_no] += 1
        self.table[key] = (flow, 0)
        self.table[reply] = (flow, 1)
        return flow

    # -- packets -------------------------------------------------------------------------
    def process(self, pkt, inp: int) -> int:
        l3 = pkt.l3
        room = pkt.head + pkt.length - l3
        if l3 < pkt.head or room < 20:
            return DROP_NO_IP
        hl = (pkt.buf[l3] & 0x0F) * 4
        if hl < 20 or hl > room:
            return DROP_NO_IP
        ip_len = pkt.u16(l3 + 2)
        end = min(l3 + room, l3 + ip_len)
        proto, l4 = pkt.buf[l3 + 9], l3 + hl
        first = not pkt.u16(l3 + 6) & 0x1FFF
        spec_no = min(inp, len(self.specs) - 1)
        spec = self.specs[spec_no]
        if self.icmp:
            handled = proto == 1 and first and end - l4 >= 6 and pkt.buf[l4] in (0, 8)
        else:
            handled = proto in (6, 17) and first and end - l4 >= 8
        if not handled:
            return spec.foutput if spec.kind == PASS else DROP_UNHANDLED
        s, d = pkt.u32(l3 + 12), pkt.u32(l3 + 16)
        if self.icmp:
            echo = pkt.buf[l4] == 8
            ident = pkt.u16(l4 + 4)
            sp, dp = (ident + (not echo)) & 0xFFFF, (ident + echo) & 0xFFFF
        else:
            sp, dp = pkt.u16(l4), pkt.u16(l4 + 2)
        key = (s, d, sp, dp, proto)
        now = pkt.timestamp
        hit = self._find(key, now)
        if hit is None:
            if spec.kind == PASS:
                return spec.foutput
            if spec.kind == DROP or (self.icmp and not echo):
                return DROP_NO_MAPPING
            flow = self._create(spec_no, key, now)
            if flow is None:
                return DROP_FAILURE
            hit = (flow, 0)
        flow, direction = hit
        ns, nd, nsp, ndp = flow.to[direction]
        ipd, l4d = flow.deltas[direction]
        pkt.put32(l3 + 12, ns)
        pkt.put32(l3 + 16, nd)
        pkt.put16(l3 + 10, _patch(pkt.u16(l3 + 10), ipd))
        pkt.saddr, pkt.daddr = ns, nd
        if self.dst_anno:
            pkt.dst_anno = nd
        if self.icmp:
            pkt.put16(l4 + 4, nsp if direction == 0 else ndp)
            pkt.put16(l4 + 2, _patch(pkt.u16(l4 + 2), l4d))
        elif proto == 17:
            pkt.put16(l4, nsp)
            pkt.put16(l4 + 2, ndp)
            if pkt.u16(l4 + 6):
                pkt.put16(l4 + 6, _patch(pkt.u16(l4 + 6), l4d) or 0xFFFF)
            pkt.sport, pkt.dport = nsp, ndp
            flow.state |= direction
            flow.state += 2 if flow.state < 6 else 0
        elif end - l4 >= 18:
            pkt.put16(l4, nsp)
            pkt.put16(l4 + 2, ndp)
            pkt.put16(l4 + 16, _patch(pkt.u16(l4 + 16), l4d))
            pkt.sport, pkt.dport = nsp, ndp
            flags = pkt.buf[l4 + 13]
            payload = hl + (pkt.buf[l4 + 12] >> 4) * 4 < ip_len
            if flags & 0x04:
                flow.state |= 3
            elif flags & 0x01:
                flow.state |= 1 << direction
            elif flags & 0x02 or payload:
                flow.state &= ~(1 << direction)
            if payload:
                flow.state |= 4 << direction
        pkt.flow_hash = int(flow_hash5(pkt.saddr, pkt.daddr, pkt.sport, pkt.dport, proto))
        self._restart(flow, now)
        return flow.outs[direction]
