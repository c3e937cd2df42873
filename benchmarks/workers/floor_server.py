"""The floor of a grpc.aio server in Python: KV and Status that store nothing.

    python -m benchmarks.workers.floor_server --listen-client-urls http://127.0.0.1:PORT

Put answers an empty PutResponse; Range answers one fixed key-value; Status answers
at once (the readiness probe). The gRPC server is made as server_ref makes its own
(grpc.aio, the same options, generated servicers on the same event loop), so what a
put costs here is what gRPC, protobuf and asyncio cost any Python server before it
does any work: ``server_compare.py`` runs it beside server_ref as a reference line.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

import grpc.aio

from etcd3py._proto import kv_pb2, rpc_pb2, rpc_pb2_grpc

VALUE = b"v" * 256


class FloorKV(rpc_pb2_grpc.KVServicer):
    def __init__(self) -> None:
        self.revision = 1

    async def Put(self, request: rpc_pb2.PutRequest, context: Any) -> rpc_pb2.PutResponse:
        self.revision += 1
        return rpc_pb2.PutResponse(header=rpc_pb2.ResponseHeader(revision=self.revision))

    async def Range(self, request: rpc_pb2.RangeRequest, context: Any) -> rpc_pb2.RangeResponse:
        kv = kv_pb2.KeyValue(key=request.key, value=VALUE, create_revision=1, mod_revision=1)
        return rpc_pb2.RangeResponse(
            header=rpc_pb2.ResponseHeader(revision=self.revision), kvs=[kv], count=1
        )


class FloorMaintenance(rpc_pb2_grpc.MaintenanceServicer):
    async def Status(self, request: rpc_pb2.StatusRequest, context: Any) -> rpc_pb2.StatusResponse:
        return rpc_pb2.StatusResponse(version="floor")


async def serve(address: str) -> None:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 1572864 + 512 * 1024),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
        ]
    )
    rpc_pb2_grpc.add_KVServicer_to_server(FloorKV(), server)  # type: ignore[no-untyped-call]
    rpc_pb2_grpc.add_MaintenanceServicer_to_server(FloorMaintenance(), server)  # type: ignore[no-untyped-call]
    if server.add_insecure_port(address) == 0:
        raise SystemExit(f"cannot listen on {address}")
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await server.stop(grace=1.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen-client-urls", required=True, help="one http://host:port URL")
    url = p.parse_args().listen_client_urls
    asyncio.run(serve(url.removeprefix("http://")))


if __name__ == "__main__":
    main()
