"""``-w table``: the box tables etcdctl draws with olekukonko/tablewriter.

A small renderer rather than a library: tabulate and prettytable draw the same boxes but
not tablewriter's exact bytes (headers upper-cased and centred with the odd space on the
right, cells right-aligned, text with spaces wrapped at 30 columns), so matching them
would take as much code as this.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import Printer
from .cluster import (
    HASH_HEADER,
    HEALTH_HEADER,
    MEMBER_HEADER,
    STATUS_HEADER,
    EndpointHash,
    EndpointHealth,
    EndpointStatus,
    MemberList,
    hash_rows,
    health_rows,
    member_rows,
    status_rows,
)
from .stream import line

WRAP_AT = 30  # tablewriter's default MaxColWidth


def _title(name: str) -> str:
    """tablewriter's header form: upper case, ``_`` and ``.`` as spaces."""
    return name.replace("_", " ").replace(".", " ").upper().strip()


def _wrap(cell: str) -> list[str]:
    """tablewriter's word wrap: lines of at most WRAP_AT columns, never splitting a word."""
    if len(cell) <= WRAP_AT:
        return [cell]
    lines: list[str] = []
    current = ""
    for word in cell.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and len(candidate) > WRAP_AT:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    return lines


def _centre(text: str, width: int) -> str:
    gap = width - len(text)
    left = gap // 2
    return " " * left + text + " " * (gap - left)


def render(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The table's lines, without newlines."""
    titles = [_title(h) for h in header]
    wrapped = [[_wrap(cell) for cell in row] for row in rows]
    widths = [len(t) for t in titles]
    for row, cells in zip(wrapped, rows, strict=True):
        for i, cell_lines in enumerate(row):
            # tablewriter sizes a wrapped column to the wrap width even when its longest
            # line is shorter (``memberID:N alarm:NOSPACE `` in endpoint status's errors)
            widths[i] = max(widths[i], min(len(cells[i]), WRAP_AT), *map(len, cell_lines))
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [
        rule,
        "|" + "|".join(f" {_centre(t, w)} " for t, w in zip(titles, widths, strict=True)) + "|",
        rule,
    ]
    for row in wrapped:
        height = max((len(c) for c in row), default=1)
        for n in range(height):
            parts = [
                (c[n] if n < len(c) else "").rjust(w) for c, w in zip(row, widths, strict=True)
            ]
            out.append("|" + "|".join(f" {p} " for p in parts) + "|")
    out.append(rule)
    return out


class TablePrinter(Printer):
    name = "table"

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        for text in render(header, rows):
            line(text)

    # ---- cluster and maintenance: member, endpoint ----

    def member_list(self, response: MemberList) -> None:
        self.table(MEMBER_HEADER, member_rows(response.members))

    def endpoint_health(self, items: Sequence[EndpointHealth]) -> None:
        self.table(HEALTH_HEADER, health_rows(items))

    def endpoint_status(self, items: Sequence[EndpointStatus]) -> None:
        self.table(STATUS_HEADER, status_rows(items))

    def endpoint_hash(self, items: Sequence[EndpointHash]) -> None:
        self.table(HASH_HEADER, hash_rows(items))
