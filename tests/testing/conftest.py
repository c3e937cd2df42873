"""Users' test runs (pytester) get pytest-asyncio's loop scope set, as a user's
configuration would, so that it does not warn in every run."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _asyncio_loop_scope(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")  # it clears PYTEST_ADDOPTS: set it after
        monkeypatch.setenv("PYTEST_ADDOPTS", "-o asyncio_default_fixture_loop_scope=function")
