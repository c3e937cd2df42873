"""One point of a scaling curve, for etcd3py's AsyncClient or the raw grpc.aio stubs.

    python -m benchmarks.workers.scaling --client etcd3py|raw --case CASE --size N ...

Cases (each prints one ``RESULT {json}`` line, as the other workers do):

- ``watches``: N watches on N keys through one client: CPU and memory (RSS growth)
  to create them, CPU per second while they sit idle, and the latency of an event
  (a put through a separate channel until the event reaches the watch's reader),
  over ``--events`` puts to keys spread over the N.
- ``range``: read a prefix of N keys (seeded beforehand by the orchestrator) whole
  (``--mode whole``: one get) or a page at a time (``--mode paged``): wall, CPU and
  the process's peak RSS above its RSS before the read.
- ``values``: sequential put then get of ``--ops`` values of N bytes: CPU per op and
  MB/s.

Each point runs in a fresh process, so peak RSS is that point's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc.aio

import etcd3py
from benchmarks.workers.harness import CALL_TIMEOUT, Meter, prefix_end
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc

IDLE_WINDOW = 2.0  # seconds the watches sit idle, measured
PAGE_SIZE = 1000
UNLIMITED = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


def rss_kib(field: str = "VmRSS") -> int:
    """The process's resident memory (or, with VmHWM, its peak so far), KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> None:
    """Restart VmHWM from the current RSS (Linux: write 5 to clear_refs)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


# ---- the two clients ----


class Raw:
    """The floor: generated stubs; watches as create requests on one Watch stream."""

    def __init__(self, endpoint: str) -> None:
        # no message size limit, as etcd3py's channels: a whole large range fits
        self.channel = grpc.aio.insecure_channel(endpoint, options=UNLIMITED)
        self.kv = rpc_pb2_grpc.KVStub(self.channel)
        self.watcher = rpc_pb2_grpc.WatchStub(self.channel)
        self._queues: dict[int, asyncio.Queue[Any]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def put(self, key: bytes, value: bytes) -> None:
        await self.kv.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=CALL_TIMEOUT)

    async def get(self, key: bytes) -> bytes:
        response = await self.kv.Range(rpc_pb2.RangeRequest(key=key), timeout=CALL_TIMEOUT)
        return bytes(response.kvs[0].value)

    async def read_whole(self, prefix: bytes) -> int:
        request = rpc_pb2.RangeRequest(key=prefix, range_end=prefix_end(prefix))
        return touch((await self.kv.Range(request, timeout=CALL_TIMEOUT)).kvs)

    async def read_paged(self, prefix: bytes) -> int:
        begin, end, revision, seen = prefix, prefix_end(prefix), 0, 0
        while True:
            request = rpc_pb2.RangeRequest(
                key=begin, range_end=end, limit=PAGE_SIZE, revision=revision
            )
            page = await self.kv.Range(request, timeout=CALL_TIMEOUT)
            revision = revision or page.header.revision
            seen += touch(page.kvs)
            if not page.more or not page.kvs:
                return seen
            begin = page.kvs[-1].key + b"\0"

    async def open_watches(self, keys: list[bytes]) -> list[Callable[[], Awaitable[Any]]]:
        call = self.watcher.Watch()
        created: asyncio.Queue[int] = asyncio.Queue()

        async def read() -> None:
            async for response in call:
                if response.created:
                    created.put_nowait(response.watch_id)
                elif response.events:
                    self._queues[response.watch_id].put_nowait(response)

        self._reader = asyncio.create_task(read())
        nexts: list[Callable[[], Awaitable[Any]]] = []
        for key in keys:  # etcd answers creates in order: one at a time, as a client would
            await call.write(
                rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=key))
            )
            queue: asyncio.Queue[Any] = asyncio.Queue()
            self._queues[await created.get()] = queue
            nexts.append(queue.get)
        return nexts

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.RpcError):
                await self._reader
        await self.channel.close()


class Etcd3py:
    """etcd3py.AsyncClient, as its documentation shows."""

    def __init__(self, endpoint: str) -> None:
        self.client = etcd3py.AsyncClient(endpoint, timeout=CALL_TIMEOUT)
        self._watches = contextlib.AsyncExitStack()

    async def put(self, key: bytes, value: bytes) -> None:
        await self.client.put(key, value)

    async def get(self, key: bytes) -> bytes:
        value = (await self.client.get(key)).value
        assert value is not None
        return value

    async def read_whole(self, prefix: bytes) -> int:
        return touch((await self.client.get(prefix, prefix=True)).kvs)

    async def read_paged(self, prefix: bytes) -> int:
        seen = 0
        async for kv in self.client.get_paged(prefix, prefix=True, page_size=PAGE_SIZE):
            _ = len(kv.key) + len(kv.value)  # the same work as touch()
            seen += 1
        return seen

    async def open_watches(self, keys: list[bytes]) -> list[Callable[[], Awaitable[Any]]]:
        nexts = []
        for key in keys:
            watch = await self._watches.enter_async_context(self.client.watch(key))
            nexts.append(watch.__anext__)
        return nexts

    async def close(self) -> None:
        await self._watches.aclose()
        await self.client.close()


# ---- the cases ----


def key_of(prefix: bytes, i: int) -> bytes:
    return prefix + b"%010d" % i


async def case_watches(client: Raw | Etcd3py, opts: argparse.Namespace) -> dict[str, Any]:
    keys = [key_of(opts.prefix, i) for i in range(opts.size)]
    rss0 = rss_kib()
    with Meter() as create:
        nexts = await client.open_watches(keys)
    rss1 = rss_kib()
    with Meter() as idle:
        await asyncio.sleep(IDLE_WINDOW)
    writer = Raw(opts.endpoint)
    latencies = []
    step = max(1, opts.size // opts.events)
    try:
        with Meter() as events:
            for n in range(opts.events):
                i = (n * step) % opts.size
                start = time.perf_counter()
                await writer.put(keys[i], b"x")
                await asyncio.wait_for(nexts[i](), CALL_TIMEOUT)
                latencies.append(time.perf_counter() - start)
    finally:
        await writer.close()
    latencies.sort()
    return {
        "create_s": create.wall,
        "create_cpu_us_per_watch": create.cpu / opts.size * 1e6,
        "rss_kib_per_watch": (rss1 - rss0) / opts.size,
        "rss_kib": rss1,
        "idle_cpu_ms_per_s": idle.cpu / idle.wall * 1e3,
        "event_p50_ms": statistics.median(latencies) * 1e3,
        "event_p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1e3,
        "events_cpu_us_per_event": events.cpu / opts.events * 1e6,  # writer's put included
    }


def touch(kvs: Any) -> int:
    """Reads every key and value of ``kvs``, as a caller using them would: counting
    them only would let the raw stub skip the per-item work every client must do."""
    seen = 0
    for kv in kvs:
        _ = len(kv.key) + len(kv.value)
        seen += 1
    return seen


async def case_range(client: Raw | Etcd3py, opts: argparse.Namespace) -> dict[str, Any]:
    read = client.read_paged if opts.mode == "paged" else client.read_whole
    reset_peak()
    rss0 = rss_kib()
    try:
        with Meter() as meter:
            seen = await read(opts.prefix)
    except grpc.RpcError as err:  # e.g. the response is larger than gRPC will receive
        return {"error": f"{err.code().name}: {err.details()}"}
    except etcd3py.EtcdError as err:
        return {"error": f"{type(err).__name__}: {err}"}
    if seen != opts.size:
        return {"error": f"read {seen} keys, expected {opts.size}"}
    return {
        "wall_s": meter.wall,
        "cpu_s": meter.cpu,
        "peak_rss_mib_above_start": (rss_kib("VmHWM") - rss0) / 1024,
    }


async def case_values(client: Raw | Etcd3py, opts: argparse.Namespace) -> dict[str, Any]:
    value = b"v" * opts.size
    keys = [key_of(opts.prefix, i) for i in range(8)]
    for key in keys:  # warm-up, and the keys the gets read
        await client.put(key, value)
        await client.get(key)
    with Meter() as puts:
        for n in range(opts.ops):
            await client.put(keys[n % len(keys)], value)
    with Meter() as gets:
        for n in range(opts.ops):
            if len(await client.get(keys[n % len(keys)])) != opts.size:
                raise RuntimeError("short value")
    mb = opts.size * opts.ops / 1e6
    return {
        "put_cpu_us": puts.cpu / opts.ops * 1e6,
        "put_mb_s": mb / puts.wall,
        "put_ops_s": opts.ops / puts.wall,
        "get_cpu_us": gets.cpu / opts.ops * 1e6,
        "get_mb_s": mb / gets.wall,
        "get_ops_s": opts.ops / gets.wall,
    }


CASES = {"watches": case_watches, "range": case_range, "values": case_values}


async def _main(opts: argparse.Namespace) -> None:
    client: Raw | Etcd3py = Raw(opts.endpoint) if opts.client == "raw" else Etcd3py(opts.endpoint)
    try:
        result = await CASES[opts.case](client, opts)
    finally:
        await client.close()
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--client", choices=("raw", "etcd3py"), required=True)
    p.add_argument("--case", choices=tuple(CASES), required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--prefix", default="/scale/")
    p.add_argument("--events", type=int, default=200)
    p.add_argument("--ops", type=int, default=200)
    p.add_argument("--mode", choices=("whole", "paged"), default="whole")
    opts = p.parse_args()
    opts.prefix = opts.prefix.encode()
    asyncio.run(_main(opts))


if __name__ == "__main__":
    main()
