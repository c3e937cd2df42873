"""Go's ``sort.Sort`` as etcd 3.5.1 was built with it (Go 1.16), for the order it leaves
equal elements in.

etcd keeps a role's permissions sorted by key with ``sort.Sort``, which is not stable:
permissions with the same key and different range ends come out in an order that
RoleGet shows and that the permission tree is built in. That order is reproduced here by
doing what Go's sort does, comparison for comparison and swap for swap: a quicksort
(Bentley-McIlroy pivoting, with a guard against many duplicates) down to slices of 12,
then one shell pass of gap 6 and an insertion sort; heapsort past a depth limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Sorter(Generic[T]):
    """One sort of ``items`` in place by ``less``, in Go's steps."""

    def __init__(self, items: list[T], less: Callable[[T, T], bool]) -> None:
        self.items = items
        self.key_less = less

    def less(self, i: int, j: int) -> bool:
        return self.key_less(self.items[i], self.items[j])

    def swap(self, i: int, j: int) -> None:
        items = self.items
        items[i], items[j] = items[j], items[i]

    def insertion_sort(self, a: int, b: int) -> None:
        for i in range(a + 1, b):
            j = i
            while j > a and self.less(j, j - 1):
                self.swap(j, j - 1)
                j -= 1

    def sift_down(self, lo: int, hi: int, first: int) -> None:
        root = lo
        while True:
            child = 2 * root + 1
            if child >= hi:
                return
            if child + 1 < hi and self.less(first + child, first + child + 1):
                child += 1
            if not self.less(first + root, first + child):
                return
            self.swap(first + root, first + child)
            root = child

    def heap_sort(self, a: int, b: int) -> None:
        size = b - a
        for i in range((size - 1) // 2, -1, -1):
            self.sift_down(i, size, a)
        for i in range(size - 1, -1, -1):
            self.swap(a, a + i)
            self.sift_down(0, i, a)

    def median_of_three(self, m1: int, m0: int, m2: int) -> None:
        """Leave the median of items m0, m1, m2 at m1 (sorting the three)."""
        if self.less(m1, m0):
            self.swap(m1, m0)
        if self.less(m2, m1):
            self.swap(m2, m1)
            if self.less(m1, m0):
                self.swap(m1, m0)

    def pivot(self, lo: int, hi: int) -> tuple[int, int]:
        """Partition [lo, hi) around a pivot; the pivot's run of equals is [mid_lo, mid_hi)."""
        m = (lo + hi) // 2
        if hi - lo > 40:  # Tukey's ninther
            s = (hi - lo) // 8
            self.median_of_three(lo, lo + s, lo + 2 * s)
            self.median_of_three(m, m - s, m + s)
            self.median_of_three(hi - 1, hi - 1 - s, hi - 1 - 2 * s)
        self.median_of_three(lo, m, hi - 1)
        pivot, a, c = lo, lo + 1, hi - 1
        while a < c and self.less(a, pivot):
            a += 1
        b = a
        while True:
            while b < c and not self.less(pivot, b):
                b += 1
            while b < c and self.less(pivot, c - 1):
                c -= 1
            if b >= c:
                break
            self.swap(b, c - 1)
            b += 1
            c -= 1
        protect = hi - c < 5
        if not protect and hi - c < (hi - lo) // 4:
            dups = 0
            if not self.less(pivot, hi - 1):
                self.swap(c, hi - 1)
                c += 1
                dups += 1
            if not self.less(b - 1, pivot):
                b -= 1
                dups += 1
            if not self.less(m, pivot):
                self.swap(m, b - 1)
                b -= 1
                dups += 1
            protect = dups > 1
        if protect:  # many equal to the pivot: gather them in [b, c)
            while True:
                while a < b and not self.less(b - 1, pivot):
                    b -= 1
                while a < b and self.less(a, pivot):
                    a += 1
                if a >= b:
                    break
                self.swap(a, b - 1)
                a += 1
                b -= 1
        self.swap(pivot, b - 1)
        return b - 1, c

    def quick_sort(self, a: int, b: int, max_depth: int) -> None:
        while b - a > 12:
            if max_depth == 0:
                self.heap_sort(a, b)
                return
            max_depth -= 1
            mid_lo, mid_hi = self.pivot(a, b)
            if mid_lo - a < b - mid_hi:  # recurse on the smaller side
                self.quick_sort(a, mid_lo, max_depth)
                a = mid_hi
            else:
                self.quick_sort(mid_hi, b, max_depth)
                b = mid_lo
        if b - a > 1:
            for i in range(a + 6, b):  # one shell pass, gap 6
                if self.less(i, i - 6):
                    self.swap(i, i - 6)
            self.insertion_sort(a, b)


def go_sort(items: list[T], less: Callable[[T, T], bool]) -> None:
    """Sort ``items`` in place as Go 1.16's ``sort.Sort`` would with this ``less``."""
    depth_limit = 2 * len(items).bit_length()
    _Sorter(items, less).quick_sort(0, len(items), depth_limit)
