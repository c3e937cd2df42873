"""Project checks that belong to every test run: lint, format, types, generated code."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def needs(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[dev]')")


# excluded with the generated files around it, but written by hand
HAND_WRITTEN_SYNC = "etcd3py/_sync/_primitives.py"


def test_ruff_lint() -> None:
    needs("ruff")
    for target in (".", HAND_WRITTEN_SYNC):
        result = run("-m", "ruff", "check", target)
        assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    needs("ruff")
    for target in (".", HAND_WRITTEN_SYNC):
        result = run("-m", "ruff", "format", "--check", target)
        assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    needs("mypy")
    result = run("-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_protobuf_code_is_fresh() -> None:
    result = run("scripts/gen_protos.py", "--check", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sync_face_is_generated_from_the_async_source() -> None:
    result = run("scripts/unasync.py", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^    (python3 .+)$", readme, flags=re.MULTILINE)
    assert len(commands) >= 2, "the README opens with two commands"
    test_command = commands[1]
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_py_typed_is_shipped() -> None:
    assert (ROOT / "etcd3py" / "py.typed").exists()
