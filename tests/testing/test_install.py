"""A user project with only ``pip install etcd3py pytest``: the plugin loads from a
built wheel (not this checkout) in a fresh virtual environment."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USER_TEST = """
from etcd3py.testing import wait_for_key


def test_the_installed_plugin_serves(etcd_client, etcd_prefix):
    etcd_client.put(etcd_prefix + "k", "v")
    assert wait_for_key(etcd_client, etcd_prefix + "k", "v").value == b"v"
"""


def _run(*args: str | Path, cwd: Path) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_a_wheel_in_a_fresh_venv_gives_the_fixtures(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-q", "-w", wheels, cwd=tmp_path)
    (wheel,) = wheels.glob("etcd3py-*.whl")
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", wheel, "pytest", cwd=tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_user.py").write_text(USER_TEST)
    out = _run(python, "-m", "pytest", "-p", "no:cacheprovider", "-v", cwd=project)
    assert "test_the_installed_plugin_serves PASSED" in out
    where = _run(python, "-c", "import etcd3py.testing.plugin as p; print(p.__file__)", cwd=project)
    assert str(tmp_path / "venv") in where  # the wheel's copy, not the checkout
