"""The sync Client is shared by threads: concurrent calls, watches and leases."""

from __future__ import annotations

import threading

from etcd3py import Client
from tests.support.backends import Backend


def test_many_threads_one_client(backend: Backend, prefix: bytes) -> None:
    threads, per_thread = 8, 40
    errors: list[BaseException] = []
    with (
        Client(backend.endpoint) as client,
        client.watch(prefix, prefix=True) as watch,
        client.lease(30) as lease,
    ):

        def work(n: int) -> None:
            try:
                for i in range(per_thread):
                    key = prefix + b"%d/%03d" % (n, i)
                    client.put(key, key, lease=lease if i % 2 else None)
                    assert client.get(key).value == key
            except BaseException as err:
                errors.append(err)

        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        assert errors == []
        seen = set()
        while len(seen) < threads * per_thread:
            seen.update(e.key for e in watch.events(timeout=10))
        assert len(seen) == threads * per_thread
        assert len((client.get(prefix, prefix=True, keys_only=True)).kvs) == len(seen)
        assert not lease.lost
