"""Aho–Corasick automaton against a naive search: every (pattern, end) occurrence."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elements.ids.ahocorasick import ac_find_all, build


def naive(patterns, text, nocase):
    if nocase:
        patterns = [p.lower() for p in patterns]
        text = text.lower()
    found = set()
    for k, p in enumerate(patterns):
        start = text.find(p)
        while start >= 0:
            found.add((k, start + len(p)))
            start = text.find(p, start + 1)
    return found


def scan(a, text, state=0):
    data = np.frombuffer(text, np.uint8) if text else np.zeros(0, np.uint8)
    pats, ends, state = ac_find_all(a, data, 0, len(data), state)
    return {(int(p), int(e)) for p, e in zip(pats, ends)}, state


alphabet_bytes = b"abAB\x00\xff"  # few symbols, both cases: many overlaps


def over_alphabet(min_size, max_size):
    return st.binary(min_size=min_size, max_size=max_size).map(
        lambda b: bytes(alphabet_bytes[c % 6] for c in b))


words = over_alphabet(1, 5)


@settings(max_examples=200, deadline=None)
@given(st.lists(words, min_size=1, max_size=12), st.booleans(), over_alphabet(0, 60))
def test_matches_naive_search(patterns, nocase, text):
    a = build(patterns, nocase)
    got, _ = scan(a, text)
    assert got == naive(patterns, text, nocase)


@settings(max_examples=100, deadline=None)
@given(st.lists(words, min_size=1, max_size=8), st.booleans(), over_alphabet(0, 40),
       st.integers(0, 40))
def test_state_carries_across_a_split(patterns, nocase, text, cut):
    """Scanning text[:cut] then text[cut:] from the saved state finds every match."""
    cut = min(cut, len(text))
    a = build(patterns, nocase)
    left, state = scan(a, text[:cut])
    right, _ = scan(a, text[cut:], state)
    assert left | {(k, e + cut) for k, e in right} == naive(patterns, text, nocase)


def test_known_answer_classic():
    a = build([b"he", b"she", b"his", b"hers"])
    got, _ = scan(a, b"ushers")
    assert got == {(1, 4), (0, 4), (3, 6)}
    assert (a.first.shape[0], a.dims[0]) == (10, 6)  # root + 9 trie states; h e i r s + other
    assert a.table.shape[0] == 60 and a.dims[1] == 6 * 6  # 4 states have outputs


def test_nocase_folds_both_sides():
    a = build([b"EviL"], nocase=True)
    assert scan(a, b"xxeVIlxx")[0] == {(0, 6)}
    b = build([b"EviL"])
    assert scan(b, b"xxeVIlxx")[0] == set()


def test_duplicates_are_each_reported():
    a = build([b"ab", b"ab", b"b"])
    assert scan(a, b"ab")[0] == {(0, 2), (1, 2), (2, 2)}


def test_empty_pattern_is_refused():
    with pytest.raises(ValueError, match="pattern 1 is empty"):
        build([b"a", b""])
