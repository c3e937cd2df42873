"""A user project with only ``pip install etcd3py pytest``: the plugin loads from a
built wheel (not this checkout) in a fresh virtual environment."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# every fixture, with nothing installed but etcd3py and pytest (anyio, a dependency of
# etcd3py, brings its pytest plugin for the async test)
USER_TEST = """
import pytest

from etcd3py import Client
from etcd3py.testing import assert_lock_held, wait_for_key
from etcd3py.recipes import Mutex


def test_the_installed_plugin_serves(etcd_client, etcd_prefix):
    etcd_client.put(etcd_prefix + "k", "v")
    assert wait_for_key(etcd_client, etcd_prefix + "k", "v").value == b"v"


def test_a_lease_expires_now(etcd_server, etcd_endpoint):
    with Client(etcd_endpoint) as client:
        lease = client.grant(60)
        client.put("leased", "v", lease=lease)
        etcd_server.expire_leases()
        assert client.get("leased").value is None


def test_a_lock(etcd_client):
    with Mutex(etcd_client, "jobs", ttl=10) as held:
        assert assert_lock_held(etcd_client, "jobs", by=held)


@pytest.mark.anyio
async def test_the_async_client(async_etcd_client):
    await async_etcd_client.put("a", "1")
    assert (await async_etcd_client.get("a")).value == b"1"


def test_a_cluster(etcd_cluster):
    old = etcd_cluster.wait_leader()
    etcd_cluster.kill_member(etcd_cluster.members.index(old))
    assert etcd_cluster.wait_leader(other_than=old) is not old
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
    assert "5 passed" in out, out
    where = _run(python, "-c", "import etcd3py.testing.plugin as p; print(p.__file__)", cwd=project)
    assert str(tmp_path / "venv") in where  # the wheel's copy, not the checkout
