"""Use etcd3py and another etcd client in one fresh interpreter, loaded in a given order.

python -m tests.support.coexist_probe CLIENT ORDER ENDPOINT KEY_PREFIX

CLIENT is aetcd, etcd3aio or etcd3 (python-etcd3); ORDER is "theirs-first" or
"ours-first". Each client writes a key the other reads back, and the two clients'
generated messages are compared on the wire. Prints one JSON object. Nothing but the
standard library is imported before ORDER is followed.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from typing import Any

TIMEOUT = 10

# what importing each client loads: its generated etcd protos come with it
CLIENT_MODULES = {
    "aetcd": ["aetcd"],
    "etcd3aio": ["etcd3aio", "etcd3aio._protobuf"],
    "etcd3": ["etcd3", "etcd3.etcdrpc"],
}
OUR_MODULES = ["etcd3py", "etcd3py.recipes", "etcd3py.server_ref"]


def put_and_get(client: str, endpoint: str, put: tuple[bytes, bytes], get: bytes) -> bytes | None:
    """Put with the other client, then read ``get`` back with it."""
    host, port = endpoint.rsplit(":", 1)
    if client == "aetcd":
        import aetcd

        async def aetcd_run() -> bytes | None:
            async with aetcd.Client(host, int(port), timeout=TIMEOUT) as c:
                await c.put(*put)
                found = await c.get(get)
                return None if found is None else bytes(found.value)

        return asyncio.run(aetcd_run())
    if client == "etcd3aio":
        import etcd3aio

        async def etcd3aio_run() -> bytes | None:
            async with etcd3aio.Etcd3Client([endpoint]) as c:
                assert c.kv is not None
                await c.kv.put(*put, timeout=TIMEOUT)
                found = await c.kv.get(get, timeout=TIMEOUT)
                return bytes(found.kvs[0].value) if found.kvs else None

        return asyncio.run(etcd3aio_run())
    import etcd3

    c = etcd3.client(host, int(port), timeout=TIMEOUT)
    try:
        c.put(*put)
        value, _ = c.get(get)
        return None if value is None else bytes(value)
    finally:
        c.close()


def their_range_response(client: str) -> Any:
    """The other client's generated etcdserverpb.RangeResponse class."""
    module = {"aetcd": "aetcd.rpc", "etcd3aio": "etcd3aio._protobuf", "etcd3": "etcd3.etcdrpc"}
    return importlib.import_module(module[client]).RangeResponse


def a_range_response(range_response: Any) -> Any:
    """The same RangeResponse (rpc.proto using kv.proto) from either client's class."""
    response = range_response(more=True, count=2)
    response.header.MergeFrom(type(response.header)(cluster_id=7, member_id=8, revision=9))
    response.kvs.add(key=b"k", create_revision=3, mod_revision=9, version=4, value=b"v", lease=5)
    return response


def main() -> None:
    client, order, endpoint, prefix = sys.argv[1:5]
    first, second = (
        (CLIENT_MODULES[client], OUR_MODULES)
        if order == "theirs-first"
        else (OUR_MODULES, CLIENT_MODULES[client])
    )
    for name in [*first, *second]:
        importlib.import_module(name)

    from google.protobuf import descriptor_pool

    from etcd3py import Client
    from etcd3py._proto import rpc_pb2

    ours_key, theirs_key = f"{prefix}etcd3py".encode(), f"{prefix}{client}".encode()
    with Client(endpoint, timeout=TIMEOUT) as ours:
        ours.put(ours_key, b"written by etcd3py")
        theirs_read = put_and_get(
            client, endpoint, (theirs_key, b"written by " + client.encode()), ours_key
        )
        ours_read = ours.get(theirs_key).value

    theirs = their_range_response(client)
    our_response, their_response = a_range_response(rpc_pb2.RangeResponse), a_range_response(theirs)
    our_bytes = our_response.SerializeToString(deterministic=True)
    try:
        descriptor_pool.Default().FindFileByName("etcd3py/_proto/rpc.proto")
        in_default_pool = True
    except KeyError:
        in_default_pool = False
    print(
        json.dumps(
            {
                "theirs_read_ours": None if theirs_read is None else theirs_read.decode(),
                "ours_read_theirs": None if ours_read is None else ours_read.decode(),
                "same_bytes": our_bytes == their_response.SerializeToString(deterministic=True),
                "they_parse_ours": theirs.FromString(our_bytes) == their_response,
                "full_names": [
                    our_response.DESCRIPTOR.full_name,
                    their_response.DESCRIPTOR.full_name,
                ],
                "our_file_in_default_pool": in_default_pool,
            }
        )
    )


if __name__ == "__main__":
    main()
