"""Print: a tcpdump-like line per packet, for debugging graphs."""

from __future__ import annotations

import sys

import numpy as np
from pydantic import Field

from elements.element import Element, ElementConfig
from elements.io.pcapfile import copy_bytes
from elements.jit import inlined

HEADER_BYTES = 128  # captured per packet for the line: headers up to l3 + IP + TCP options
RING = 4096  # packets a batch may bring before the ring is full (the rest are missed)

# state[4] (``meta``): packets in the ring, recorded in all, missed, missed and reported.
M_USED, M_SEEN, M_MISSED, M_REPORTED = 0, 1, 2, 3


@inlined
def print_kernel(b, i, s, inp):
    ring, lengths, stamps, l3s, meta = s
    k = meta[M_USED]
    if k >= ring.shape[0]:
        meta[M_MISSED] += 1
        return 0
    h = b.head[i]
    n = b.length[i]
    keep = ring.shape[1]
    copy_bytes(ring[k], 0, b.data[i], h, min(keep, n))
    lengths[k] = n
    stamps[k] = b.timestamp[i]
    l3s[k] = b.l3[i] - h if b.l3[i] >= 0 else -1
    meta[M_USED] = k + 1
    meta[M_SEEN] += 1
    return 0


def _ip(data: bytes, off: int) -> str:
    return ".".join(str(x) for x in data[off : off + 4])


def _u16(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 2], "big")


def _u32(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 4], "big")


TCP_FLAG_LETTERS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x20, "U"),
                    (0x10, "."))
ICMP_TYPES = {0: "echo reply", 3: "unreachable", 5: "redirect", 8: "echo request",
              11: "time exceeded"}


def describe(data: bytes, l3: int) -> str:
    """The tcpdump-like description of a packet whose first bytes are ``data`` and
    whose IPv4 header starts at ``l3`` (or with an Ethernet type at 12 when ``l3`` is
    14 and the type is not IPv4)."""
    if l3 == 14 and len(data) >= 14 and _u16(data, 12) != 0x0800:
        return f"ether type 0x{_u16(data, 12):04x}"
    if l3 < 0 or len(data) < l3 + 20:
        return "truncated-ip"
    if data[l3] >> 4 != 4:
        return f"ip version {data[l3] >> 4}"
    ihl = (data[l3] & 0x0F) * 4
    src, dst = _ip(data, l3 + 12), _ip(data, l3 + 16)
    if ihl < 20 or len(data) < l3 + ihl:
        return f"{src} > {dst}: bad-ip-header hlen {ihl}"
    ip_len, proto, frag = _u16(data, l3 + 2), data[l3 + 9], _u16(data, l3 + 6)
    body = ip_len - ihl
    if frag & 0x1FFF:
        more = "+" if frag & 0x2000 else ""
        return f"{src} > {dst}: (frag {_u16(data, l3 + 4)}:{body}@{(frag & 0x1FFF) * 8}{more})"
    l4 = l3 + ihl
    if proto == 6 and len(data) >= l4 + 20:
        flags = data[l4 + 13]
        letters = "".join(c for bit, c in TCP_FLAG_LETTERS if flags & bit) or "none"
        seq, payload = _u32(data, l4 + 4), body - (data[l4 + 12] >> 4) * 4
        text = (f"{src}.{_u16(data, l4)} > {dst}.{_u16(data, l4 + 2)}: {letters}"
                f" {seq}:{(seq + max(payload, 0)) & 0xFFFFFFFF}({payload})")
        if flags & 0x10:
            text += f" ack {_u32(data, l4 + 8)}"
        return text + f" win {_u16(data, l4 + 14)}"
    if proto == 17 and len(data) >= l4 + 8:
        return f"{src}.{_u16(data, l4)} > {dst}.{_u16(data, l4 + 2)}: udp {_u16(data, l4 + 4) - 8}"
    if proto == 1 and len(data) >= l4 + 8:
        kind = ICMP_TYPES.get(data[l4], f"type {data[l4]} code {data[l4 + 1]}")
        if data[l4] in (0, 8):
            kind += f" id {_u16(data, l4 + 4)} seq {_u16(data, l4 + 6)}"
        return f"{src} > {dst}: icmp {kind}"
    name = {1: "icmp", 6: "tcp", 17: "udp"}.get(proto)
    return f"{src} > {dst}: {name + ' (truncated)' if name else f'ip-proto-{proto} {body}'}"


def hex_groups(data: bytes) -> str:
    """Bytes as Click's Print shows them: 4-byte groups of hex digits."""
    text = data.hex()
    return " ".join(text[k : k + 8] for k in range(0, len(text), 8))


class PrintConfig(ElementConfig):
    label: str = Field(default="", description="text before each line (Click's LABEL)")
    maxlength: int = Field(default=0, ge=0, le=2048,
                           description="bytes of hex dump after the line, 0 for none"
                           " (Click's Print LENGTH)")
    timestamp: bool = Field(default=True, description="show the packet's timestamp (s.µs)")
    offset: int = Field(default=14, ge=0, le=512,
                        description="where the IP header is when no parser set l3:"
                        " 14 for Ethernet, 0 for raw IP (Click's IPPrint offset)")
    file: str | None = Field(default=None, description="write lines to this file (made"
                             " empty when the run starts) instead of stdout (Click's IPPrint"
                             " OUTFILE)")


class Print(Element):
    """Print a tcpdump-like line for each packet, then pass it on unchanged
    (Click's Print and IPPrint).

    A line reads ``label: 1700000000.000001 10.0.0.1.1234 > 192.168.1.1.80: S.
    7:7(0) ack 2000 win 65535 len 54``: timestamp (s.µs), addresses and ports, TCP
    flags (``F S R P U`` and ``.`` for ACK), ``seq:end(payload bytes)``, ack,
    window, and the packet's length at this point; UDP shows ``udp <payload
    bytes>``, ICMP its type, non-first fragments ``(frag id:bytes@offset)``. The IP
    header is at ``l3`` when a parser set it, else at ``offset`` from the head.
    With ``maxlength`` the line ends with `` | `` and that many bytes in hex.

    The kernel cannot print: it copies the packet's first bytes, as they are at this
    point of the graph, into a ring, and ``flush`` writes the lines after the batch.
    A batch that brings more than the ring holds (4096 packets) has the rest
    counted as ``missed`` and reported in one line.

    Ports: ``1/1``.

    Example::

        elements:
          p: {kind: Print, config: {label: in, maxlength: 16}}

    Counters: ``count`` (lines printed), ``missed``. See also: ToPcap, Counter.
    """

    ports = "1/1"
    Config = PrintConfig
    reads = ("head", "length", "timestamp", "l3")
    state_kind = "global"
    kernel = staticmethod(print_kernel)

    def make_state(self, n_outputs: int) -> tuple:
        if self.config.file is not None:
            open(self.config.file, "w").close()
        keep = max(HEADER_BYTES, self.config.maxlength)
        return (np.zeros((RING, keep), np.uint8), np.zeros(RING, np.int32),
                np.zeros(RING, np.int64), np.zeros(RING, np.int32), np.zeros(4, np.int64))

    def line(self, data: bytes, length: int, timestamp: int, l3: int) -> str:
        """The line for one packet (``data``: its first bytes; ``l3`` relative to them)."""
        c = self.config
        parts = [f"{c.label}:"] if c.label else []
        if c.timestamp:
            sec, ns = divmod(timestamp, 1_000_000_000)
            parts.append(f"{sec}.{ns // 1000:06d}")
        parts.append(describe(data[:length], c.offset if l3 < 0 else l3))
        parts.append(f"len {length}")
        text = " ".join(parts)
        if c.maxlength:
            text += " | " + hex_groups(data[: min(length, c.maxlength)])
        return text

    def flush(self, state: tuple) -> None:
        ring, lengths, stamps, l3s, meta = state
        out = [self.line(ring[k].tobytes(), int(lengths[k]), int(stamps[k]), int(l3s[k]))
               for k in range(int(meta[M_USED]))]
        if meta[M_MISSED] > meta[M_REPORTED]:
            missed = int(meta[M_MISSED] - meta[M_REPORTED])
            meta[M_REPORTED] = meta[M_MISSED]
            label = f"{self.config.label}: " if self.config.label else ""
            out.append(f"{label}... {missed} packets not shown (more than {RING} in a batch)")
        meta[M_USED] = 0
        if not out:
            return
        text = "\n".join(out) + "\n"
        if self.config.file is None:
            sys.stdout.write(text)
        else:
            with open(self.config.file, "a") as f:
                f.write(text)

    def counters(self, state: tuple) -> dict[str, int]:
        return {"count": int(state[4][M_SEEN]), "missed": int(state[4][M_MISSED])}

    def reference(self, pkt, inp: int) -> int:
        return 0
