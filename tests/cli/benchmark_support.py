"""Running ``etcd3py benchmark`` in the test process and reading its report."""

from __future__ import annotations

import re
from collections.abc import Sequence

from click.testing import CliRunner, Result

from etcd3py.cli.benchmark import benchmark

__all__ = ["histogram_counts", "invoke", "sections"]

BUCKET = re.compile(r"^  \S+ \[(\d+)\]\t\|∎*$")


def invoke(args: Sequence[str], endpoint: str | None = None) -> Result:
    """Run the benchmark group with ``args`` (after ``--endpoints`` when given)."""
    full = (["--endpoints", endpoint] if endpoint else []) + list(args)
    return CliRunner().invoke(benchmark, full, catch_exceptions=False)


def histogram_counts(report: str) -> list[list[int]]:
    """The bucket counts of each response time histogram in ``report``, in order."""
    found: list[list[int]] = []
    inside = False
    for line in report.splitlines():
        if line == "Response time histogram:":
            found.append([])
            inside = True
            continue
        match = BUCKET.match(line)
        if inside and match:
            found[-1].append(int(match.group(1)))
        else:
            inside = False
    return found


def sections(report: str) -> list[str]:
    """The section titles of a report, in order."""
    titles = (
        "Summary:",
        "Response time histogram:",
        "Latency distribution:",
        "Error distribution:",
        "Sample in one second (unix latency throughput):",
    )
    return [line for line in report.splitlines() if line in titles]
