"""Go's sort.Sort, as server_ref orders a role's permissions with it: a correct sort by
key, unstable exactly where Go's is (the orders etcd leaves are asserted on both servers
by conformance/test_auth.test_permissions_with_equal_keys_keep_the_order_of_gos_sort)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from etcd3py.server_ref.auth.go_sort import _Sorter, go_sort


def by_key(items: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = list(items)
    go_sort(out, lambda a, b: a[0] < b[0])
    return out


@given(st.lists(st.integers(0, 5), max_size=200))
def test_it_sorts_by_key_and_keeps_every_item(keys: list[int]) -> None:
    items = [(k, i) for i, k in enumerate(keys)]
    out = by_key(items)
    assert [k for k, _ in out] == sorted(keys)
    assert sorted(out) == sorted(items)


def test_the_shell_pass_moves_an_item_past_its_equals() -> None:
    # 7 items: the last is swapped with the first, then put back after its equal
    assert by_key([(1, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (0, 6)]) == [
        (0, 6),
        (1, 1),
        (1, 0),
        (2, 2),
        (3, 3),
        (4, 4),
        (5, 5),
    ]
    # 6 items: insertion sort alone, which is stable
    assert by_key([(1, 0), (1, 1), (2, 2), (3, 3), (4, 4), (0, 5)]) == [
        (0, 5),
        (1, 0),
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 4),
    ]


def test_many_equal_keys_take_the_duplicate_guard() -> None:
    out = by_key([(i % 2, i) for i in range(300)])
    assert [k for k, _ in out] == [0] * 150 + [1] * 150


@given(st.lists(st.integers(0, 9), max_size=100))
def test_the_heapsort_fallback_sorts(keys: list[int]) -> None:
    items = [(k, i) for i, k in enumerate(keys)]
    _Sorter(items, lambda a, b: a[0] < b[0]).heap_sort(0, len(items))
    assert [k for k, _ in items] == sorted(keys)
