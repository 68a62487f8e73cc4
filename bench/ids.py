"""IDSMatch throughput by number of patterns (10, 100, 1,000, 10,000) on TCP flows
whose payloads are English-like text.

    python -m bench.ids [--patterns 10 100 1000 10000] [--packets N] [--out FILE.json]

Traffic (numpy, seeded): a vocabulary of 50,000 words whose letters follow English
letter frequencies and whose lengths follow English word lengths; payloads are words
drawn Zipf-like from it, 200-1,400 bytes, in 1,000 TCP flows (in-order segments,
raw IPv4 frames). Rules are ``alert tcp any any -> any any (content:"WORD"; [nocase;]
sid:N;)`` with distinct vocabulary words of 5+ letters, every other one ``nocase``.

Per pattern count the benchmark builds the rules, checks the kernel's alerts against
a plain-Python ``in`` search of the reassembled streams of the first 50 flows, then
times the kernel alone over batches of 256 (hot, as in a pipeline; each play of the
trace uses new flows) and reports ns/packet, Mpps and Gbit/s (IP bytes), with build
and JIT compile time apart.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import struct
import time

import numpy as np

BATCH = 256
FLOWS = 1000
LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
FREQ = np.array([12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4,
                 2.2, 2.0, 2.0, 1.9, 1.5, 1.0, 0.8, 0.15, 0.15, 0.1, 0.07])
LENGTHS = np.array([3.0, 17, 21, 16, 11, 9, 8, 6, 4, 2.5, 1.5, 1])  # words of 1..12 letters


def vocabulary(rng, n=50_000) -> list[bytes]:
    lens = rng.choice(np.arange(1, 13), size=n * 2, p=LENGTHS / LENGTHS.sum())
    letters = rng.choice(np.frombuffer(LETTERS.encode(), np.uint8), size=int(lens.sum()),
                         p=FREQ / FREQ.sum())
    words, pos, seen = [], 0, set()
    for ln in lens:
        w = letters[pos : pos + ln].tobytes()
        pos += ln
        if w not in seen:
            seen.add(w)
            words.append(w)
        if len(words) == n:
            break
    return words


def traffic(rng, words: list[bytes], packets: int):
    """Raw IPv4/TCP frames of FLOWS flows, round robin; the payload of each flow in order."""
    zipf = 1.0 / np.arange(1, len(words) + 1) ** 0.9
    zipf /= zipf.sum()
    seq = [1000 * k for k in range(FLOWS)]
    streams = [[] for _ in range(FLOWS)]
    frames = []
    for p in range(packets):
        f = p % FLOWS
        target = int(rng.integers(200, 1400))
        picks = rng.choice(len(words), size=target // 4, p=zipf)
        text = b" ".join(words[k] for k in picks)[:target]
        streams[f].append(text)
        tcp = struct.pack("!HHIIBBHHH", 10000 + f, 80, seq[f], 0, 0x50, 0x18, 65535, 0, 0)
        seq[f] += len(text)
        total = 20 + len(tcp) + len(text)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, p & 0xFFFF, 0, 64, 6, 0,
                         bytes([10, 0, f >> 8, f & 255]), bytes([10, 1, 0, 1]))
        frames.append(ip + tcp + text)
    return frames, [b"".join(s) for s in streams]


def main(argv: list[str] | None = None) -> dict:
    import numba
    from numba import njit

    from elements.batch import HEADROOM, load_frames, make_batch
    from elements.element import lookup
    from elements.ids.idsmatch import S_ALERTS, S_RING
    from elements.net import mark_ip

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patterns", type=int, nargs="+", default=[10, 100, 1000, 10000])
    ap.add_argument("--packets", type=int, default=20_000, help="packets per play")
    ap.add_argument("--plays", type=int, default=5)
    ap.add_argument("--out", help="write the JSON result here too")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(2026)
    words = vocabulary(rng)
    frames, streams = traffic(rng, words, args.packets)
    ip_bytes = sum(map(len, frames))
    n_batches = (len(frames) + BATCH - 1) // BATCH
    batches = []
    for k in range(n_batches):
        b = make_batch(BATCH)
        batches.append((b, load_frames(b, frames[k * BATCH : (k + 1) * BATCH])))

    @njit(cache=True)
    def mark_all(b, n, play):
        for i in range(n):
            b.timestamp[i] = play * 1_000_000_000_000  # 1,000 s apart: flows start anew
            mark_ip(b, i, HEADROOM)

    cls = lookup("IDSMatch")
    kernel = cls.kernel

    @njit(cache=True)
    def run_all(b, n, s):
        for i in range(n):
            kernel(b, i, s, 0)

    long_words = [w for w in words if len(w) >= 5]
    results = []
    for n_pat in args.patterns:
        chosen = [long_words[k] for k in rng.choice(len(long_words), n_pat, replace=False)]
        rules = [f'alert tcp any any -> any any (content:"{w.decode()}"; '
                 f'{"nocase; " if k % 2 else ""}sid:{k + 1};)' for k, w in enumerate(chosen)]
        el = cls("ids", cls.Config(rules=rules, flows=4096, ring=1 << 16, timeout=120))
        t0 = time.perf_counter()
        state = el.make_state(1)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        b, n = batches[0]
        mark_all(b, n, 0)
        run_all(b, n, state)
        compile_s = time.perf_counter() - t0

        # Validate on play 0 from scratch: alerts of the first 50 flows == stream search.
        state = el.make_state(1)
        alerts = set()
        for b, n in batches:
            mark_all(b, n, 0)
            run_all(b, n, state)
            for a in el.alerts(state):
                alerts.add((a["sport"] - 10000, a["sid"]))
            state.stats[S_RING] = 0
        want = set()
        for f in range(50):
            low = streams[f].lower()
            for k, w in enumerate(chosen):
                if (w in low) if k % 2 else (w in streams[f]):
                    want.add((f, k + 1))
        got = {(f, sid) for f, sid in alerts if f < 50}
        if got != want:
            raise SystemExit(f"{n_pat} patterns: alerts differ from the oracle: "
                             f"{len(got - want)} extra, {len(want - got)} missing")

        run_fast = next(iter(run_all.overloads.values())).entry_point
        per_batch, elapsed, total = [], 0, 0
        for play in range(1, args.plays + 1):
            for b, n in batches:
                mark_all(b, n, play)
                t = time.perf_counter_ns()
                run_fast(b, n, state)
                dt = time.perf_counter_ns() - t
                state.stats[S_RING] = 0
                elapsed += dt
                total += n
                per_batch.append(dt / n)
        ns = elapsed / total
        a, c = state.ac
        res = {
            "patterns": n_pat, "packets": total, "batch": BATCH,
            "automaton_states": int(a.first.shape[0] + c.first.shape[0]),
            "byte_classes": [int(a.dims[0]), int(c.dims[0])],
            "build_s": round(build_s, 3), "compile_s": round(compile_s, 2),
            "ns_per_packet": round(ns, 1), "mpps": round(1e3 / ns, 3),
            "gbit_per_s": round(ip_bytes * args.plays * 8 / elapsed, 3),
            "median_ns_per_packet": round(statistics.median(per_batch), 1),
            "p10_p90_ns_per_packet": [round(float(np.percentile(per_batch, q)), 1)
                                      for q in (10, 90)],
            "alerts_per_play": int(state.stats[S_ALERTS]) // (args.plays + 1),
            "validated_flows": 50, "validated_alerts": len(want),
        }
        results.append(res)
        print(f"{n_pat:>6} patterns: {res['ns_per_packet']:>8} ns/pkt  {res['mpps']:>7} Mpps"
              f"  {res['gbit_per_s']:>6} Gbit/s  ({res['automaton_states']} states,"
              f" build {res['build_s']} s, compile {res['compile_s']} s)", flush=True)
    out = {
        "benchmark": "ids_patterns", "avg_ip_bytes": round(ip_bytes / len(frames), 1),
        "results": results,
        "versions": {"python": platform.python_version(), "numba": numba.__version__,
                     "numpy": np.__version__, "cpu": platform.processor() or platform.machine()},
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
