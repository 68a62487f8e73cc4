"""graphs/wanopt-encode.yaml -> graphs/wanopt-decode.yaml gives back the exact frames."""

import random
from pathlib import Path

from elementkit import run_graph
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from msh.yamlgraph import load

ROOT = Path(__file__).resolve().parents[2]


def test_encode_then_decode_gives_back_the_frames():
    rng = random.Random(7)
    blocks = [rng.randbytes(rng.randint(50, 400)) for _ in range(20)]
    frames = []
    for k in range(300):
        data = b"".join(rng.choice(blocks) for _ in range(rng.randint(0, 5)))[:1400]
        l4 = TCP(sport=80, dport=5000, seq=k * 1000) if k % 3 else UDP(sport=1, dport=2)
        frames.append(bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2", id=k) / l4 / data))
    frames.append(b"\x01\x02")  # not IPv4: dropped by CheckedIP at the encoder
    enc, counters = run_graph(load(ROOT / "graphs" / "wanopt-encode.yaml"), frames)
    assert [port for port, _ in enc] == [0] * 300 + [-1]
    wire = [frame for _, frame in enc[:300]]
    assert sum(map(len, wire)) < 0.7 * sum(map(len, frames[:300]))  # measured: 0.63
    dec, counters = run_graph(load(ROOT / "graphs" / "wanopt-decode.yaml"), wire)
    assert [frame for _, frame in dec] == frames[:300]
    assert counters.element("unre")["decoded"] > 200
