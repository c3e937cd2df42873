"""Who holds a lock: the layout of etcd's concurrency Mutex (and ``etcdctl lock``).

Each contender of lock ``name`` owns the key ``name/<lease id in hex>``; the holder is
the owner of the key with the lowest create revision under ``name/``.
"""

from __future__ import annotations

from etcd3py import AsyncClient, KeyValue
from etcd3py._keys import to_bytes
from etcd3py.recipes import AsyncMutex
from etcd3py.recipes._async._util import name_prefix

Holder = AsyncMutex | int | str | bytes


async def assert_lock_held(
    client: AsyncClient, name: str | bytes, by: Holder | None = None
) -> KeyValue:
    """Assert that lock ``name`` is held (by ``by``, when given); return the holder's key.

    ``by`` is a Mutex (held, so its key is known), a lease id (the session's
    ``lease_id``; etcdctl prints it in hex) or the holder's full key.
    """
    prefix = name_prefix(name, "lock")
    response = await client.get(
        prefix, prefix=True, sort_target="create", sort_order="ascend", limit=1
    )
    if not response.kvs:
        raise AssertionError(f"lock {name!r} is not held: no key under {prefix!r}")
    holder = response.kvs[0]
    if by is not None and holder.key != _key_of(prefix, by):
        raise AssertionError(
            f"lock {name!r} is held by {holder.key!r} (lease {holder.lease:x}), "
            f"not by {_key_of(prefix, by)!r}"
        )
    return holder


def _key_of(prefix: bytes, by: Holder) -> bytes:
    if isinstance(by, AsyncMutex):
        return by.key
    if isinstance(by, int):
        return prefix + b"%x" % by
    return to_bytes(by, "by")
