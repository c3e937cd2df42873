"""A queue consumer in a process of its own, for the tests that SIGKILL one mid-run.

    python -m tests.support.queue_worker ENDPOINT QUEUE MODE HOLD_AFTER SIGNAL_KEY TTL

MODE is "plain" (at-most-once: get) or "ack" (at-least-once: get, then ack, with a
session of TTL seconds). The worker puts SIGNAL_KEY = "ready", then finishes
HOLD_AFTER items, printing "done <value>" after each (in ack mode, after the ack).
It takes one more, prints "holding <value>", puts SIGNAL_KEY = <value> and then
waits, the item unfinished, until it is killed (or its stdin is closed).
"""

from __future__ import annotations

import sys

from etcd3py import Client
from etcd3py.recipes._sync._queue import Queue

TIMEOUT = 60.0  # no wait of the worker is endless


def main(endpoint: str, name: str, mode: str, hold_after: int, signal: str, ttl: int) -> None:
    with Client(endpoint) as client:
        if mode == "ack":
            jobs = Queue(client, name, ack=True, ttl=ttl)
            client.put(signal, "ready")
            for _ in range(hold_after):
                job = jobs.get(TIMEOUT)
                assert job is not None, "no item came"
                job.ack()
                print("done", job.value.decode(), flush=True)
            job = jobs.get(TIMEOUT)
            assert job is not None, "no item came"
            held = job.value
        else:
            items = Queue(client, name)
            client.put(signal, "ready")
            for _ in range(hold_after):
                value = items.get(TIMEOUT)
                assert value is not None, "no item came"
                print("done", value.decode(), flush=True)
            value = items.get(TIMEOUT)
            assert value is not None, "no item came"
            held = value
        print("holding", held.decode(), flush=True)
        client.put(signal, held)
        sys.stdin.read()  # until killed, or until the test ends and closes the pipe


if __name__ == "__main__":
    endpoint, name, mode, hold_after, signal, ttl = sys.argv[1:]
    main(endpoint, name, mode, int(hold_after), signal, int(ttl))
