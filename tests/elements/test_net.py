"""The kernels' checksum arithmetic against plain-Python RFC 1071 / RFC 1624."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from elements.net import cksum_update16, fold, internet_checksum, sum16


def loop_fold(s: int) -> int:
    """RFC 1071's folding loop: end-around carries until 16 bits remain."""
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


EDGES = [0, 0xFFFF, 0x10000, 2**32, 2**64 - 1, 0xFFFFFFFF00010000]


@given(st.integers(0, 2**64 - 1) | st.sampled_from(EDGES))
def test_fold_of_any_sum_is_the_loops(s):
    """0xFFFFFFFF00010000 needs every one of ``fold``'s steps."""
    assert fold(np.uint64(s)) == loop_fold(s)


@given(st.binary(min_size=0, max_size=64) | st.binary(min_size=20, max_size=20))
def test_fold_of_sum16_is_the_internet_checksum(data):
    row = np.frombuffer(data + b"\0", np.uint8)
    assert fold(sum16(row, 0, len(data))) == internet_checksum(data)


@given(st.binary(min_size=20, max_size=20), st.integers(0, 9), st.integers(0, 0xFFFF))
def test_incremental_update_equals_recomputing(header, word, new):
    """RFC 1624: changing one 16-bit word and updating the checksum gives the
    checksum of the changed bytes (the checksum is word 5, as in an IPv4 header), up to
    one's complement's two zeros: eqn. 3 may give 0x0000 where recomputing gives 0xFFFF."""
    word = word if word != 5 else 0
    h = bytearray(header)
    h[10:12] = b"\0\0"
    h[10:12] = internet_checksum(bytes(h)).to_bytes(2, "big")
    old = int.from_bytes(h[2 * word:2 * word + 2], "big")
    check = cksum_update16(int.from_bytes(h[10:12], "big"), old, new)
    h[2 * word:2 * word + 2] = new.to_bytes(2, "big")
    h[10:12] = b"\0\0"
    assert check % 0xFFFF == internet_checksum(bytes(h)) % 0xFFFF
