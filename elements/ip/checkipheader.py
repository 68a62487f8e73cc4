"""CheckIPHeader: checks the IPv4 header, trims padding, marks the header."""

from __future__ import annotations

import ipaddress

import numpy as np
from pydantic import Field

from elements.element import Element, ElementConfig, drop
from elements.jit import inlined
from elements.net import (
    IPv4Address,
    IPv4Interface,
    fold,
    internet_checksum,
    ipv4_int,
    mark_ip,
    mark_ip_reference,
    marks_kept_by,
    rd16,
    rd32,
    sum16,
)

# Click's reasons, in Click's order of checking.
REASONS = ("tiny_packet", "bad_version", "bad_hlen", "bad_ip_len", "bad_checksum", "bad_saddr")
OFFSET, CHECKSUM, OUTPUTS = range(3)  # indices into the parameter array


@inlined
def _bad(s, reason):
    s[3][reason] += 1
    return 1 if s[0][OUTPUTS] >= 2 else drop(reason)


@inlined
def _listed(addrs, a):
    for k in range(addrs.shape[0]):
        if addrs[k] == a:
            return True
    return False


@inlined
def checkipheader_kernel(b, i, s, inp):
    param, bad_src, good_dst = s[0], s[1], s[2]
    off = param[OFFSET]
    plen = b.length[i] - off
    if plen < 20:
        return _bad(s, 0)
    row = b.data[i]
    l3 = b.head[i] + off
    if row[l3] >> 4 != 4:
        return _bad(s, 1)
    hlen = (row[l3] & 0x0F) * 4
    if hlen < 20:
        return _bad(s, 2)
    ip_len = rd16(row, l3 + 2)
    if ip_len > plen or ip_len < hlen:
        return _bad(s, 3)
    if param[CHECKSUM] and fold(sum16(row, l3, hlen)) != 0:
        return _bad(s, 4)
    if _listed(bad_src, rd32(row, l3 + 12)) and not _listed(good_dst, rd32(row, l3 + 16)):
        return _bad(s, 5)
    b.length[i] -= plen - ip_len
    mark_ip(b, i, l3)
    b.dst_anno[i] = b.daddr[i]
    return 0


class CheckIPHeaderConfig(ElementConfig):
    offset: int = Field(0, ge=0, le=1024,
        description="where the IP header starts in the packet (Click's OFFSET)")
    interfaces: list[IPv4Interface] | None = Field(
        None, description="this router's addresses with prefixes, 18.26.4.9/24: their broadcast"
        " addresses, 0.0.0.0 and 255.255.255.255 become bad sources, the addresses good"
        " destinations (Click's INTERFACES)")
    badsrc: list[IPv4Address] | None = Field(
        None, description="source addresses to reject; replaces the list INTERFACES makes"
        " (Click's BADSRC; default: none)")
    gooddst: list[IPv4Address] | None = Field(
        None, description="destinations exempt from the source check; replaces the list"
        " INTERFACES makes (Click's GOODDST; default: none)")
    checksum: bool = Field(True, description="verify the header checksum (Click's CHECKSUM)")

    def address_lists(self) -> tuple[list[int], list[int]]:
        """(bad sources, good destinations) as Click builds them, host order."""
        bad, good = [], []
        if self.interfaces is not None:
            nets = [ipaddress.IPv4Interface(a) for a in self.interfaces]
            bad = [int(n.network.broadcast_address) for n in nets] + [0, 0xFFFFFFFF]
            good = [int(n.ip) for n in nets]
        if self.badsrc is not None:
            bad = [ipv4_int(a) for a in self.badsrc]
        if self.gooddst is not None:
            good = [ipv4_int(a) for a in self.gooddst]
        return bad, good


class CheckIPHeader(Element):
    """Check the IPv4 header ``offset`` bytes into each packet (Click's CheckIPHeader).

    In Click's order, a packet is bad when: fewer than 20 bytes follow ``offset``
    (``tiny_packet``); the version is not 4 (``bad_version``); the IHL is below 5
    (``bad_hlen``); the total length exceeds the bytes present or is shorter than the
    header (``bad_ip_len``); the header checksum is wrong, unless ``checksum: false``
    (``bad_checksum``); the source is a bad source and the destination not a good
    destination (``bad_saddr``, RFC 1812 5.3.7: see ``interfaces``, ``badsrc``,
    ``gooddst``). A good packet is trimmed to the IP total length (Ethernet padding
    goes), gets ``l3``, ``l4``, the 5-tuple, fragment flags and flow hash (as
    MarkIPHeader), and ``dst_anno`` = its destination (current Click always sets it),
    and leaves by output 0. A bad packet leaves by output 1 when that is connected,
    else it is dropped under its reason; either way it is counted under its reason.

    Ports: ``1/1-2``.

    Example::

        elements:
          check: {kind: CheckIPHeader, config: {offset: 14, interfaces: [10.0.0.1/24]}}
          bad: {kind: Discard}
        connections:
          - in -> check -> out
          - check[1] -> bad

    Counters: ``bad_packets`` (Click's ``drops``) and one per reason (Click's
    ``drop_details``): ``tiny_packet``, ``bad_version``, ``bad_hlen``, ``bad_ip_len``,
    ``bad_checksum``, ``bad_saddr``; the same names are the drop reasons.
    See also: MarkIPHeader, SetIPChecksum, DecIPTTL.
    """

    ports = "1/1-2"
    Config = CheckIPHeaderConfig
    reads = ("head", "length", "ip", "l4.ports")
    writes = ("length", "l3", "l4", "flags", "proto", "saddr", "daddr", "sport", "dport",
              "flow_hash", "dst_anno")
    drops = REASONS
    idempotent = True
    kernel = staticmethod(checkipheader_kernel)

    def same_work(self, earlier: Element, shift: int) -> bool:
        """The same checks of the same header: equal configs but for the offset, which
        must name the same bytes after the head moved by ``shift``."""
        if type(earlier) is not CheckIPHeader:
            return False
        mine = self.config.model_copy(update={"offset": earlier.config.offset})
        return mine == earlier.config and earlier.config.offset == self.config.offset + shift

    def unaffected_by(self, writer: Element) -> bool:
        """A checksum-preserving rewrite that keeps the parse annotations in step keeps
        a valid header valid; only the address lists could change the verdict, so they
        must be empty, and a new destination must come with its ``dst_anno``."""
        bad, good = self.config.address_lists()
        new_dst = "ip.dst" in writer.writes and "dst_anno" not in writer.writes
        return marks_kept_by(writer) and not bad and not good and not new_dst
    n_outputs = 1  # set by make_state: the reference routes as the kernel does

    def make_state(self, n_outputs: int) -> tuple:
        self.n_outputs = n_outputs
        self.ref_counts = [0] * len(REASONS)
        bad, good = self.config.address_lists()
        param = np.array([self.config.offset, self.config.checksum, n_outputs], np.int64)
        return (param, np.array(bad, np.uint32), np.array(good, np.uint32),
                np.zeros(len(REASONS), np.int64))

    def counters(self, state: tuple) -> dict[str, int]:
        counts = state[3]
        return {"bad_packets": int(counts.sum()),
                **{r: int(n) for r, n in zip(REASONS, counts)}}

    def reference(self, pkt, inp: int) -> int:
        reason = self._check(pkt)
        if reason is None:
            return 0
        self.ref_counts[REASONS.index(reason)] += 1
        return 1 if self.n_outputs >= 2 else -1 - REASONS.index(reason)

    def _check(self, pkt) -> str | None:
        off = self.config.offset
        plen = pkt.length - off
        if plen < 20:
            return "tiny_packet"
        l3 = pkt.head + off
        header = pkt.buf[l3 : l3 + 20]
        if header[0] >> 4 != 4:
            return "bad_version"
        hlen = (header[0] & 15) * 4
        if hlen < 20:
            return "bad_hlen"
        ip_len = int.from_bytes(header[2:4], "big")
        if not hlen <= ip_len <= plen:
            return "bad_ip_len"
        if self.config.checksum and internet_checksum(pkt.buf[l3 : l3 + hlen]) != 0:
            return "bad_checksum"
        bad, good = self.config.address_lists()
        if pkt.u32(l3 + 12) in bad and pkt.u32(l3 + 16) not in good:
            return "bad_saddr"
        pkt.length = off + ip_len
        mark_ip_reference(pkt, l3)
        pkt.dst_anno = pkt.daddr
        return None
