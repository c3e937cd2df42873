"""A writer that puts every key exactly once, through outages."""

from __future__ import annotations

import threading
import time

from etcd3py import Client, EtcdError, Put, Version


class ExactlyOnceWriter(threading.Thread):
    """Writes ``prefix + %04d`` for i < count, each exactly once, whatever fails.

    Each key is written by a create-if-absent transaction, repeated after any error:
    if an attempt that raised had in fact been applied, the next one finds the key
    and stops. ``written`` counts keys known to exist.
    """

    def __init__(self, endpoint: str, prefix: bytes, count: int, give_up_after: float = 60) -> None:
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.prefix = prefix
        self.count = count
        self.give_up_after = give_up_after
        self.written = 0
        self.errors: list[EtcdError] = []
        self.failure: BaseException | None = None
        self._progress = threading.Condition()

    def key(self, i: int) -> bytes:
        return self.prefix + b"%04d" % i

    def run(self) -> None:
        try:
            with Client(self.endpoint, timeout=2) as client:
                for i in range(self.count):
                    self._write(client, self.key(i))
                    with self._progress:
                        self.written = i + 1
                        self._progress.notify_all()
        except BaseException as err:  # reported by wait_for / join in the test
            self.failure = err
            with self._progress:
                self._progress.notify_all()

    def _write(self, client: Client, key: bytes) -> None:
        deadline = time.monotonic() + self.give_up_after
        while True:
            try:
                client.txn(compare=[Version(key) == 0], success=[Put(key, key)])
                return  # applied now, or found applied by an earlier attempt
            except EtcdError as err:
                self.errors.append(err)
                if time.monotonic() > deadline:
                    raise

    def wait_for(self, written: int, timeout: float = 60) -> None:
        """Block until at least ``written`` keys are in."""
        with self._progress:
            done = self._progress.wait_for(
                lambda: self.written >= written or self.failure is not None, timeout
            )
        if self.failure is not None:
            raise self.failure
        if not done:
            raise TimeoutError(f"writer at {self.written}/{written} after {timeout}s")
