"""scapy <-> batch conversions keep bytes and exact timestamps."""

from __future__ import annotations

from decimal import Decimal

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from elements.batch import packet_bytes
from msh.scapyio import batch_from_scapy, scapy_from_batch


def test_round_trip_bytes_and_times():
    pkts = [Ether() / IP(dst=f"10.0.0.{k}") / UDP(dport=k) / (b"x" * k) for k in range(1, 6)]
    for k, p in enumerate(pkts):
        p.time = Decimal(1_700_000_000_123_456_789 + k) / 1_000_000_000
    b = batch_from_scapy(pkts, capacity=8)
    assert int(b.meta[0]) == 5 and b.head.shape[0] == 8
    assert [packet_bytes(b, i) for i in range(5)] == [bytes(p) for p in pkts]
    assert list(b.timestamp[:5]) == [1_700_000_000_123_456_789 + k for k in range(5)]
    back = scapy_from_batch(b, rows=[4, 0])
    assert [bytes(p) for p in back] == [bytes(pkts[4]), bytes(pkts[0])]
    assert back[0].time == pkts[4].time and back[0][UDP].dport == 5


def test_explicit_timestamps_and_layer():
    b = batch_from_scapy([IP() / UDP(), IP() / UDP()], timestamps_ns=[7, 9])
    assert list(b.timestamp[:2]) == [7, 9]
    pkts = scapy_from_batch(b, layer=IP)
    assert all(UDP in p for p in pkts) and [p.time for p in pkts] == [Decimal(7) / 10**9,
                                                                      Decimal(9) / 10**9]
