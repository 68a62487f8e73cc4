"""WanOptDecode: restores packets encoded by WanOptEncode from its mirror chunk cache."""

from __future__ import annotations

import numpy as np

from elements.batch import F_FRAG, F_IP
from elements.element import drop
from elements.jit import inlined
from elements.net import ip_end, ip_room, rd16, rd32
from elements.wanopt.recache import (
    C_MASK,
    C_MAX,
    C_MIN,
    C_PROTO,
    LITERAL_HEAD,
    REF_SIZE,
    SHIM,
    SHIM_VERSION,
    T_LITERAL,
    T_REF,
    WanOptElement,
    fingerprint,
    insert,
    learn,
    put_payload,
)

S_DECODED, S_PASSED, S_LEARNED, S_BYTES_IN, S_BYTES_OUT = range(5)
STAT_NAMES = ("decoded", "passed", "learned", "bytes_in", "bytes_out")


@inlined
def _decode(c, row, start, end, room):
    """Decode the tokens in ``row[start:end]`` into ``c.out``: the decoded size, or
    -1 - k for drop reason k. Literal chunks are listed in ``c.chunks``."""
    o = 0
    k = start
    nch = 0
    while k < end:
        t = row[k]
        if t == T_LITERAL:
            if k + LITERAL_HEAD > end:
                return -1
            ln = rd16(row, k + 1)
            if ln == 0 or ln > c.params[C_MAX] or k + LITERAL_HEAD + ln > end:
                return -1
            if o + ln > room:
                return -3
            for j in range(ln):
                c.out[o + j] = row[k + LITERAL_HEAD + j]
            if nch >= c.chunks.shape[0] - 1:
                return -1
            c.chunks[nch, 0] = o
            c.chunks[nch, 1] = ln
            nch += 1
            o += ln
            k += LITERAL_HEAD + ln
        elif t == T_REF:
            if k + REF_SIZE > end:
                return -1
            fp = (np.uint64(rd32(row, k + 1)) << np.uint64(32)) | np.uint64(rd32(row, k + 5))
            slot = np.int64(fp & np.uint64(c.params[C_MASK]))
            ln = c.length[slot]
            if ln == 0 or c.fp[slot] != fp:
                return -2
            if o + ln > room:
                return -3
            for j in range(ln):
                c.out[o + j] = c.data[slot, j]
            o += ln
            k += REF_SIZE
        else:
            return -1
    c.chunks[nch, 1] = 0
    return o


@inlined
def wanoptdecode_kernel(b, i, c, inp):
    st = c.stats
    if not (b.flags[i] & F_IP) or ip_room(b, i) < 20:
        st[S_PASSED] += 1
        return 0
    row = b.data[i]
    l3 = b.l3[i]
    l4 = b.l4[i]
    end = ip_end(b, i)
    if row[l3 + 9] != c.params[C_PROTO]:
        st[S_PASSED] += 1
        if not (b.flags[i] & F_FRAG) and l4 <= end:  # the encoder learnt it: learn it too
            learn(c, row, l4, end)
            st[S_LEARNED] += 1
        return 0
    if b.flags[i] & F_FRAG:
        return drop(3)
    if l4 + SHIM > end or row[l4] != SHIM_VERSION:
        return drop(0)
    room = row.shape[0] - l4  # the decoded payload must fit the slot...
    room = min(room, 0xFFFF - (l4 - l3))
    o = _decode(c, row, l4 + SHIM, end, room)
    if o < 0:
        return drop(-1 - o)
    st[S_BYTES_IN] += end - l3
    k = 0
    while c.chunks[k, 1] > 0:
        ln = c.chunks[k, 1]
        if ln >= c.params[C_MIN]:
            off = c.chunks[k, 0]
            insert(c, fingerprint(c.out, off, ln), c.out, off, ln)
        k += 1
    proto = row[l4 + 1]
    check_hi = row[l4 + 2]
    check_lo = row[l4 + 3]
    total = put_payload(b, i, l3, l4, c.out, o, proto)
    row[l3 + 10] = check_hi
    row[l3 + 11] = check_lo
    st[S_DECODED] += 1
    st[S_BYTES_OUT] += total
    return 0


class WanOptDecode(WanOptElement):
    """Restore the exact IP packets WanOptEncode encoded, from a mirror of its chunk
    cache (the decoding end of a WAN optimizer).

    Packets of IP protocol ``protocol`` are decoded: literal chunks are copied, each
    reference is replaced by the cached chunk whose fingerprint it names; the original
    protocol and header checksum come back from the shim, the total length from the
    decoded size, so the packet is byte for byte the one that entered the encoder.
    Then the literal chunks enter the cache, as in the encoder. Other packets pass
    unchanged (``passed``); those the encoder could have encoded (not fragments) teach
    the cache their chunks (``learned``), as they taught the encoder's. Needs IP annotations (CheckIPHeader upstream). Settings must
    equal the encoder's.

    Drops: ``malformed`` (no or unknown shim, a token cut short or of unknown type, a
    literal longer than ``max_chunk``), ``cache_miss`` (a reference to a chunk the cache
    does not hold: loss or reordering between the ends), ``too_big`` (the decoded packet
    would not fit a slot or an IP length), ``fragment`` (encoded packets fragmented on
    the way: reassemble first). A dropped packet leaves the cache alone.

    Ports: ``1/1``.

    Example::

        elements:
          chk: {kind: CheckIPHeader}
          unre: {kind: WanOptDecode, config: {cache_slots: 8192}}
        connections:
          - in -> chk -> unre -> out

    Counters: ``decoded``, ``passed``, ``learned``, ``bytes_in``, ``bytes_out`` and the drop reasons.

    See also: WanOptEncode.
    """

    reads = ("ip", "payload", "head", "length", "l3", "l4", "flags", "proto")
    drops = ("malformed", "cache_miss", "too_big", "fragment")
    kernel = staticmethod(wanoptdecode_kernel)
    stat_names = STAT_NAMES
