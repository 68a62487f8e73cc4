"""The flow table against a dict oracle: same hits, misses and expiries."""

from hypothesis import given, settings
from hypothesis import strategies as st

from elements.flowtable import ft_insert, ft_lookup, ft_remove, make_flowtable
from elements.net import flow_hash5

keys = st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 2),
                 st.sampled_from([6, 17]))
ops = st.lists(st.tuples(st.sampled_from(["insert", "lookup", "remove"]), keys,
                         st.integers(0, 5)), max_size=200)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_flowtable_matches_dict(program):
    ft = make_flowtable(512)
    oracle: dict[tuple, int] = {}
    now = 0
    for op, key, dt in program:
        now += dt
        h = flow_hash5(*key)
        if op == "insert":
            slot = ft_insert(ft, h, *key, now, now + 3)
            assert slot >= 0
            oracle[key] = now + 3
        elif op == "lookup":
            slot = ft_lookup(ft, h, *key, now)
            alive = key in oracle and oracle[key] >= now
            assert (slot >= 0) == alive
        else:
            slot = ft_lookup(ft, h, *key, now)
            if slot >= 0:
                ft_remove(ft, slot)
            oracle.pop(key, None)


def test_full_table_refuses_and_counts():
    ft = make_flowtable(8)  # 16 slots
    slots = {ft_insert(ft, 0, a, 0, 0, 0, 6, 0, 100) for a in range(16)}
    assert -1 not in slots and len(slots) == 16
    assert ft_insert(ft, 0, 99, 0, 0, 0, 6, 0, 100) == -1
    assert ft.stats[1] == 1
    # once entries expire their slots are reclaimed
    assert ft_insert(ft, 0, 99, 0, 0, 0, 6, 101, 200) >= 0


def test_colliding_keys_are_kept_apart():
    ft = make_flowtable(8)
    a = ft_insert(ft, 5, 1, 2, 3, 4, 6, 0, 10)
    b = ft_insert(ft, 5, 1, 2, 3, 4, 17, 0, 10)
    assert a != b
    assert ft_lookup(ft, 5, 1, 2, 3, 4, 17, 0) == b
    ft_remove(ft, a)
    assert ft_lookup(ft, 5, 1, 2, 3, 4, 17, 0) == b
