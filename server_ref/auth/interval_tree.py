"""etcd 3.5.1's interval tree (pkg/adt), as its auth uses it: insertion, Intersects and
Contains, over "bytes affine" keys.

etcd answers a permission check by walking a red-black tree augmented with the largest
end below each node. For ordinary intervals that is the union of the intervals; for
inverted or empty ones, and for the empty key (which compares as +inf as a begin too),
the answer depends on the tree's shape: ``visit`` prunes a subtree with the node's
begin and the subtree's max, and ``intersects`` follows one path. To answer as etcd does
in those cases too, this tree is built and walked step for step as etcd's: the same
insertion, fix-up, rotations and max updates (early stop included), the same pruning.
Deletion is left out: etcd's auth rebuilds a user's trees rather than edit them.
"""

from __future__ import annotations

from collections.abc import Callable

Interval = tuple[bytes, bytes]  # [begin, end); b"" is +inf, as a begin or an end


def compare(a: bytes, b: bytes) -> int:
    """Three-way comparison in which the empty byte string is greater than all others."""
    if not a:
        return 0 if not b else 1
    if not b:
        return -1
    return (a > b) - (a < b)


def interval_compare(iv: Interval, other: Interval) -> int:
    """-1 when ``iv`` lies left of ``other``, 1 when right of it, 0 otherwise ("overlaps"
    by etcd's definition, which an inverted or empty interval can meet oddly)."""
    begin, end = iv
    if compare(begin, other[0]) < 0 and compare(end, other[0]) <= 0:
        return -1
    if compare(begin, other[1]) >= 0:
        return 1
    return 0


def point(key: bytes) -> Interval:
    """The interval of one key: [key, key + "\\0")."""
    return key, key + b"\x00"


class _Node:
    __slots__ = ("begin", "end", "left", "max", "parent", "red", "right")

    def __init__(self, begin: bytes, end: bytes) -> None:
        self.begin = begin
        self.end = end
        self.max = end  # the largest end in this node's subtree
        self.left: _Node | None = None  # None is etcd's sentinel: a black leaf
        self.right: _Node | None = None
        self.parent: _Node | None = None
        self.red = True

    def update_max(self) -> None:
        """Recompute the max here and upwards, stopping at the first node it leaves alone."""
        x: _Node | None = self
        while x is not None:
            new = x.end
            if x.left is not None and compare(x.left.max, new) > 0:
                new = x.left.max
            if x.right is not None and compare(x.right.max, new) > 0:
                new = x.right.max
            if compare(x.max, new) == 0:
                break
            x.max = new
            x = x.parent

    def visit(self, iv: Interval, visitor: Callable[[_Node], bool]) -> bool:
        """Call ``visitor`` on the nodes that etcd's walk finds overlapping ``iv``, in
        order of begin; False once the visitor asks to stop."""
        v = interval_compare(iv, (self.begin, self.end))
        left, right = self.left, self.right
        if v < 0:
            return left is None or left.visit(iv, visitor)
        if v > 0:
            # etcd goes below only if [begin, max] of this subtree overlaps the query
            if interval_compare((self.begin, self.max), iv) == 0:
                if left is not None and not left.visit(iv, visitor):
                    return False
                if right is not None and not right.visit(iv, visitor):
                    return False
            return True
        if left is not None and not left.visit(iv, visitor):
            return False
        if not visitor(self):
            return False
        return right is None or right.visit(iv, visitor)


def _is_red(x: _Node | None) -> bool:
    return x is not None and x.red


class IntervalTree:
    """An augmented red-black tree of intervals, ordered by begin (equal begins go right)."""

    def __init__(self) -> None:
        self.root: _Node | None = None
        self.count = 0

    def insert(self, iv: Interval) -> None:
        z = _Node(*iv)
        y: _Node | None = None
        x = self.root
        while x is not None:
            y = x
            x = x.left if compare(z.begin, x.begin) < 0 else x.right
        z.parent = y
        if y is None:
            self.root = z
        else:
            if compare(z.begin, y.begin) < 0:
                y.left = z
            else:
                y.right = z
            y.update_max()
        self._insert_fixup(z)
        self.count += 1

    def _insert_fixup(self, z: _Node) -> None:
        while _is_red(z.parent):
            parent = z.parent
            assert parent is not None and parent.parent is not None  # a red node has one
            grand = parent.parent
            if parent is grand.left:
                uncle = grand.right
                if uncle is not None and uncle.red:
                    uncle.red = parent.red = False
                    grand.red = True
                    z = grand
                    continue
                if z is parent.right:
                    z = parent
                    self._rotate_left(z)
                self._recolor_and_rotate(z, self._rotate_right)
            else:
                uncle = grand.left
                if uncle is not None and uncle.red:
                    uncle.red = parent.red = False
                    grand.red = True
                    z = grand
                    continue
                if z is parent.left:
                    z = parent
                    self._rotate_right(z)
                self._recolor_and_rotate(z, self._rotate_left)
        assert self.root is not None
        self.root.red = False

    @staticmethod
    def _recolor_and_rotate(z: _Node, rotate: Callable[[_Node], None]) -> None:
        """The last case of the fix-up: z's parent black, its grandparent red and rotated."""
        parent = z.parent
        assert parent is not None and parent.parent is not None
        parent.red = False
        parent.parent.red = True
        rotate(parent.parent)

    def _rotate_left(self, x: _Node) -> None:
        y = x.right
        if y is None:
            return
        x.right = y.left
        if y.left is not None:
            y.left.parent = x
        x.update_max()
        self._replace_parent(x, y)
        y.left = x
        y.update_max()

    def _rotate_right(self, x: _Node) -> None:
        y = x.left
        if y is None:
            return
        x.left = y.right
        if y.right is not None:
            y.right.parent = x
        x.update_max()
        self._replace_parent(x, y)
        y.right = x
        y.update_max()

    def _replace_parent(self, x: _Node, y: _Node) -> None:
        """Put y where x hangs; x becomes y's child (the caller links it)."""
        up = x.parent
        y.parent = up
        if up is None:
            self.root = y
        else:
            if x is up.left:
                up.left = y
            else:
                up.right = y
            up.update_max()  # with y's max not yet updated, as etcd does
        x.parent = y

    def visit(self, iv: Interval, visitor: Callable[[_Node], bool]) -> None:
        if self.root is not None:
            self.root.visit(iv, visitor)

    def intersects(self, iv: Interval) -> bool:
        """Whether some interval overlaps ``iv``, found by etcd's one-path descent."""
        x = self.root
        while x is not None and interval_compare(iv, (x.begin, x.end)) != 0:
            left = x.left
            x = left if left is not None and compare(left.max, iv[0]) > 0 else x.right
        return x is not None

    def contains(self, iv: Interval) -> bool:
        """Whether the intervals ``visit`` finds cover ``iv`` without a gap."""
        found: list[bytes] = []  # [min begin, max end] once a node is visited
        contiguous = True

        def extend(n: _Node) -> bool:
            nonlocal contiguous
            if not found:
                found.extend((n.begin, n.end))
                return True
            if compare(found[1], n.begin) < 0:
                contiguous = False
                return False
            if compare(n.end, found[1]) > 0:
                found[1] = n.end
            return True

        self.visit(iv, extend)
        return (
            contiguous
            and bool(found)
            and compare(found[1], iv[1]) >= 0
            and compare(found[0], iv[0]) <= 0
        )

    def shape(self) -> list[tuple[int, Interval, bool]]:
        """(depth, interval, red) of each node in level order: for tests."""
        out: list[tuple[int, Interval, bool]] = []
        level = [self.root] if self.root is not None else []
        depth = 0
        while level:
            out += [(depth, (n.begin, n.end), n.red) for n in level]
            level = [c for n in level for c in (n.left, n.right) if c is not None]
            depth += 1
        return out
