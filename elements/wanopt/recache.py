"""Redundancy elimination shared by WanOptEncode and WanOptDecode: content-defined
chunking, chunk fingerprints, and the chunk cache both ends keep in step.

Chunking (gear hash, as FastCDC): ``h = (h << 1) + GEAR[byte]`` from each chunk's first
byte; a chunk ends after byte ``k`` when it holds at least ``min_chunk`` bytes and the
top bits ``h & avg_mask`` are zero, or when it reaches ``max_chunk``. Boundaries depend
only on content, so a repeated run of bytes is cut the same way wherever it occurs.

Fingerprint: FNV-1a 64 of the chunk's bytes. The cache is direct mapped:
``slots`` entries (a power of two), a chunk goes to slot ``fp & (slots - 1)`` and
replaces what was there. Only chunks of at least ``min_chunk`` bytes are cached or
referenced (a shorter one is a payload's tail, not worth a 9-byte reference).

Wire format of an encoded packet (IP protocol ``protocol``, default 253, RFC 3692
experimental)::

    IP header (the original's, options kept; protocol, total length, checksum changed)
    shim:  version=1 (u8) | original protocol (u8) | original header checksum (u16)
    tokens, until the end of the IP packet:
      0x00 | length (u16) | length bytes      a literal chunk
      0x01 | fingerprint (u64)                a cached chunk

The original IP payload is the concatenation of the chunks; the original total
length is the IP header length plus that. All integers are big endian.

Keeping the caches in step: both ends decide on a whole packet against the cache as
it was before the packet, then insert the packet's chunks of at least ``min_chunk``
bytes in order. An encoded packet inserts its literal chunks (its references are
already there). A packet the encoder sends unchanged because encoding would not make
it smaller still teaches both caches: the encoder inserts its chunks, and the decoder
chunks every packet it passes that the encoder could have encoded (IPv4, not a
fragment, not of protocol ``protocol``) the same way and inserts them too — so
non-redundant traffic costs no extra bytes on the link. This needs the decoder to see
exactly the encoder's output, in order and without loss; a reference whose
fingerprint is not in the decoder's slot (loss, reordering, other traffic, different
settings) drops the packet as ``cache_miss`` — never wrong bytes.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import numpy as np
from pydantic import Field, model_validator

from elements.batch import SLOT_SIZE
from elements.element import Element, ElementConfig
from elements.flowtable import zeroed
from elements.jit import inlined
from elements.net import mark_ip, wr16

SHIM = 4
SHIM_VERSION = 1
T_LITERAL, T_REF = 0, 1
LITERAL_HEAD, REF_SIZE = 3, 9
FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
GEAR = np.random.default_rng(0x6765617221).integers(0, 2**63, 256, dtype=np.int64).astype(np.uint64)

# Indices into Cache.params.
C_MASK, C_MIN, C_AVG_MASK, C_MAX, C_PROTO = range(5)


class Cache(NamedTuple):
    fp: np.ndarray  # uint64[slots]: fingerprint of the chunk in the slot
    length: np.ndarray  # int32[slots]: its length (0: empty)
    data: np.ndarray  # uint8[slots, max_chunk]: its bytes
    gear: np.ndarray  # uint64[256]
    params: np.ndarray  # int64: slot mask, min_chunk, average mask, max_chunk, protocol
    out: np.ndarray  # uint8[SLOT_SIZE]: scratch for the packet being built
    chunks: np.ndarray  # int64[n, 4]: scratch: offset, length, fingerprint, 1 if a reference
    stats: np.ndarray  # int64: per element counters


class REConfig(ElementConfig):
    """Settings both ends must share."""

    cache_slots: int = Field(4096, ge=16, le=1 << 20, description="chunk cache entries, a power of two")
    min_chunk: int = Field(32, ge=16, le=1024, description="smallest chunk (and smallest cached)")
    avg_chunk: int = Field(64, ge=16, le=1024, description="expected chunk size, a power of two")
    max_chunk: int = Field(256, ge=16, le=1024, description="largest chunk (bytes per cache entry)")
    protocol: int = Field(253, ge=0, le=255, description="IP protocol number of encoded packets")

    @model_validator(mode="after")
    def _sizes(self):
        for name in ("cache_slots", "avg_chunk"):
            value = getattr(self, name)
            if value & (value - 1):
                raise ValueError(f"{name} must be a power of two, found {value}")
        if not self.min_chunk <= self.avg_chunk <= self.max_chunk:
            raise ValueError("need min_chunk <= avg_chunk <= max_chunk, found "
                             f"{self.min_chunk}, {self.avg_chunk}, {self.max_chunk}")
        return self


def make_cache(config: REConfig, n_stats: int) -> Cache:
    params = np.array([config.cache_slots - 1, config.min_chunk, config.avg_chunk - 1,
                       config.max_chunk, config.protocol], np.int64)
    return Cache(
        fp=zeroed(config.cache_slots, np.uint64),
        length=zeroed(config.cache_slots, np.int32),
        data=zeroed((config.cache_slots, config.max_chunk), np.uint8),
        gear=GEAR.copy(),
        params=params,
        out=np.zeros(SLOT_SIZE, np.uint8),
        chunks=np.zeros((SLOT_SIZE // config.min_chunk + 2, 4), np.int64),
        stats=np.zeros(n_stats, np.int64),
    )


class WanOptElement(Element, register=False):
    """Base of WanOptEncode and WanOptDecode: the shared settings, one port each way,
    the chunk cache as global state and its ``stats`` reported as ``stat_names``."""

    ports = "1/1"
    Config = REConfig
    writes = ("ip", "ip.sum", "payload", "length", "l4", "flags", "proto", "sport", "dport",
              "flow_hash")
    state_kind = "global"  # the chunk cache
    stat_names: ClassVar[tuple[str, ...]] = ()

    def make_state(self, n_outputs: int) -> Cache:
        return make_cache(self.config, len(self.stat_names))

    def counters(self, state: Cache) -> dict[str, int]:
        return {name: int(state.stats[k]) for k, name in enumerate(self.stat_names)}


@inlined
def chunk_end(c, data, start, end):
    """Where the chunk that starts at ``start`` ends (exclusive), at most ``end``."""
    lo = start + c.params[C_MIN]
    hi = start + c.params[C_MAX]
    hi = min(hi, end)
    if lo >= hi:
        return hi
    mask = np.uint64(c.params[C_AVG_MASK]) << np.uint64(40)  # test high bits: they mix best
    h = np.uint64(0)
    for k in range(start, hi):
        h = (h << np.uint64(1)) + c.gear[data[k]]
        if k + 1 >= lo and (h & mask) == 0:
            return k + 1
    return hi


@inlined
def fingerprint(data, start, n):
    h = FNV_OFFSET
    for k in range(start, start + n):
        h = (h ^ np.uint64(data[k])) * FNV_PRIME
    return h


@inlined
def cached(c, fp, data, start, n):
    """The cache holds exactly these ``n`` bytes under ``fp``."""
    slot = np.int64(fp & np.uint64(c.params[C_MASK]))
    if c.fp[slot] != fp or c.length[slot] != n:
        return False
    for k in range(n):
        if c.data[slot, k] != data[start + k]:
            return False
    return True


@inlined
def insert(c, fp, data, start, n):
    slot = np.int64(fp & np.uint64(c.params[C_MASK]))
    c.fp[slot] = fp
    c.length[slot] = n
    for k in range(n):
        c.data[slot, k] = data[start + k]


@inlined
def learn(c, data, start, end):
    """Insert every chunk of ``data[start:end]`` of at least ``min_chunk`` bytes."""
    k = start
    while k < end:
        e = chunk_end(c, data, k, end)
        if e - k >= c.params[C_MIN]:
            insert(c, fingerprint(data, k, e - k), data, k, e - k)
        k = e


@inlined
def put_payload(b, i, l3, l4, out, n, proto):
    """Make ``out[:n]`` the IP payload of packet ``i`` (header at ``l3``, payload from
    ``l4``), of protocol ``proto``: set the total length, the packet's length and its
    annotations, and return the new total length. The header checksum is the caller's."""
    row = b.data[i]
    for j in range(n):
        row[l4 + j] = out[j]
    total = l4 - l3 + n
    wr16(row, l3 + 2, total)
    row[l3 + 9] = proto
    b.length[i] = l3 - b.head[i] + total
    mark_ip(b, i, l3)
    return total
