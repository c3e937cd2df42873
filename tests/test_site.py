"""The documentation site builds with no warning, its API reference generated from the code.

``mkdocs build --strict`` fails on a warning: a broken link or anchor, a page left out of
the nav, a docstring mkdocstrings cannot parse, an object it cannot find.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    # the theme's notice about its own end of life is not a warning of our build
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    warnings = [line for line in output.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not warnings, "\n".join(warnings)
    return site_dir


def test_the_site_builds_strict(site: Path) -> None:
    assert (site / "index.html").exists()
    assert (site / "client" / "index.html").exists()


def test_the_reference_is_generated_from_the_mapped_packages(site: Path) -> None:
    def page(name: str) -> str:
        return (site / "reference" / name / "index.html").read_text()

    assert 'id="etcd3py.Client.delete"' in page("client")
    assert 'id="etcd3py.AsyncClient.watch"' in page("async_client")
    assert 'id="etcd3py.recipes.Mutex.acquire"' in page("recipes")
    assert 'id="etcd3py.recipes.AsyncMutex.acquire"' in page("async_recipes")
    assert 'id="etcd3py.server_ref.EmbeddedServer.kill"' in page("server_ref")
    assert 'id="etcd3py.LeaseNotFoundError"' in page("errors")
    # a docstring's text, not only a heading
    assert "time_to_live" in page("client") and "ttl == -1" in page("client")
