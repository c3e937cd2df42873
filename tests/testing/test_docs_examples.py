"""The test files of docs/testing-your-code.md run as users run them: with embedded
servers, and with ``--etcd-endpoints`` at a real etcd 3.5.1 (where the tests that need
the reference server are skipped).

They are fenced as ``py title="test_x.py"``, not ``python``: tests/test_docs.py runs
every ``python`` block as a script, and these are pytest files (fixtures as arguments).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.servers import EtcdProcess

PAGE = Path(__file__).resolve().parents[2] / "docs" / "testing-your-code.md"
EXAMPLE = re.compile(r'^```py title="(test_\w+\.py)"\n(.*?)^```', re.MULTILINE | re.DOTALL)


def examples() -> dict[str, str]:
    return {m.group(1): m.group(2) for m in EXAMPLE.finditer(PAGE.read_text())}


def _write(pytester: pytest.Pytester) -> dict[str, str]:
    files = examples()
    assert {"test_registry.py", "test_worker.py", "test_config.py", "test_failover.py"} <= set(
        files
    )
    for name, code in files.items():
        pytester.path.joinpath(name).write_text(code)
    return files


def _count(files: dict[str, str], needle: str) -> int:
    """Tests whose text mentions ``needle`` (each test's text: from its def to the next)."""
    tests = re.split(r"^def (?=test_)", "\n".join(files.values()), flags=re.MULTILINE)[1:]
    return sum(needle in t for t in tests)


def test_the_examples_pass_on_embedded_servers(pytester: pytest.Pytester) -> None:
    files = _write(pytester)
    pytester.runpytest("-rs").assert_outcomes(passed=_count(files, ""))


def test_the_examples_pass_against_real_etcd(
    pytester: pytest.Pytester, real_etcd: EtcdProcess
) -> None:
    files = _write(pytester)
    embedded_only = _count(files, "etcd_server") + _count(files, "etcd_cluster")
    result = pytester.runpytest("-rs", "--etcd-endpoints", real_etcd.endpoint)
    result.assert_outcomes(passed=_count(files, "") - embedded_only, skipped=embedded_only)
