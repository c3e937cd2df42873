"""SortedKeys against a plain sorted set, with tiny chunks so splits happen often."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etcd3py.server_ref.mvcc import sorted_keys
from etcd3py.server_ref.mvcc.sorted_keys import SortedKeys

keys = st.binary(min_size=0, max_size=3)
ops = st.lists(st.tuples(st.sampled_from(["add", "discard"]), keys), max_size=300)


@pytest.fixture(autouse=True)
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sorted_keys, "_CHUNK", 2)


@given(ops=ops, begin=keys, end=st.one_of(st.none(), keys))
def test_behaves_like_a_sorted_set(
    ops: list[tuple[str, bytes]], begin: bytes, end: bytes | None
) -> None:
    index = SortedKeys()
    model: set[bytes] = set()
    for op, key in ops:
        if op == "add":
            index.add(key)
            model.add(key)
        else:
            index.discard(key)
            model.discard(key)
        assert len(index) == len(model)
    assert list(index) == sorted(model)
    for key in {k for _, k in ops}:
        assert (key in index) == (key in model)
    expected = [k for k in sorted(model) if k >= begin and (end is None or k < end)]
    assert list(index.scan(begin, end)) == expected


def test_scan_of_an_empty_index() -> None:
    assert list(SortedKeys().scan(b"", None)) == []
    assert b"x" not in SortedKeys()
