from __future__ import annotations

from collections.abc import AsyncIterator

import pytest


@pytest.fixture(scope="session", autouse=True)
async def _one_event_loop() -> AsyncIterator[None]:
    """Keep anyio's event loop for the whole session (it is per test otherwise).

    gRPC's completion queue may deliver a callback for a channel after the test that
    closed it ended; on a per-test loop that callback would hit a closed loop.
    """
    yield
