"""Jobs: functions run at once by a test, whose failures the test sees."""

from __future__ import annotations

import time
from typing import Any

from etcd3py._async._primitives import spawn


class Jobs:
    """Functions running at once (tasks here, threads in the sync twin); failures re-raised."""

    def __init__(self) -> None:
        self._tasks: list[Any] = []
        self.errors: list[BaseException] = []

    def start(self, fn: Any, *args: Any) -> None:
        self._tasks.append(spawn(self._guarded, fn, *args, name=f"job-{len(self._tasks)}"))

    async def _guarded(self, fn: Any, *args: Any) -> None:
        try:
            await fn(*args)
        except BaseException as error:
            self.errors.append(error)

    async def join(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        for task in self._tasks:
            await task.join(max(0.0, deadline - time.monotonic()))
        if self.errors:
            raise self.errors[0]
        assert all(task.done() for task in self._tasks), "a job did not finish in time"
