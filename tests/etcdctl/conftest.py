from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.etcdctl import Background


@pytest.fixture
def background() -> Iterator[Callable[..., Background]]:
    """Start long-running etcdctl commands; all are stopped after the test."""
    started: list[Background] = []

    def start(endpoint: str, *args: str) -> Background:
        bg = Background(endpoint, *args)
        started.append(bg)
        return bg

    yield start
    for bg in started:
        bg.stop()
