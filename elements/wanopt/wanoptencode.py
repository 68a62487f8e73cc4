"""WanOptEncode: replaces payload chunks the far end has already seen by references."""

from __future__ import annotations

import numpy as np

from elements.batch import F_FRAG, F_IP
from elements.jit import inlined
from elements.net import fold, ip_end, ip_room, sum16, wr16
from elements.wanopt.recache import (
    C_MIN,
    C_PROTO,
    LITERAL_HEAD,
    REF_SIZE,
    SHIM,
    SHIM_VERSION,
    T_LITERAL,
    T_REF,
    WanOptElement,
    cached,
    chunk_end,
    fingerprint,
    insert,
    learn,
    put_payload,
)

# Indices into the stats array.
S_ENCODED, S_RAW, S_SKIPPED, S_BYTES_IN, S_BYTES_OUT, S_REFS, S_LITERALS = range(7)
STAT_NAMES = ("encoded", "not_smaller", "skipped", "bytes_in", "bytes_out", "refs", "literals")


@inlined
def _encode(c, row, start, end):
    """Encode ``row[start:end]`` into ``c.out`` after the shim; the encoded size, or -1
    when it would not be smaller. Lists the chunks in ``c.chunks``."""
    n = end - start
    o = SHIM
    k = start
    nch = 0
    while k < end:
        e = chunk_end(c, row, k, end)
        ln = e - k
        fp = fingerprint(row, k, ln)
        if ln >= c.params[C_MIN] and cached(c, fp, row, k, ln):
            if o + REF_SIZE >= n:
                return -1
            c.out[o] = T_REF
            for j in range(8):
                c.out[o + 1 + j] = np.uint8((fp >> np.uint64(56 - 8 * j)) & np.uint64(0xFF))
            o += REF_SIZE
            c.chunks[nch, 3] = 1
        else:
            if o + LITERAL_HEAD + ln >= n:
                return -1
            c.out[o] = T_LITERAL
            wr16(c.out, o + 1, ln)
            for j in range(ln):
                c.out[o + LITERAL_HEAD + j] = row[k + j]
            o += LITERAL_HEAD + ln
            c.chunks[nch, 3] = 0
        c.chunks[nch, 0] = k
        c.chunks[nch, 1] = ln
        c.chunks[nch, 2] = np.int64(fp)
        nch += 1
        k = e
    c.chunks[nch, 1] = 0  # end marker
    return o


@inlined
def wanoptencode_kernel(b, i, c, inp):
    st = c.stats
    if not (b.flags[i] & F_IP) or b.flags[i] & F_FRAG or ip_room(b, i) < 20:
        st[S_SKIPPED] += 1
        return 0
    proto = c.params[C_PROTO]
    row = b.data[i]
    l3 = b.l3[i]
    if row[l3 + 9] == proto:
        st[S_SKIPPED] += 1
        return 0
    l4 = b.l4[i]
    end = ip_end(b, i)
    if l4 > end:
        st[S_SKIPPED] += 1
        return 0
    st[S_BYTES_IN] += end - l3
    o = _encode(c, row, l4, end)
    if o < 0:
        learn(c, row, l4, end)
        st[S_RAW] += 1
        st[S_BYTES_OUT] += end - l3
        return 0
    k = 0
    while c.chunks[k, 1] > 0:  # commit: literal chunks into the cache, in order
        if not c.chunks[k, 3]:
            st[S_LITERALS] += 1
            if c.chunks[k, 1] >= c.params[C_MIN]:
                insert(c, np.uint64(c.chunks[k, 2]), row, c.chunks[k, 0], c.chunks[k, 1])
        else:
            st[S_REFS] += 1
        k += 1
    c.out[0] = SHIM_VERSION
    c.out[1] = row[l3 + 9]
    c.out[2] = row[l3 + 10]
    c.out[3] = row[l3 + 11]
    total = put_payload(b, i, l3, l4, c.out, o, proto)
    wr16(row, l3 + 10, 0)
    wr16(row, l3 + 10, fold(sum16(row, l3, l4 - l3)))
    st[S_ENCODED] += 1
    st[S_BYTES_OUT] += total
    return 0


class WanOptEncode(WanOptElement):
    """Shrink IP packets by replacing payload chunks already sent by short references
    (packet-level redundancy elimination, the encoding end of a WAN optimizer).

    The IP payload (transport header and data) is cut into content-defined chunks
    (gear hash); a chunk whose bytes are in the chunk cache becomes a 9-byte reference,
    the others travel as literals and enter the cache. The packet is sent encoded —
    IP protocol ``protocol``, a 4-byte shim keeping the original protocol and header
    checksum, then the tokens (wire format: ``elements.wanopt.recache``) — only when
    that is smaller; otherwise it passes unchanged and its chunks enter the cache (the
    decoder learns them from the unchanged packet). The
    outer header's total length and checksum are recomputed; Ethernet padding after
    the IP packet is dropped. Not encoded (counted ``skipped``): packets without IP
    annotations, fragments, packets already of protocol ``protocol``.

    The decoder (WanOptDecode, same settings) must see the encoded packets in order and
    without loss.

    Ports: ``1/1``.

    Example::

        elements:
          chk: {kind: CheckIPHeader}
          re: {kind: WanOptEncode, config: {cache_slots: 8192}}
        connections:
          - in -> chk -> re -> out

    Counters: ``encoded``, ``not_smaller``, ``skipped``, ``bytes_in``, ``bytes_out``
    (IP bytes), ``refs``, ``literals`` (chunks).

    See also: WanOptDecode, CheckIPHeader.
    """

    reads = ("ip", "payload", "head", "length", "l3", "l4", "flags")
    kernel = staticmethod(wanoptencode_kernel)
    stat_names = STAT_NAMES
