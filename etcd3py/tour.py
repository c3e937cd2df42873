"""A tour of etcd3py against the embedded reference server: ``python -m etcd3py.tour``.

A service registers under a TTL lease and is discovered; two workers contend for a
mutex; a leader is elected and fails over; a config prefix is watched live; jobs
pass through a queue; and in a 3-member cluster the leader's member is killed under a
client that goes on reading and writing. Every step prints what happens; the whole runs
in seconds.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from etcd3py import Client, EtcdError
from etcd3py.recipes import ConfigWatcher, Election, Mutex, Queue, ServiceRegistry
from etcd3py.server_ref import EmbeddedCluster, EmbeddedServer

T = TypeVar("T")
_start = time.monotonic()
_print_lock = threading.Lock()


def say(*parts: Any) -> None:
    with _print_lock:
        print(f"  [{time.monotonic() - _start:5.2f}s]", *parts, flush=True)


def step(title: str) -> None:
    print(f"\n{title}", flush=True)


def arrived(value: T | None, what: str) -> T:
    """A recipe's get(timeout=...) returns None when the wait ran out: stop the tour there."""
    if value is None:
        raise SystemExit(f"the tour waited too long for {what}")
    return value


def in_threads(*targets: Callable[[], None]) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)


def discovery(endpoint: str) -> None:
    step("1. Service discovery: register with a TTL lease, be found, vanish when dead")
    with Client(endpoint) as client, ServiceRegistry(client).watch("orders") as changes:

        def seen() -> list[str]:
            return [i.address for i in changes.get(timeout=10) or []]

        say("instances of 'orders':", seen())
        with ServiceRegistry(client).register("orders", "10.0.0.5:8080", ttl=10):
            say("a: registered 10.0.0.5:8080 (its lease renewed every TTL/3)")
            say("discovered:", seen())
            doomed = Client(endpoint)  # another process, about to die
            ServiceRegistry(doomed).register("orders", "10.0.0.6:8080", ttl=2).start()
            say("b: registered 10.0.0.6:8080 with a 2 s TTL")
            say("discovered:", seen())
            doomed.close()  # b dies: nobody renews its lease any more
            say("b: crashed (its keep-alives stopped)")
            say("within its TTL:", seen())
        say("a: deregistered on leaving its block:", seen())


def mutex(endpoint: str) -> None:
    step("2. Mutex: two workers, one lock, fencing tokens")
    with Client(endpoint) as client:

        def worker(name: str) -> None:
            for _ in range(2):
                with Mutex(client, "tour/lock", ttl=5) as lock:
                    say(f"{name} holds the lock (fencing token {lock.revision})")
                    time.sleep(0.1)  # the work done under the lock
                say(f"{name} released it")

        in_threads(lambda: worker("worker-1"), lambda: worker("worker-2"))


def election(endpoint: str) -> None:
    step("3. Election: a leader, a standby, and a fail-over")
    with Client(endpoint) as client:
        primary_client = Client(endpoint)
        primary = Election(primary_client, "tour/leader", ttl=2)
        primary.campaign("node-1")
        say("node-1 leads")
        standby = Election(client, "tour/leader", ttl=2)
        with standby.observe() as observer:
            say("observer sees:", arrived(observer.get(timeout=5), "the leader").value)

            def stand_by() -> None:
                if standby.campaign("node-2", timeout=15):
                    say("node-2 won the election")

            waiting = threading.Thread(target=stand_by)
            waiting.start()
            primary_client.close()  # node-1 dies: its lease expires within 2 s
            say("node-1 crashed")
            say("observer sees:", arrived(observer.get(timeout=10), "the new leader").value)
            waiting.join(15)
        standby.resign()


def config(endpoint: str) -> None:
    step("4. Config: a live mapping of a prefix")
    with Client(endpoint) as client:
        client.put("tour/config/mode", "blue")
        with ConfigWatcher(client, "tour/config/") as settings:
            say("loaded:", dict(settings))
            settings.on_change(lambda change: say("changed:", change.changed or change.deleted))
            client.put("tour/config/mode", "green")
            revision = client.put("tour/config/replicas", "3").header.revision
            settings.wait_for(revision, timeout=5)
            say("now:", dict(settings))


def queue(endpoint: str) -> None:
    step("5. Queue: jobs pass from a producer to two consumers, each exactly once")
    with Client(endpoint) as client:
        jobs = Queue(client, "tour/jobs")
        for n in range(1, 7):
            jobs.put(f"job-{n}")
        say("produced job-1 .. job-6")

        def consumer(name: str) -> None:
            mine = Queue(client, "tour/jobs")
            for _ in range(3):
                say(f"{name} took", arrived(mine.get(timeout=5), "a job").decode())

        in_threads(lambda: consumer("consumer-1"), lambda: consumer("consumer-2"))


def cluster() -> None:
    step("6. Cluster: three members replicated with Raft; the leader's member is killed")
    with EmbeddedCluster(members=3) as members:
        leader = members.wait_leader()
        say(f"{leader.name} leads; the client tries it first")
        others = [m.endpoint for m in members.members if m is not leader]
        with Client([leader.endpoint, *others], timeout=10) as client:
            client.put("tour/cluster/before", "1")
            stop = threading.Event()
            reads: list[tuple[float, bytes | None]] = []
            enough = threading.Event()

            failed: list[EtcdError] = []

            def reader() -> None:
                while not stop.is_set():
                    try:
                        value = client.get("tour/cluster/before").value
                    except EtcdError as err:
                        failed.append(err)
                        continue
                    reads.append((time.monotonic(), value))
                    if len(reads) % 20 == 0:
                        enough.set()

            reading = threading.Thread(target=reader)
            reading.start()
            enough.wait(10)
            enough.clear()
            killed_at = time.monotonic()
            members.kill_member(members.members.index(leader))
            say(f"killed {leader.name} (kill -9 of a member, in-process) under a reading client")
            new = members.wait_leader()
            say(f"{new.name} leads now, elected {time.monotonic() - killed_at:.1f}s after the kill")
            client.put("tour/cluster/after", "2")
            say(f"the client wrote after the failover: {client.get('tour/cluster/after').value!r}")
            enough.wait(10)
            stop.set()
            reading.join(30)
            gap = max(b[0] - a[0] for a, b in itertools.pairwise(reads))
            answered = {v for _, v in reads}
            say(f"{len(reads)} reads answered {answered}, {len(failed)} failed; the longest")
            say(f"wait for one, while the client moved to another member: {gap:.1f}s")


def main() -> None:
    with EmbeddedServer() as server:
        print(f"etcd3py tour, against the embedded reference server at {server.endpoint}")
        discovery(server.endpoint)
        mutex(server.endpoint)
        election(server.endpoint)
        config(server.endpoint)
        queue(server.endpoint)
    cluster()
    print(f"\ndone in {time.monotonic() - _start:.1f}s")


if __name__ == "__main__":
    main()
