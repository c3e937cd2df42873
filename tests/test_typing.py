"""A user's code outside the checkout sees etcd3py's types, after the README's install.

setuptools' default editable install reaches etcd3py through an import hook that mypy and
pyright do not run; the README installs in strict mode instead (docs/development.md).
These tests type-check a file written outside the repository, as a user's project would,
and fail when the install hides the types again or leaks the folders recipes/ and
server_ref/ as top-level packages.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

USER_CODE = """\
from etcd3py import Client
from etcd3py.recipes import Mutex
from etcd3py.server_ref import EmbeddedServer


def use(client: Client, server: EmbeddedServer) -> None:
    reveal_type(client.get("k"))
    reveal_type(Mutex(client, "m"))
    reveal_type(server)
    wrong: int = client.get("k")
    print(wrong)
"""
WRONG_LINE = 10
HINT = "install as the README says: pip install -e . --config-settings editable_mode=strict"


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    assert not tmp_path.resolve().is_relative_to(ROOT), "the user's file must be outside"
    (tmp_path / "app.py").write_text(USER_CODE)
    return tmp_path


def run_in(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=where, capture_output=True, text=True, timeout=300
    )


def test_mypy_strict_sees_the_types(user_project: Path) -> None:
    result = run_in(user_project, "-m", "mypy", "--strict", "--cache-dir", ".mypy_cache", "app.py")
    out = result.stdout
    assert "import-not-found" not in out and "import-untyped" not in out, f"{HINT}\n{out}"
    assert 'Revealed type is "etcd3py._types.GetResponse"' in out, out
    assert 'Revealed type is "etcd3py.recipes._sync._mutex.Mutex"' in out, out
    assert 'Revealed type is "etcd3py.server_ref.embed.embedded.EmbeddedServer"' in out, out
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert errors == [
        f"app.py:{WRONG_LINE}: error: Incompatible types in assignment (expression has type "
        '"GetResponse", variable has type "int")  [assignment]'
    ], out


def test_pyright_strict_sees_the_types(user_project: Path) -> None:
    (user_project / "pyrightconfig.json").write_text('{"typeCheckingMode": "strict"}')
    result = run_in(
        user_project, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable, "app.py"
    )
    report = json.loads(result.stdout)
    diagnostics = report["generalDiagnostics"]
    revealed = [d["message"] for d in diagnostics if d["severity"] == "information"]
    errors = [
        (d["range"]["start"]["line"] + 1, d["rule"])
        for d in diagnostics
        if d["severity"] == "error"
    ]
    assert not [d for d in diagnostics if d.get("rule") == "reportMissingImports"], HINT
    assert revealed == [
        'Type of "client.get("k")" is "GetResponse"',
        'Type of "Mutex(client, "m")" is "Mutex"',
        'Type of "server" is "EmbeddedServer"',
    ], diagnostics
    assert errors == [(WRONG_LINE, "reportAssignmentType")], diagnostics


def test_the_folders_do_not_become_top_level_packages(tmp_path: Path) -> None:
    for name in ("recipes", "server_ref", "tests", "scripts", "benchmarks"):
        result = run_in(tmp_path, "-c", f"import {name}")
        assert f"No module named '{name}'" in result.stderr, f"import {name} works"
    result = run_in(tmp_path, "-c", "import etcd3py.recipes, etcd3py.server_ref")
    assert result.returncode == 0, result.stderr
