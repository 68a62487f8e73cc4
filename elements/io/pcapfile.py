"""libpcap files: a fast reader that fills batches and a streaming writer.

Reading loads the whole file into one numpy array, indexes every record (offset,
captured length, timestamp) in a numba kernel that also validates the file, then
copies frames into batch slots in another kernel. Both byte orders and both
timestamp resolutions (microsecond magic ``a1b2c3d4``, nanosecond ``a1b23c4d``) are
read. Link types: Ethernet (1) and raw IPv4 (101 ``LINKTYPE_RAW``, 228
``LINKTYPE_IPV4``).

Raw-IP frames go into the slot as they are, with no Ethernet header: the IPv4 header
starts at ``head``, so an IP parser must be told offset 0 (Click's
``CheckIPHeader(OFFSET 0)``), not 14. The batch has no link-type field; the feed
records it as ``PcapFeed.linktype`` for whoever builds the graph.

Writing (``PcapWriter``, ``write_pcap``) turns rows into records with a numba copy
into a byte buffer that is written to the file once per batch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.core import config as numba_config
from numba.extending import intrinsic, overload

from elements.batch import HEADROOM, reset_annotations
from elements.codegen import Fast
from elements.jit import inlined

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
MAGIC_PCAPNG = 0x0A0D0D0A
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_IPV4 = 228
LINKTYPES = {LINKTYPE_ETHERNET: "Ethernet", LINKTYPE_RAW: "raw IP", LINKTYPE_IPV4: "raw IPv4"}
MAX_CAPLEN = 262144  # libpcap's MAXIMUM_SNAPLEN: larger caplens mean a corrupt file
FILE_HEADER = 24
RECORD_HEADER = 16

# Error codes of the index kernel (the offset of the bad record comes with them).
_OK, _E_HEADER, _E_CAPLEN, _E_SNAPLEN, _E_DATA = 0, 1, 2, 3, 4


class PcapError(ValueError):
    """A file that is not a readable libpcap file: names the file, byte offset and fault."""

    def __init__(self, path: str | os.PathLike, offset: int, what: str):
        self.path, self.offset, self.what = str(path), offset, what
        super().__init__(f"{path}: byte offset {offset}: {what}")


@intrinsic
def _memcpy(typingctx, dst, doff, src, soff, n):
    """LLVM memcpy between two 1-D byte arrays (numba's slice copy is 3-5x slower)."""
    def codegen(context, builder, signature, args):
        dst_arr = context.make_array(signature.args[0])(context, builder, args[0])
        src_arr = context.make_array(signature.args[2])(context, builder, args[2])
        dst_ptr = builder.gep(dst_arr.data, [args[1]])
        src_ptr = builder.gep(src_arr.data, [args[3]])
        cgutils.raw_memcpy(builder, dst_ptr, src_ptr, args[4], 1)
        return context.get_dummy_value()

    return types.void(dst, doff, src, soff, n), codegen


def copy_bytes(dst, dst_off, src, src_off, n):
    """``dst[dst_off:dst_off+n] = src[src_off:src_off+n]`` for contiguous 1-D uint8
    arrays that do not overlap; in kernels a plain memcpy, unchecked unless numba
    bounds checking is on. Callers check the ranges."""
    dst[dst_off:dst_off + n] = src[src_off:src_off + n]


@overload(copy_bytes)
def _copy_bytes_jit(dst, dst_off, src, src_off, n):
    if numba_config.BOUNDSCHECK:
        def checked(dst, dst_off, src, src_off, n):
            if (n < 0 or dst_off < 0 or src_off < 0 or dst_off + n > dst.shape[0]
                    or src_off + n > src.shape[0]):
                raise IndexError("copy_bytes out of range")
            _memcpy(dst, dst_off, src, src_off, n)
        return checked

    def fast(dst, dst_off, src, src_off, n):
        _memcpy(dst, dst_off, src, src_off, n)
    return fast


# Frames are copied in chunks of this many bytes (``copy_chunk``): a memcpy of a constant
# size compiles to a few vector moves, where one of a variable size is a call into libc
# that first dispatches on the size. Measured, reading the reference trace: 33 -> 30
# ns a packet.
CHUNK = 32


def copy_chunk(dst, dst_off, src, src_off):
    """``copy_bytes`` of ``CHUNK`` bytes; callers check the ranges."""
    dst[dst_off:dst_off + CHUNK] = src[src_off:src_off + CHUNK]


@overload(copy_chunk)
def _copy_chunk_jit(dst, dst_off, src, src_off):
    return lambda dst, dst_off, src, src_off: _memcpy(dst, dst_off, src, src_off, CHUNK)


@inlined
def _u32(buf, off, big):
    if big:
        return ((np.int64(buf[off]) << 24) | (np.int64(buf[off + 1]) << 16)
                | (np.int64(buf[off + 2]) << 8) | np.int64(buf[off + 3]))
    return ((np.int64(buf[off + 3]) << 24) | (np.int64(buf[off + 2]) << 16)
            | (np.int64(buf[off + 1]) << 8) | np.int64(buf[off]))


@njit(cache=True)
def _index(buf, big, nano, snaplen, offs, lens, ts):
    """Walk the records after the file header. With empty ``offs`` it only counts;
    otherwise it fills ``offs``/``lens``/``ts`` (ns). Returns (records, error, offset)."""
    size = buf.shape[0]
    fill = offs.shape[0] > 0
    pos = FILE_HEADER
    n = 0
    unit = 1 if nano else 1000
    while pos < size:
        if size - pos < RECORD_HEADER:
            return n, _E_HEADER, pos
        caplen = _u32(buf, pos + 8, big)
        if caplen > MAX_CAPLEN:
            return n, _E_CAPLEN, pos
        if caplen > snaplen:
            return n, _E_SNAPLEN, pos
        if size - pos - RECORD_HEADER < caplen:
            return n, _E_DATA, pos
        if fill:
            offs[n] = pos + RECORD_HEADER
            lens[n] = caplen
            ts[n] = _u32(buf, pos, big) * 1_000_000_000 + _u32(buf, pos + 4, big) * unit
        n += 1
        pos += RECORD_HEADER + caplen
    return n, _OK, pos


@njit(cache=True)
def _fill(buf, offs, lens, ts, first, n, shift, data, length, timestamp, row0):
    """Copy records ``first..first+n-1`` into rows ``row0..`` (frames cut to the
    slot's room); returns the number of frames cut. A frame is copied in whole
    ``CHUNK``s where the slot and the file have room for the last one: up to
    ``CHUNK - 1`` bytes after the frame are junk, as the rest of the slot already is.
    Takes the batch's arrays, not the batch: numba types a 17-array tuple on every
    call (2.5 µs)."""
    room = data.shape[1] - HEADROOM
    truncated = 0
    for j in range(n):
        k = first + j
        i = row0 + j
        o = offs[k]
        size = lens[k]
        if size > room:
            size = room
            truncated += 1
        row = data[i]
        if size + CHUNK <= room and o + size + CHUNK <= buf.shape[0]:
            q = 0
            while q < size:
                copy_chunk(row, HEADROOM + q, buf, o + q)
                q += CHUNK
        else:
            copy_bytes(row, HEADROOM, buf, o, size)
        length[i] = size
        timestamp[i] = ts[k] + shift
    return truncated


_fill_fast = Fast(_fill)


class PcapFeed:
    """Batches from a libpcap file: ``fill(b, n)`` loads up to ``n`` packets.

    The file is read and checked once when the feed is made (``PcapError`` if it is
    not a good libpcap file). ``repeat`` plays it that many times; each pass shifts
    the timestamps by the trace's duration plus one mean inter-packet gap (1 µs for
    a trace of one instant), so time keeps increasing. ``limit`` stops after that many packets in all. Frames longer
    than a slot holds are cut and counted in ``truncated``.
    """

    def __init__(self, path: str | os.PathLike, repeat: int = 1, limit: int | None = None):
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, not {repeat}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        self.path = str(path)
        try:
            buf = np.fromfile(self.path, np.uint8)
        except OSError as exc:
            raise PcapError(path, 0, f"cannot read the file: {exc.strerror or exc}") from None
        if buf.shape[0] < FILE_HEADER:
            raise PcapError(path, 0, f"truncated file header ({buf.shape[0]} of {FILE_HEADER} bytes)")
        magic_le = int(buf[:4].view("<u4")[0])
        magic_be = int(buf[:4].view(">u4")[0])
        if magic_le in (MAGIC_US, MAGIC_NS):
            big, magic = False, magic_le
        elif magic_be in (MAGIC_US, MAGIC_NS):
            big, magic = True, magic_be
        elif MAGIC_PCAPNG in (magic_le, magic_be):
            raise PcapError(path, 0, "pcapng file: only libpcap files are supported"
                            " (convert with editcap -F pcap)")
        else:
            raise PcapError(path, 0, f"bad magic 0x{magic_le:08x}: not a libpcap file")
        self.nanosecond = magic == MAGIC_NS
        self.big_endian = big
        order = ">" if big else "<"
        self.snaplen = int(buf[16:20].view(order + "u4")[0]) or MAX_CAPLEN
        self.linktype = int(buf[20:24].view(order + "u4")[0]) & 0x0FFFFFFF
        if self.linktype not in LINKTYPES:
            raise PcapError(path, 20, f"unsupported link type {self.linktype}"
                            " (Ethernet 1, raw IP 101 or 228 are read)")
        empty64 = np.zeros(0, np.int64)
        count, err, at = _index(buf, big, self.nanosecond, self.snaplen, empty64,
                                np.zeros(0, np.int32), empty64)
        if err != _OK:
            raise PcapError(path, int(at), self._describe(err, buf, at, big))
        self.offsets = np.zeros(count, np.int64)
        self.lengths = np.zeros(count, np.int32)
        self.timestamps = np.zeros(count, np.int64)
        if count:
            _index(buf, big, self.nanosecond, self.snaplen, self.offsets, self.lengths,
                   self.timestamps)
        self.buf = buf
        self.records = count
        self.repeat = repeat
        self.limit = limit
        if count:
            duration = int(self.timestamps[-1] - self.timestamps[0])
            gap = duration // (count - 1) if count > 1 else 0
            self.period = duration + (gap if gap > 0 else 1000)
        else:
            self.period = 0
        self.total = count * repeat if limit is None else min(count * repeat, limit)
        self.truncated = 0
        self.delivered = 0

    def _describe(self, err: int, buf: np.ndarray, at: int, big: bool) -> str:
        if err == _E_HEADER:
            return f"truncated record header ({buf.shape[0] - at} of {RECORD_HEADER} bytes)"
        caplen = int(_u32(buf, at + 8, big))
        if err == _E_CAPLEN:
            return f"record caplen {caplen} exceeds the maximum {MAX_CAPLEN}: corrupt file"
        if err == _E_SNAPLEN:
            return f"record caplen {caplen} exceeds the file's snaplen {self.snaplen}"
        have = buf.shape[0] - at - RECORD_HEADER
        return f"truncated record data ({have} of {caplen} bytes)"

    def fill(self, b, n: int) -> int:
        """Load up to ``n`` packets into rows 0.. of ``b``; 0 when the feed is done."""
        n = min(n, self.total - self.delivered, b.head.shape[0])
        if n <= 0:
            reset_annotations(b, 0)
            return 0
        reset_annotations(b, n)
        done = 0
        while done < n:
            passno, first = divmod(self.delivered + done, self.records)
            k = min(n - done, self.records - first)
            self.truncated += _fill_fast(self.buf, self.offsets, self.lengths,
                                         self.timestamps, first, k, passno * self.period,
                                         b.data, b.length, b.timestamp, done)
            done += k
        self.delivered += n
        return n

    def frames(self) -> list[bytes]:
        """Every record's bytes, once (tests and tools)."""
        return [self.buf[o:o + n].tobytes() for o, n in zip(self.offsets, self.lengths)]

    def close(self) -> None:
        self.buf = np.zeros(0, np.uint8)
        self.total = self.delivered


def read_pcap(path: str | os.PathLike) -> tuple[list[bytes], list[int], int]:
    """(frames, timestamps in ns, link type) of a whole file: for tests and tools."""
    feed = PcapFeed(path)
    return feed.frames(), [int(t) for t in feed.timestamps], feed.linktype


# ---------------------------------------------------------------- writing

# Layout of a writer's ``meta`` array (shared with ToPcap's kernel state).
W_POS, W_RECORDS, W_NANO, W_BIG, W_CUT = 0, 1, 2, 3, 4


@inlined
def _put32(buf, off, value, big):
    v = np.uint32(np.int64(value) & 0xFFFFFFFF)
    if big:
        buf[off] = np.uint8(v >> 24)
        buf[off + 1] = np.uint8((v >> 16) & 0xFF)
        buf[off + 2] = np.uint8((v >> 8) & 0xFF)
        buf[off + 3] = np.uint8(v & 0xFF)
    else:
        buf[off] = np.uint8(v & 0xFF)
        buf[off + 1] = np.uint8((v >> 8) & 0xFF)
        buf[off + 2] = np.uint8((v >> 16) & 0xFF)
        buf[off + 3] = np.uint8(v >> 24)


@njit(cache=True)
def put_record(buf, meta, row, head, length, timestamp):
    """Append one record (header and ``row[head:head+length]``) at ``meta[W_POS]``.
    False when the buffer has no room for it (nothing is written then)."""
    pos = meta[W_POS]
    if pos + RECORD_HEADER + length > buf.shape[0]:
        return False
    big = meta[W_BIG] != 0
    sec = timestamp // 1_000_000_000
    frac = timestamp - sec * 1_000_000_000
    if meta[W_NANO] == 0:
        frac //= 1000
    _put32(buf, pos, sec, big)
    _put32(buf, pos + 4, frac, big)
    _put32(buf, pos + 8, length, big)
    _put32(buf, pos + 12, length, big)
    copy_bytes(buf, pos + RECORD_HEADER, row, head, length)
    meta[W_POS] = pos + RECORD_HEADER + length
    meta[W_RECORDS] += 1
    return True


@njit(cache=True)
def _put_rows(buf, meta, b, rows, first):
    """Append rows ``rows[first:]``; returns the index of the first row that did not fit."""
    for k in range(first, rows.shape[0]):
        i = rows[k]
        if not put_record(buf, meta, b.data[i], b.head[i], b.length[i], b.timestamp[i]):
            return k
    return rows.shape[0]


class PcapWriter:
    """Stream records to a libpcap file (microsecond or nanosecond, either byte order).

    Records are built in ``buf`` by numba and written out by ``flush``; the buffer
    holds at least one record of any slot's size.
    """

    def __init__(self, path: str | os.PathLike, nanosecond: bool = False,
                 linktype: int = LINKTYPE_ETHERNET, snaplen: int = 65535,
                 big_endian: bool = False, buffer_size: int = 1 << 20):
        self.path = str(path)
        self.snaplen = snaplen
        # np.zeros maps pages lazily: a large buffer costs only what is used.
        self.buf = np.zeros(max(buffer_size, 1 << 16), np.uint8)
        self.meta = np.zeros(5, np.int64)
        self.meta[W_NANO] = nanosecond
        self.meta[W_BIG] = big_endian
        order = ">" if big_endian else "<"
        header = np.array([MAGIC_NS if nanosecond else MAGIC_US], order + "u4").tobytes()
        header += np.array([2, 4], order + "u2").tobytes()
        header += np.array([0, 0, snaplen, linktype], order + "u4").tobytes()
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self.file.write(header)

    @property
    def records(self) -> int:
        return int(self.meta[W_RECORDS])

    def write_batch(self, b, rows: np.ndarray | None = None) -> None:
        """Write rows ``rows`` of batch ``b`` (default: every live row) and flush."""
        if rows is None:
            rows = np.arange(int(b.meta[0]), dtype=np.int64)
        rows = np.asarray(rows, np.int64)
        k = 0
        while k < rows.shape[0]:
            k = _put_rows(self.buf, self.meta, b, rows, k)
            self.flush()

    def write(self, frame: bytes, timestamp_ns: int = 0) -> None:
        """Write one frame given as bytes."""
        row = np.frombuffer(frame, np.uint8)
        if not put_record(self.buf, self.meta, row, 0, row.shape[0], timestamp_ns):
            self.flush()
            if row.shape[0] + RECORD_HEADER > self.buf.shape[0]:
                self.buf = np.zeros(row.shape[0] + RECORD_HEADER, np.uint8)
            put_record(self.buf, self.meta, row, 0, row.shape[0], timestamp_ns)

    def flush(self) -> None:
        pos = int(self.meta[W_POS])
        if pos:
            self.file.write(self.buf[:pos].data)
            self.meta[W_POS] = 0
        self.file.flush()

    def close(self) -> None:
        if not self.file.closed:
            self.flush()
            self.file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_pcap(path: str | os.PathLike, frames: list[bytes], timestamps_ns=None,
               **options) -> None:
    """Write ``frames`` (with ``timestamps_ns``, default 0) to a new libpcap file;
    ``options`` as for ``PcapWriter``."""
    with PcapWriter(path, **options) as w:
        for k, frame in enumerate(frames):
            w.write(frame, 0 if timestamps_ns is None else int(timestamps_ns[k]))
