"""etcd3gw (OpenStack's etcd client over the JSON gateway) runs one scenario against
etcd 3.5.1 and server_ref alike: it finds the API by /version, then uses /v3/."""

from __future__ import annotations

import etcd3gw  # type: ignore[import-untyped]

from tests.support.backends import Backend

TIMEOUT = 10.0


def gateway_client(backend: Backend) -> etcd3gw.client.Etcd3Client:
    host, port = backend.endpoint.rsplit(":", 1)
    return etcd3gw.client(host=host, port=int(port), timeout=TIMEOUT)


def test_kv_lease_lock_and_watch(backend: Backend, prefix: bytes) -> None:
    client = gateway_client(backend)
    base = prefix.decode()
    assert client.api_path == "/v3/"
    assert client.status()["version"] == "3.5.1"
    assert len(client.members()) == 1

    assert client.put(base + "a", "1") is True
    assert client.create(base + "b", "2") is True
    assert client.create(base + "b", "again") is False  # it exists
    assert client.get(base + "a") == [b"1"]
    assert sorted(value for value, _ in client.get_prefix(base)) == [b"1", b"2"]
    assert client.replace(base + "a", "1", "one") is True
    assert client.replace(base + "a", "1", "uno") is False
    assert client.get(base + "a") == [b"one"]

    lease = client.lease(60)
    client.put(base + "leased", "x", lease=lease)
    assert lease.keys() == [(base + "leased").encode()]
    assert 0 < lease.ttl() <= 60
    assert lease.refresh() == 60
    assert lease.revoke() is True
    assert client.get(base + "leased") == []

    lock = client.lock(id=base + "lock", ttl=10)
    assert lock.acquire() is True
    assert lock.is_acquired() is True
    assert lock.release() is True

    events, cancel = client.watch(base + "w")
    try:
        client.put(base + "w", "seen")
        event = next(events)
        assert event["kv"]["key"] == (base + "w").encode()
        assert event["kv"]["value"] == b"seen"
    finally:
        cancel()
    assert client.delete_prefix(base) is True
    assert client.get_prefix(base) == []
