"""WAN optimizer: WanOptEncode -> WanOptDecode restores the exact bytes; the wire format
is checked by an independent Python decoder; scapy checks the encoded headers."""

import random

import pytest
from elementkit import example_yaml, make, mark, outcome, run_graph, run_kernel
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scapy.layers.inet import IP, TCP, UDP

from elements.batch import HEADROOM, load_frames, make_batch, packet_bytes
from elements.net import mark_ip
from elements.wanopt.recache import GEAR
from elements.wanopt.wanoptdecode import WanOptDecode
from elements.wanopt.wanoptencode import WanOptEncode
from msh.yamlgraph import load


def fnv64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for x in data:
        h = ((h ^ x) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def py_chunks(data: bytes, min_chunk=32, avg_chunk=64, max_chunk=256) -> list[bytes]:
    """Gear content-defined chunking as documented, in plain Python."""
    chunks, start = [], 0
    while start < len(data):
        h, end = 0, min(len(data), start + max_chunk)
        for k in range(start, end):
            h = ((h << 1) + int(GEAR[data[k]])) & 0xFFFFFFFFFFFFFFFF
            if k + 1 - start >= min_chunk and h & ((avg_chunk - 1) << 40) == 0:
                end = k + 1
                break
        chunks.append(data[start:end])
        start = end
    return chunks


def py_decode(encoded: bytes, seen: dict[int, bytes]) -> bytes:
    """The documented wire format, decoded in plain Python; ``seen`` maps fingerprints
    of every literal chunk sent so far to its bytes (filled as we go)."""
    ihl = (encoded[0] & 15) * 4
    body = encoded[ihl:]
    assert body[0] == 1  # shim version
    proto, check = body[1], body[2:4]
    out, k, literals = b"", 4, []
    while k < len(body):
        if body[k] == 0:
            n = int.from_bytes(body[k + 1 : k + 3], "big")
            literals.append(body[k + 3 : k + 3 + n])
            out += body[k + 3 : k + 3 + n]
            k += 3 + n
        else:
            assert body[k] == 1
            out += seen[int.from_bytes(body[k + 1 : k + 9], "big")]
            k += 9
    for chunk in literals:
        seen[fnv64(chunk)] = chunk
    header = bytearray(encoded[:ihl])
    header[2:4] = (ihl + len(out)).to_bytes(2, "big")
    header[9] = proto
    header[10:12] = check
    return bytes(header) + out


def pipeline(frames, drop_between=(), **config):
    """Each frame through the encoder, then (unless its index is in ``drop_between``)
    the decoder, in order: [(encoded bytes, decoder result, decoded bytes)]."""
    enc, dec = make("WanOptEncode", **config), make("WanOptDecode", **config)
    se, sd = enc.make_state(1), dec.make_state(1)
    b = make_batch(len(frames))
    load_frames(b, frames)
    out = []
    for i in range(len(frames)):
        mark_ip(b, i, HEADROOM)
        assert enc.kernel(b, i, se, 0) == 0
        encoded = packet_bytes(b, i)
        r = None if i in drop_between else int(dec.kernel(b, i, sd, 0))
        out.append((encoded, r, packet_bytes(b, i)))
    return out, enc.counters(se), dec.counters(sd), dec


words = [bytes(random.Random(k).randbytes(random.Random(k).randint(20, 300))) for k in range(12)]


@st.composite
def packets(draw):
    frames = []
    for _ in range(draw(st.integers(1, 10))):
        parts = draw(st.lists(st.sampled_from(words) | st.binary(max_size=40), max_size=8))
        payload = b"".join(parts)[:1400]
        l4 = draw(st.sampled_from([TCP(sport=80, dport=1234, seq=draw(st.integers(0, 2**32 - 1))),
                                   UDP(sport=53, dport=53)]))
        frames.append(bytes(IP(src="10.0.0.1", dst="10.0.0.2", id=draw(st.integers(0, 65535)))
                            / l4 / payload))
    return frames


@settings(max_examples=100, deadline=None)
@given(packets(), st.sampled_from([{}, {"min_chunk": 16, "avg_chunk": 32, "max_chunk": 64,
                                        "cache_slots": 16}]))
def test_roundtrip_restores_exact_bytes_and_format_is_as_documented(frames, config):
    results, ce, cd, _ = pipeline(frames, **config)
    seen = {}
    for frame, (encoded, r, decoded) in zip(frames, results):
        assert r == 0 and decoded == frame
        if encoded != frame:
            pkt = IP(encoded)
            assert pkt.proto == 253 and pkt.len == len(encoded) < len(frame)
            want = pkt.chksum
            del pkt.chksum
            assert IP(bytes(pkt)).chksum == want
            assert py_decode(encoded, seen) == frame
        else:  # sent unchanged: both ends learn its chunks
            ihl = (frame[0] & 15) * 4
            sizes = {k: v for k, v in config.items() if k != "cache_slots"}
            for chunk in py_chunks(frame[ihl:], **sizes):
                seen[fnv64(chunk)] = chunk
    assert cd["decoded"] == ce["encoded"]
    assert ce["bytes_in"] == sum(map(len, frames))


def test_repeated_payload_shrinks():
    text = b"".join(words[:6])[:1200]
    frames = [bytes(IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=1, dport=2) / text)] * 3
    results, ce, _cd, _ = pipeline(frames)
    assert results[0][0] == frames[0]  # the first is sent unchanged (literals are bigger)
    assert len(results[1][0]) < len(frames[1]) // 5
    assert all(d == f for (_, _, d), f in zip(results, frames))
    assert ce["encoded"] == 2 and ce["not_smaller"] == 1 and ce["refs"] > 10


@settings(max_examples=50, deadline=None)
@given(packets(), st.sets(st.integers(0, 9), max_size=3))
def test_loss_between_ends_never_gives_wrong_bytes(frames, lost):
    results, _, _, dec = pipeline(frames, drop_between=lost)
    for frame, (encoded, r, decoded) in zip(frames, results):
        if r is None:
            continue
        assert outcome(dec, r) in ("out0", "drop:cache_miss")
        if r == 0:
            assert decoded == frame


def encoded_frame(body: bytes, proto=253):
    return bytes(IP(src="1.1.1.1", dst="2.2.2.2", proto=proto) / body)


@pytest.mark.parametrize("body,reason", [
    (b"", "drop:malformed"),
    (b"\x02\x06\x00\x00", "drop:malformed"),
    (b"\x01\x06\x00\x00\x00\x00", "drop:malformed"),
    (b"\x01\x06\x00\x00\x00\x00\x05abc", "drop:malformed"),
    (b"\x01\x06\x00\x00\x00\x00\x00", "drop:malformed"),
    (b"\x01\x06\x00\x00\x00\x01\x01" + b"x" * 257, "drop:malformed"),
    (b"\x01\x06\x00\x00\x01" + bytes(8), "drop:cache_miss"),
    (b"\x01\x06\x00\x00\x01" + bytes(7), "drop:malformed"),
    (b"\x01\x06\x00\x00\x07", "drop:malformed"),
    (b"\x01\x06\x00\x00", "out0"),
    (b"\x01\x06\x00\x00\x00\x00\x03abc", "out0"),
])
def test_decoder_drops_malformed(body, reason):
    el = make("WanOptDecode")
    frames = [encoded_frame(body)]
    got = run_kernel(el, frames, annotations=mark(frames, 0))
    assert [outcome(el, r) for r in got.results] == [reason]


def test_decoder_too_big_and_passthrough():
    el = make("WanOptDecode", cache_slots=16)
    state = el.make_state(1)
    state.fp[0] = 16  # a cached 1024-byte... chunk of length max_chunk at slot 0
    state.length[0] = 256
    body = b"\x01\x06\x00\x00" + (b"\x01" + (16).to_bytes(8, "big")) * 8  # 8 x 256 bytes
    frames = [encoded_frame(body), bytes(IP() / UDP() / b"plain")]
    b = make_batch(2)
    load_frames(b, frames)
    mark_ip(b, 0, HEADROOM)
    mark_ip(b, 1, HEADROOM)
    assert outcome(el, el.kernel(b, 0, state, 0)) == "drop:too_big"
    assert el.kernel(b, 1, state, 0) == 0 and packet_bytes(b, 1) == frames[1]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 3))
def test_random_encoded_packets_never_crash(body, trunc):
    el = make("WanOptDecode", cache_slots=16, min_chunk=16, avg_chunk=16, max_chunk=32)
    frames = [encoded_frame(b"\x01\x06\x00\x00" + body)]
    frames.append(frames[0][: max(20, len(frames[0]) - trunc)])
    got = run_kernel(el, frames, annotations=mark(frames, 0))
    assert {outcome(el, r) for r in got.results} <= {"out0", "drop:malformed", "drop:cache_miss"}


@pytest.mark.parametrize("config,message", [
    ({"cache_slots": 1000}, "cache_slots must be a power of two"),
    ({"avg_chunk": 48}, "avg_chunk must be a power of two"),
    ({"min_chunk": 128, "avg_chunk": 64}, "need min_chunk <= avg_chunk <= max_chunk"),
    ({"protocol": 256}, "less than or equal to 255"),
])
def test_bad_config(config, message):
    with pytest.raises(ValidationError, match=message):
        make("WanOptEncode", **config)


def test_examples_load_and_run():
    text = bytes(IP(src="1.1.1.1", dst="2.2.2.2") / UDP() / (b"".join(words[:4])))
    enc = load("<example>", text=example_yaml(WanOptEncode))
    seen, _ = run_graph(enc, [text, text])
    assert seen[0] == (0, text) and len(seen[1][1]) < len(text)
    dec = load("<example>", text=example_yaml(WanOptDecode))
    back, _ = run_graph(dec, [data for _, data in seen])
    assert back == [(0, text), (0, text)]
