"""Writes whose outcome is unknown: the error says so, and put_once/txn_once resolve it.

Faults are real: a TCP proxy between the client and the server drops the server's
answers (``mute``: the write is applied, its answer lost) or the client's requests
(``deafen``: the write never arrives), then breaks the connection (``down``/``up``).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from etcd3py import (
    AsyncClient,
    ConnectionFailedError,
    DeadlineExceededError,
    EtcdError,
    Get,
    Put,
    TxnResponse,
    Version,
)
from etcd3py._async._primitives import spawn
from etcd3py._once import ONCE_PREFIX
from tests.support.backends import Backend
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.anyio


@pytest.fixture
def proxy(backend: Backend) -> Iterator[TcpProxy]:
    with TcpProxy(int(backend.endpoint.rsplit(":", 1)[1])) as p:
        yield p


@pytest.fixture
async def behind(proxy: TcpProxy) -> AsyncIterator[AsyncClient]:
    """A client whose every call goes through ``proxy``."""
    async with AsyncClient(proxy.endpoint, timeout=1) as c:
        yield c


class _Repeated(logging.Handler):
    """Set when put_once/txn_once logs that it repeats a write of unknown outcome."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("write of unknown outcome"):
            self.seen.set()


@pytest.fixture
def repeated() -> Iterator[_Repeated]:
    handler = _Repeated()
    logger = logging.getLogger("etcd3py")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_a_write_whose_answer_is_lost_says_its_outcome_is_unknown(
    aclient: AsyncClient, behind: AsyncClient, proxy: TcpProxy, prefix: bytes
) -> None:
    k = prefix + b"k"
    await behind.put(k, "v1")  # connected
    proxy.mute()
    with pytest.raises(DeadlineExceededError) as lost:
        await behind.put(k, "v2", timeout=0.5)
    assert lost.value.outcome_unknown
    assert (await aclient.get(k)).value == b"v2"  # it was applied: unknown was right
    with pytest.raises(DeadlineExceededError) as read:
        await behind.get(k, timeout=0.5)
    assert not read.value.outcome_unknown  # a read changes nothing
    with socket.create_server(("127.0.0.1", 0)) as listener:
        nobody = f"127.0.0.1:{listener.getsockname()[1]}"  # refused once it is closed
    async with AsyncClient(nobody, timeout=0.5) as refused:
        with pytest.raises(EtcdError) as never_sent:
            await refused.put(k, "v3")
    assert isinstance(never_sent.value, ConnectionFailedError)
    assert not never_sent.value.outcome_unknown


async def test_a_write_that_never_arrived_is_unknown_too(
    aclient: AsyncClient, behind: AsyncClient, proxy: TcpProxy, prefix: bytes
) -> None:
    k = prefix + b"k"
    await behind.get(k)  # connected
    proxy.deafen()
    with pytest.raises(DeadlineExceededError) as lost:
        await behind.txn([Version(k) == 0], [Put(k, "v")], timeout=0.5)
    assert lost.value.outcome_unknown  # the client cannot tell this case from the last
    assert (await aclient.get(k)).count == 0


async def test_put_once_whose_answer_is_lost_is_applied_once(
    aclient: AsyncClient, behind: AsyncClient, proxy: TcpProxy, prefix: bytes
) -> None:
    k = prefix + b"k"
    await behind.put_once(prefix + b"warm-up", "x")  # its markers' lease is granted
    done: list[object] = []

    async def write() -> None:
        done.append(await behind.put_once(k, "v", attempt_timeout=0.5, timeout=30))

    proxy.mute()  # the put is applied, its answer lost, and so for every repeat
    task = spawn(write, name="put-once")
    deadline = time.monotonic() + 10
    while (await aclient.get(k)).count == 0:
        assert time.monotonic() < deadline, "the put never arrived"
    proxy.down()
    proxy.up()
    await task.join(30)
    [result] = done
    kv = (await aclient.get(k)).kvs[0]
    assert kv.version == 1  # applied once, never twice
    assert result.recovered and result.response is None and result.succeeded  # type: ignore[attr-defined]
    assert result.revision == kv.mod_revision and result.attempts > 1  # type: ignore[attr-defined]


async def test_txn_once_that_never_arrived_is_applied_once(
    aclient: AsyncClient,
    behind: AsyncClient,
    proxy: TcpProxy,
    prefix: bytes,
    repeated: _Repeated,
) -> None:
    k = prefix + b"k"
    await behind.put_once(prefix + b"warm-up", "x")
    done: list[object] = []

    async def write() -> None:
        done.append(
            await behind.txn_once(
                [Version(k) == 0], [Put(k, "v"), Get(k)], [Get(k)], attempt_timeout=0.5, timeout=30
            )
        )

    proxy.deafen()  # the transaction never reaches the server
    task = spawn(write, name="txn-once")
    deadline = time.monotonic() + 10
    while not repeated.seen.is_set():  # its first attempt failed, outcome unknown
        assert time.monotonic() < deadline, "the first attempt never failed"
        await aclient.get(k, count_only=True)
    assert (await aclient.get(k)).count == 0
    proxy.down()
    proxy.up()
    await task.join(30)
    [result] = done
    kv = (await aclient.get(k)).kvs[0]
    assert kv.version == 1 and kv.value == b"v"
    assert not result.recovered and result.succeeded and result.attempts > 1  # type: ignore[attr-defined]
    response = result.response  # type: ignore[attr-defined]
    assert isinstance(response, TxnResponse) and response.succeeded
    assert [r.value for r in response.responses[1:]] == [b"v"]  # type: ignore[union-attr]
    assert len(response.responses) == 2  # the caller's operations only, not the marker's
    assert result.revision == kv.mod_revision  # type: ignore[attr-defined]


async def test_txn_once_reports_the_branch_that_ran(aclient: AsyncClient, prefix: bytes) -> None:
    k = prefix + b"k"
    await aclient.put(k, "old")
    result = await aclient.txn_once([Version(k) == 0], [Put(k, "new")], [Get(k)])
    assert not result.succeeded and result.attempts == 1 and not result.recovered
    assert result.response is not None and result.response.responses[0].value == b"old"  # type: ignore[union-attr]
    markers = await aclient.get(ONCE_PREFIX, prefix=True, keys_only=True)
    assert markers.count >= 1
    info = await aclient.time_to_live(markers.kvs[0].lease)
    assert 0 < info.ttl <= 180  # markers go away with their lease
