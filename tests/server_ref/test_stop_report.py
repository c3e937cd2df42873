"""A server_ref stop that hangs says where: kill() and stop() raise TimeoutError naming
the step under way and the server thread's stack, instead of a bare timeout (CI once
saw kill() outlast its 30 s with nothing to tell which await held it)."""

from __future__ import annotations

import asyncio

import pytest

from etcd3py.server_ref import EmbeddedServer
from etcd3py.server_ref.embed import embedded


def test_a_kill_that_hangs_names_its_step_and_where_the_thread_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = EmbeddedServer().start()
    held = server.call(_make_event())
    timers_stop = server._serving().stop

    async def stuck_stop() -> None:  # the server's own stop, held until released
        await held.wait()
        await timers_stop()

    monkeypatch.setattr(server._serving(), "stop", stuck_stop)
    monkeypatch.setattr(embedded, "STOP_TIMEOUT", 0.5)
    try:
        with pytest.raises(TimeoutError) as caught:
            server.kill()
        text = str(caught.value)
        assert 'at the step "stopping the server\'s timers"' in text
        assert "in stuck_stop" in text  # the chain of awaits shows the one that hangs
    finally:
        server._loop.call_soon_threadsafe(held.set)  # type: ignore[union-attr]
        server.stop()


async def _make_event() -> asyncio.Event:
    return asyncio.Event()
