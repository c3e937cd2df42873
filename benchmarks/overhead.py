"""What etcd3py itself adds to a call, with the network and grpcio taken out.

    python benchmarks/run.py --workloads overhead     (or python benchmarks/overhead.py)

Against a real server the client's CPU per call (40-450 us) is mostly grpcio's and
the kernel's, and the rounds of one run spread by +-10%: too much noise to tell a
client 3% dearer than the raw stub from one at the floor. Here both sides call the
same in-process fake in place of grpcio's multicallable, which serialises the request
and returns a ready answer: the raw side builds the request by hand and calls it as
the generated stub would be called, etcd3py goes through ``client.get`` / ``put``
(argument checks, request building, the transport's call path, response wrapping).
The difference is etcd3py's own CPU per call, deterministic to a tenth of a
microsecond; the run's tables give the real calls' CPU to divide it by.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

import asyncio  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from typing import Any  # noqa: E402

import etcd3py  # noqa: E402
from etcd3py._proto import rpc_pb2  # noqa: E402

CALLS = 100_000  # per timed loop
ROUNDS = 5  # loops per (face, op, side), interleaved; the median is reported
KEY, VALUE = b"/bench/overhead/key", b"v" * 256
Row = dict[str, Any]


def _answers() -> dict[str, Any]:
    got = rpc_pb2.RangeResponse(count=1)
    got.kvs.add(key=KEY, value=VALUE, create_revision=2, mod_revision=3, version=2)
    got.header.revision = 3
    put = rpc_pb2.PutResponse()
    put.header.revision = 3
    return {"Range": got, "Put": put}


class _SyncFake:
    """grpcio's multicallable without grpcio: serialises, answers at once."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def __call__(self, request: Any, timeout: Any = None, metadata: Any = None) -> Any:
        request.SerializeToString()
        return self.answer


class _AsyncFake(_SyncFake):
    async def __call__(  # type: ignore[override]
        self, request: Any, timeout: Any = None, metadata: Any = None
    ) -> Any:
        request.SerializeToString()
        return self.answer


def _plug(client: Any, fake: type[_SyncFake]) -> dict[str, _SyncFake]:
    """Every connection of ``client`` answers from the fakes; returns them by method."""
    fakes = {name: fake(answer) for name, answer in _answers().items()}
    for conn in client._transport.connections:
        conn.unary = lambda method: fakes[method.path.rsplit("/", 1)[1]]
    return fakes


def _cpu_per_call(loop: Callable[[], None]) -> float:
    started = time.process_time()
    loop()
    return (time.process_time() - started) / CALLS * 1e6


def _sync_loops() -> dict[tuple[str, str], Callable[[], None]]:
    client = etcd3py.Client("127.0.0.1:1")  # never dialled: the fakes answer
    fakes = _plug(client, _SyncFake)
    get_stub, put_stub = fakes["Range"], fakes["Put"]

    def raw_get() -> None:
        for _ in range(CALLS):
            response = get_stub(rpc_pb2.RangeRequest(key=KEY), timeout=5.0, metadata=())
            _ = response.kvs[0].value if response.kvs else None

    def ours_get() -> None:
        for _ in range(CALLS):
            _ = client.get(KEY).value

    def raw_put() -> None:
        for _ in range(CALLS):
            put_stub(rpc_pb2.PutRequest(key=KEY, value=VALUE), timeout=5.0, metadata=())

    def ours_put() -> None:
        for _ in range(CALLS):
            client.put(KEY, VALUE)

    return {
        ("get", "raw"): raw_get,
        ("get", "etcd3py"): ours_get,
        ("put", "raw"): raw_put,
        ("put", "etcd3py"): ours_put,
    }


async def _async_rows() -> dict[tuple[str, str], list[float]]:
    client = etcd3py.AsyncClient("127.0.0.1:1")
    fakes = _plug(client, _AsyncFake)
    get_stub, put_stub = fakes["Range"], fakes["Put"]

    async def raw_get() -> None:
        for _ in range(CALLS):
            response = await get_stub(rpc_pb2.RangeRequest(key=KEY), timeout=5.0, metadata=())
            _ = response.kvs[0].value if response.kvs else None

    async def ours_get() -> None:
        for _ in range(CALLS):
            _ = (await client.get(KEY)).value

    async def raw_put() -> None:
        for _ in range(CALLS):
            await put_stub(rpc_pb2.PutRequest(key=KEY, value=VALUE), timeout=5.0, metadata=())

    async def ours_put() -> None:
        for _ in range(CALLS):
            await client.put(KEY, VALUE)

    loops: dict[tuple[str, str], Callable[[], Awaitable[None]]] = {
        ("get", "raw"): raw_get,
        ("get", "etcd3py"): ours_get,
        ("put", "raw"): raw_put,
        ("put", "etcd3py"): ours_put,
    }
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in loops}
    for _ in range(ROUNDS):
        for key, loop in loops.items():
            started = time.process_time()
            await loop()
            samples[key].append((time.process_time() - started) / CALLS * 1e6)
    await client.close()
    return samples


def measure() -> list[Row]:
    """Per face and operation: raw and etcd3py CPU per call (median and min-max)."""
    samples: dict[tuple[str, str, str], list[float]] = {}
    sync_loops = _sync_loops()
    for _ in range(ROUNDS):
        for (op, side), loop in sync_loops.items():
            samples.setdefault(("sync", op, side), []).append(_cpu_per_call(loop))
    for (op, side), values in asyncio.run(_async_rows()).items():
        samples[("async", op, side)] = values
    rows = []
    for face in ("sync", "async"):
        for op in ("get", "put"):
            raw, ours = samples[(face, op, "raw")], samples[(face, op, "etcd3py")]
            rows.append({"face": face, "op": op, "raw": raw, "etcd3py": ours})
    return rows


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def section(rows: list[Row]) -> list[str]:
    lines = [
        "## What etcd3py adds to a call (no network, no grpcio)",
        "",
        f"CPU µs per call, {CALLS:,} calls per loop, {ROUNDS} loops per cell interleaved, "
        "median (min-max); both sides call the same in-process fake that serialises the "
        "request and answers at once (benchmarks/overhead.py).",
        "",
        "| face | op | raw stub call | etcd3py | added by etcd3py |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        added = statistics.median(row["etcd3py"]) - statistics.median(row["raw"])
        face = "Client (sync)" if row["face"] == "sync" else "AsyncClient"
        lines.append(
            f"| {face} | {row['op']} | {_cell(row['raw'])} | {_cell(row['etcd3py'])} "
            f"| {added:.2f} |"
        )
    return lines


def main() -> None:
    print("\n".join(section(measure())))


if __name__ == "__main__":
    main()
