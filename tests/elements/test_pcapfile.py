"""libpcap reading and writing: round trips, scapy as the independent reader and writer,
corrupt files, repeat and limit."""

from __future__ import annotations

import shutil
import struct
import subprocess
from decimal import Decimal
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapWriter as ScapyWriter
from scapy.utils import rdpcap, wrpcap

from elements.batch import MAX_FRAME, make_batch, packet_bytes
from elements.io.pcapfile import (
    MAX_CAPLEN,
    PcapError,
    PcapFeed,
    PcapWriter,
    read_pcap,
    write_pcap,
)

FRAMES = [bytes(Ether() / IP(src="10.0.0.1", dst=f"192.168.1.{k}") / TCP(dport=80 + k) / (b"x" * k))
          for k in range(1, 40)]
STAMPS_NS = [1_700_000_000_000_000_000 + k * 1_234_567 for k in range(len(FRAMES))]


def header(magic: int = 0xA1B2C3D4, snaplen: int = 65535, linktype: int = 1, order: str = "<"):
    return struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def record(frame: bytes, sec: int = 1, frac: int = 0, caplen: int | None = None, order="<"):
    n = len(frame) if caplen is None else caplen
    return struct.pack(order + "IIII", sec, frac, n, len(frame)) + frame


def feed_all(feed: PcapFeed, batch: int = 7) -> tuple[list[bytes], list[int]]:
    b = make_batch(batch)
    frames, stamps = [], []
    while n := feed.fill(b, batch):
        frames += [packet_bytes(b, i) for i in range(n)]
        stamps += [int(t) for t in b.timestamp[:n]]
    return frames, stamps


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nanosecond", [False, True])
def test_round_trip(tmp_path, big_endian, nanosecond):
    path = tmp_path / "rt.pcap"
    write_pcap(path, FRAMES, STAMPS_NS, nanosecond=nanosecond, big_endian=big_endian)
    raw = path.read_bytes()
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    assert raw[:4] == struct.pack(">I" if big_endian else "<I", magic)
    feed = PcapFeed(path)
    assert (feed.big_endian, feed.nanosecond, feed.linktype) == (big_endian, nanosecond, 1)
    frames, stamps = feed_all(feed)
    assert frames == FRAMES
    want = STAMPS_NS if nanosecond else [t // 1000 * 1000 for t in STAMPS_NS]
    assert stamps == want
    # scapy reads what we wrote: same bytes, same times
    pkts = rdpcap(str(path))
    assert [bytes(p) for p in pkts] == FRAMES
    assert [int(p.time * 1_000_000_000) for p in pkts] == want


def test_writer_streams_batches_and_rows(tmp_path):
    b = make_batch(len(FRAMES))
    from elements.batch import load_frames

    load_frames(b, FRAMES, STAMPS_NS)
    path = tmp_path / "w.pcap"
    # a buffer smaller than one batch: the writer flushes as it goes
    with PcapWriter(path, nanosecond=True, buffer_size=1) as w:
        w.write_batch(b)
        w.write_batch(b, np.array([3, 1]))
        assert w.records == len(FRAMES) + 2
    frames, stamps, _ = read_pcap(path)
    assert frames == FRAMES + [FRAMES[3], FRAMES[1]]
    assert stamps == STAMPS_NS + [STAMPS_NS[3], STAMPS_NS[1]]


@pytest.mark.parametrize("nano", [False, True])
def test_reads_scapy_written_files(tmp_path, nano):
    want = STAMPS_NS if nano else [t // 1000 * 1000 for t in STAMPS_NS]
    pkts = [Ether(f) for f in FRAMES]
    for p, t in zip(pkts, want):
        p.time = Decimal(t) / 1_000_000_000
    path = tmp_path / "scapy.pcap"
    with ScapyWriter(str(path), nano=nano, linktype=1) as w:
        w.write(pkts)
    frames, stamps, linktype = read_pcap(path)
    assert frames == FRAMES and linktype == 1
    assert stamps == want


def test_raw_ip_link_type(tmp_path):
    """scapy writes bare IP packets with a raw-IP link type; the frame starts at IP."""
    pkts = [IP(dst="1.2.3.4") / UDP(dport=53) / b"q", IP(dst="5.6.7.8") / TCP()]
    path = tmp_path / "raw.pcap"
    wrpcap(str(path), pkts)
    feed = PcapFeed(path)
    assert feed.linktype in (101, 228)
    frames, _ = feed_all(feed)
    assert frames == [bytes(p) for p in pkts]
    assert frames[0][0] >> 4 == 4  # the IPv4 header at head: no Ethernet header


def test_writer_link_type_round_trip(tmp_path):
    path = tmp_path / "l.pcap"
    write_pcap(path, [bytes(IP())], [0], linktype=228)
    assert read_pcap(path)[2] == 228
    assert rdpcap(str(path))[0].haslayer(IP)


def test_repeat_shifts_time_and_limit(tmp_path):
    path = tmp_path / "r.pcap"
    stamps = [1_000_000, 3_000_000, 7_000_000]  # duration 6 ms, mean gap 3 ms
    write_pcap(path, FRAMES[:3], stamps)
    feed = PcapFeed(path, repeat=3)
    assert feed.total == 9
    frames, got = feed_all(feed, batch=2)
    assert frames == FRAMES[:3] * 3
    period = 6_000_000 + 3_000_000
    assert got == [t + p * period for p in range(3) for t in stamps]
    assert all(a < b for a, b in pairwise(got))
    feed = PcapFeed(path, repeat=100, limit=5)
    assert feed.total == 5 and len(feed_all(feed)[0]) == 5


def test_one_packet_repeat_is_still_increasing(tmp_path):
    path = tmp_path / "one.pcap"
    write_pcap(path, FRAMES[:1], [5_000])
    _, got = feed_all(PcapFeed(path, repeat=4))
    assert all(a < b for a, b in pairwise(got))


def test_long_frames_are_cut_and_counted(tmp_path):
    path = tmp_path / "long.pcap"
    long = bytes(range(256)) * 8  # 2048 bytes > MAX_FRAME
    write_pcap(path, [long, FRAMES[0]], [0, 1000])
    feed = PcapFeed(path)
    frames, _ = feed_all(feed)
    assert frames == [long[:MAX_FRAME], FRAMES[0]]
    assert feed.truncated == 1


def test_frames_of_every_length_are_read_exactly(tmp_path):
    """Frames are copied in chunks (``pcapfile.CHUNK``): every length around a chunk
    boundary, up to a slot's room, and the file's last frame come back byte for byte,
    and a frame never shows bytes of the one the slot held before."""
    rng = np.random.default_rng(5)
    sizes = list(range(1, 100)) + list(range(MAX_FRAME - 40, MAX_FRAME + 1)) + [3]
    frames = [rng.integers(0, 256, n, np.uint8).tobytes() for n in sizes]
    path = tmp_path / "sizes.pcap"
    write_pcap(path, frames, list(range(len(frames))))
    b = make_batch(len(frames))
    b.data[:] = 0xEE  # what an earlier batch left in the slots
    feed = PcapFeed(path)
    assert feed.fill(b, len(frames)) == len(frames)
    assert [packet_bytes(b, i) for i in range(len(frames))] == frames
    assert feed_all(PcapFeed(path), batch=5)[0] == frames


def test_empty_file_has_no_packets(tmp_path):
    path = tmp_path / "empty.pcap"
    write_pcap(path, [])
    feed = PcapFeed(path, repeat=5)
    assert feed.total == 0 and feed_all(feed) == ([], [])


# ---- corrupt files: PcapError naming the byte offset -----------------------------------

def corrupt_cases():
    good = record(FRAMES[0])
    return {
        "short header": (header()[:10], 0, "truncated file header"),
        "bad magic": (b"\xde\xad\xbe\xef" + header()[4:], 0, "bad magic 0xefbeadde"),
        "pcapng": (struct.pack("<I", 0x0A0D0D0A) + header()[4:], 0, "pcapng"),
        "link type": (header(linktype=113), 20, "unsupported link type 113"),
        "record header": (header() + good + good[:9], 24 + len(good),
                          "truncated record header (9 of 16 bytes)"),
        "caplen > snaplen": (header(snaplen=64) + record(b"a" * 100), 24,
                             "caplen 100 exceeds the file's snaplen 64"),
        "caplen > max": (header(snaplen=0xFFFFFFFF) + record(b"", caplen=MAX_CAPLEN + 1), 24,
                         f"exceeds the maximum {MAX_CAPLEN}"),
        "record data": (header() + good + good[:-5], 24 + len(good),
                        f"truncated record data ({len(good) - 21} of {len(FRAMES[0])} bytes)"),
        "big-endian record data": (header(order=">") + record(b"abc", order=">")[:-1], 24,
                                   "truncated record data (2 of 3 bytes)"),
    }


@pytest.mark.parametrize("case", list(corrupt_cases()))
def test_corrupt_files(tmp_path, case):
    data, offset, what = corrupt_cases()[case]
    path = tmp_path / "bad.pcap"
    path.write_bytes(data)
    with pytest.raises(PcapError) as err:
        PcapFeed(path)
    assert err.value.offset == offset
    assert what in str(err.value)
    assert str(path) in str(err.value) and f"byte offset {offset}" in str(err.value)


@settings(max_examples=100)
@given(cut=st.integers(0, 10_000), flips=st.lists(st.tuples(st.integers(0, 10_000),
                                                               st.integers(0, 255)), max_size=4))
def test_damaged_files_never_crash(tmp_path_factory, cut, flips):
    """Any truncation or byte damage: a clean read or a PcapError, nothing else."""
    path = tmp_path_factory.mktemp("d") / "d.pcap"
    write_pcap(path, FRAMES, STAMPS_NS)
    data = bytearray(path.read_bytes())
    for pos, value in flips:
        data[pos % len(data)] = value
    path.write_bytes(bytes(data[: cut % (len(data) + 1)]))
    try:
        feed = PcapFeed(path, repeat=2)
    except PcapError as err:
        assert 0 <= err.offset <= len(data)
        return
    frames, _ = feed_all(feed, batch=16)
    assert len(frames) == feed.total


def test_missing_file_is_a_pcap_error(tmp_path):
    with pytest.raises(PcapError, match="cannot read the file"):
        PcapFeed(tmp_path / "nope.pcap")
    with pytest.raises(PcapError, match="cannot read the file"):
        PcapFeed(tmp_path)  # a directory


def test_rejects_bad_arguments(tmp_path):
    path = tmp_path / "a.pcap"
    write_pcap(path, FRAMES[:1])
    with pytest.raises(ValueError, match="repeat"):
        PcapFeed(path, repeat=0)
    with pytest.raises(ValueError, match="limit"):
        PcapFeed(path, limit=-1)


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
@pytest.mark.parametrize("big_endian", [False, True])
def test_tcpdump_reads_what_we_write(tmp_path, big_endian):
    path = tmp_path / "td.pcap"
    stamps = [1_700_000_000_123_456_789, 1_700_000_001_000_000_001]
    write_pcap(path, FRAMES[:2], stamps, nanosecond=True, big_endian=big_endian)
    out = subprocess.run(["tcpdump", "-nn", "-tt", "--time-stamp-precision=nano", "-r",
                          str(path)], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0].startswith("1700000000.123456789 IP 10.0.0.1.20 > 192.168.1.1.81: Flags [S]")
    assert lines[1].startswith("1700000001.000000001 IP 10.0.0.1.20 > 192.168.1.2.82")
