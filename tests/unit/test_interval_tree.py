"""server_ref's copy of etcd's interval tree: a red-black tree with the max end of each
subtree, whose Intersects and Contains agree with a plain union of intervals on sane
intervals, and whose answers on inverted and empty ranges and the empty key follow the
tree's shape as etcd 3.5.1's do (those cases were probed on etcd; the conformance test
test_auth.test_answers_that_follow_the_tree_shape asks both servers)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from etcd3py._proto import auth_pb2
from etcd3py.server_ref.auth.interval_tree import (
    Interval,
    IntervalTree,
    _Node,
    compare,
    interval_compare,
    point,
)
from etcd3py.server_ref.auth.perms import MergedPermissions

P = auth_pb2.Permission
INF = b""  # as an end, or a begin: greater than every key


def tree_of(*intervals: Interval) -> IntervalTree:
    tree = IntervalTree()
    for iv in intervals:
        tree.insert(iv)
    return tree


def test_the_empty_string_is_greater_than_every_key() -> None:
    assert compare(b"", b"\xff\xff") == 1 and compare(b"a", b"") == -1
    assert compare(b"", b"") == 0 and compare(b"a", b"b") == -1 and compare(b"b", b"a\xff") == 1
    assert interval_compare((b"a", b"b"), (b"b", b"c")) == -1  # left of: touching ends
    assert interval_compare((b"c", b"d"), (b"a", b"c")) == 1  # right of
    assert interval_compare((b"a", b"c"), (b"b", INF)) == 0
    # an empty interval is "right of" one it sits at the start of, not inside it
    assert interval_compare((b"b", b"b"), (b"b", b"c")) == 0
    assert interval_compare((b"b", b"b"), (b"b", b"b")) == 1


def test_insertion_rebalances_as_a_red_black_tree() -> None:
    tree = tree_of(*(point(k) for k in (b"a", b"b", b"c", b"d", b"e", b"f", b"g")))
    assert [(depth, iv[0], red) for depth, iv, red in tree.shape()] == [
        (0, b"b", False),
        (1, b"a", False),
        (1, b"d", True),
        (2, b"c", False),
        (2, b"f", False),
        (3, b"e", True),
        (3, b"g", True),
    ]
    assert tree.count == 7
    assert tree.root is not None and tree.root.max == b"g\0"
    with_from = tree_of(point(b"m"), (b"a", INF), point(b"z"))
    assert with_from.root is not None and with_from.root.max == INF  # no end is the max


def test_equal_begins_go_right() -> None:
    tree = tree_of((b"a", b"b"), (b"a", b"c"), (b"a", b"d"))
    assert [iv for _, iv, _ in tree.shape()] == [(b"a", b"c"), (b"a", b"b"), (b"a", b"d")]


def test_ordinary_checks() -> None:
    tree = tree_of((b"a", b"c"), (b"c", b"e"), point(b"x"), (b"y", INF))
    assert tree.contains((b"a", b"e")) and tree.contains((b"b", b"d"))
    assert not tree.contains((b"a", b"f")) and not tree.contains((b"a", INF))
    assert tree.contains((b"y", INF)) and tree.contains((b"zz", INF))
    assert tree.contains(point(b"x")) and not tree.contains((b"x", b"x\0\0"))
    assert tree.intersects(point(b"x")) and tree.intersects(point(b"b"))
    assert not tree.intersects(point(b"e")) and not tree.intersects(point(b"f"))
    assert not tree_of((b"a", b"b"), (b"c", b"d")).contains((b"a", b"d"))  # a gap
    assert not IntervalTree().contains((b"a", b"b")) and not IntervalTree().intersects(point(b"a"))


def role(*perms: tuple[bytes, bytes, int]) -> auth_pb2.Role:
    r = auth_pb2.Role(name=b"r")
    for key, end, kind in perms:
        r.keyPermission.add(key=key, range_end=end, permType=kind)
    return r


PREFIX = (b"/p/", b"/p0", P.READ)


def test_an_empty_range_at_the_root_hides_the_rest() -> None:
    """[/p/a, /p/a) inserted first is the root; a check of that very range compares
    "right of" it, and so does [root's begin, max], so visit goes no further: denied.
    Inserted after the prefix, it hangs below it and the prefix alone covers the range."""
    empty = (b"/p/a", b"/p/a", P.READWRITE)
    first = MergedPermissions.of([role(empty), role(PREFIX)])
    assert not first.allows(b"/p/a", b"/p/a", write=False)
    after = MergedPermissions.of([role(PREFIX, empty)])
    assert after.allows(b"/p/a", b"/p/a", write=False)


def test_an_inverted_range_is_never_visited_by_itself() -> None:
    """A query compares "right of" an inverted interval with its begin: the grant of
    [/p/\\0, /p/) alone does not cover it; with the prefix's node visited, it does."""
    inverted = (b"/p/\0", b"/p/", P.READ)
    assert not MergedPermissions.of([role(inverted)]).allows(b"/p/\0", b"/p/", write=False)
    both = MergedPermissions.of([role(PREFIX, inverted)])
    assert both.allows(b"/p/\0", b"/p/", write=False)


def test_the_empty_key_is_at_plus_infinity() -> None:
    """A permission on the key "" is [+inf, "\\0"): no point check finds it; "\\0" is the
    least key, which a grant of [\\0, \\0) (everything) holds."""
    on_empty = MergedPermissions.of([role((b"", b"", P.READ))])
    assert not on_empty.allows(b"\0", b"", write=False)
    assert not on_empty.allows(b"", b"", write=False)
    assert not MergedPermissions.of([role((b"", b"\0", P.READ))]).allows(b"\0", b"", False)
    everything = MergedPermissions.of([role((b"\0", b"\0", P.READ))])
    assert everything.allows(b"\0", b"", write=False)
    assert everything.allows(b"\0", b"\0", write=False)
    assert MergedPermissions.of([role((b"\0", b"", P.READ))]).allows(b"\0", b"", False)


# ---- properties, on random insertions ----

KEYS = [b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h"]
key = st.sampled_from(KEYS)
sane: st.SearchStrategy[Interval] = st.one_of(
    st.tuples(key, key).filter(lambda iv: iv[0] < iv[1]),
    key.map(point),
    key.map(lambda k: (k, INF)),
)
anything: st.SearchStrategy[Interval] = st.tuples(
    st.sampled_from([*KEYS, b""]), st.sampled_from([*KEYS, b""])
)


def check_node(n: _Node | None) -> tuple[int, bytes | None]:
    """(black height, max end) of a subtree, asserting the red-black rules, the order by
    begin and that each max is the largest end below."""
    if n is None:
        return 1, None
    left_height, left_max = check_node(n.left)
    right_height, right_max = check_node(n.right)
    assert left_height == right_height
    if n.red:
        assert not (n.left and n.left.red) and not (n.right and n.right.red)
    assert n.left is None or compare(n.left.begin, n.begin) <= 0
    assert n.right is None or compare(n.right.begin, n.begin) >= 0
    ends = [e for e in (n.end, left_max, right_max) if e is not None]
    largest = ends[0]
    for e in ends[1:]:
        largest = e if compare(e, largest) > 0 else largest
    assert n.max == largest
    return left_height + (0 if n.red else 1), largest


@given(st.lists(anything, max_size=40))
def test_every_insertion_keeps_a_red_black_tree_with_true_maxima(
    intervals: list[Interval],
) -> None:
    tree = tree_of(*intervals)
    assert tree.root is None or not tree.root.red
    check_node(tree.root)
    assert tree.count == len(intervals)
    begins: list[bytes] = []

    def note(n: _Node) -> bool:
        begins.append(n.begin)
        return True

    tree.visit((b"\0", INF), note)
    assert all(compare(a, b) <= 0 for a, b in itertools.pairwise(begins))


def flat_covers(intervals: list[Interval], wanted: Interval) -> bool:
    """Whether the union of sane intervals covers a sane one: walk from its begin."""
    at = wanted[0]
    progressed = True
    while progressed:
        if compare(at, wanted[1]) >= 0:
            return True
        progressed = False
        for b, e in intervals:
            if compare(b, at) <= 0 < compare(e, at):
                at, progressed = e, True
    return compare(at, wanted[1]) >= 0


@given(st.lists(sane, max_size=25), sane)
def test_on_sane_intervals_the_tree_is_their_union(
    intervals: list[Interval], wanted: Interval
) -> None:
    tree = tree_of(*intervals)
    assert tree.contains(wanted) == flat_covers(intervals, wanted)
    k = wanted[0]
    held = any(compare(b, k) <= 0 < compare(e, k) for b, e in intervals)
    assert tree.intersects(point(k)) == held
