"""``lock`` and ``elect`` as processes (Ctrl-C is SIGINT), against etcdctl 3.5.1's on the
same names: each waits for the other's lock or leadership, in both directions."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from etcd3py import Client
from tests.cli.conftest import Differ
from tests.support.servers import etcd_bin_dir

DEADLINE = 20.0


class Tool:
    """etcdctl or ``python -m etcd3py`` running in the background; its stdout by lines."""

    def __init__(self, ours: bool, endpoint: str, *args: str) -> None:
        program = [sys.executable, "-m", "etcd3py"] if ours else [str(etcd_bin_dir() / "etcdctl")]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
        env["PYTHONFAULTHANDLER"] = "1"  # SIGABRT prints every thread's stack (see finish)
        self.ours = ours
        self.proc = subprocess.Popen(
            [*program, f"--endpoints={endpoint}", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for text in self.proc.stdout:
            self.lines.put(text)

    def read(self, count: int) -> list[bytes]:
        return [self.lines.get(timeout=DEADLINE) for _ in range(count)]

    def nothing_yet(self) -> bool:
        return self.lines.empty() and self.proc.poll() is None

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C; the exit code and the stderr lines that are not the Go client's logs."""
        self.proc.send_signal(signal.SIGINT)
        return self.finish()

    def finish(self) -> tuple[int, str]:
        assert self.proc.stderr is not None
        try:
            code = self.proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            if self.ours:  # a hang must say where: faulthandler dumps the threads
                self.proc.send_signal(signal.SIGABRT)
                self.proc.wait(DEADLINE)
            pytest.fail(
                f"{self.proc.args} did not exit within {DEADLINE:g} s; its stderr:\n"
                + self.proc.stderr.read().decode(errors="replace")[-20000:]
            )
        err = self.proc.stderr.read().decode()
        return code, "".join(ln for ln in err.splitlines(True) if not ln.startswith('{"level"'))


@pytest.fixture
def tools() -> Iterator[list[Tool]]:
    started: list[Tool] = []
    yield started
    for tool in started:
        if tool.proc.poll() is None:
            tool.proc.kill()
            tool.proc.wait()


def wait_for_keys(endpoint: str, prefix: str, count: int) -> None:
    """Until ``count`` candidates (lock or election keys) are under ``prefix``."""
    deadline = time.monotonic() + DEADLINE
    with Client(endpoint) as client:
        while client.get(prefix, prefix=True, count_only=True).count != count:
            assert time.monotonic() < deadline, f"not {count} keys under {prefix}"
            time.sleep(0.05)


@pytest.mark.parametrize("holder_is_ours", [False, True], ids=["etcdctl-holds", "ours-holds"])
def test_lock_waits_for_the_other_tool(
    differ: Differ, tools: list[Tool], holder_is_ours: bool
) -> None:
    name = differ.prefix.decode() + "lock"
    holder = Tool(holder_is_ours, differ.endpoint, "lock", name)
    tools.append(holder)
    key, value = holder.read(2)
    assert key.startswith(f"{name}/".encode()) and value == b"\n"
    waiter = Tool(not holder_is_ours, differ.endpoint, "lock", name)
    tools.append(waiter)
    wait_for_keys(differ.endpoint, name + "/", 2)
    assert waiter.nothing_yet()
    assert holder.interrupt() == (0, "")  # Ctrl-C while holding: unlock, exit 0
    second, _ = waiter.read(2)
    assert second.startswith(f"{name}/".encode()) and second != key
    assert waiter.interrupt() == (0, "")
    wait_for_keys(differ.endpoint, name + "/", 0)


@pytest.mark.parametrize("ours", [False, True], ids=["etcdctl", "ours"])
def test_ctrl_c_while_waiting(differ: Differ, tools: list[Tool], ours: bool) -> None:
    name = differ.prefix.decode() + "busy"
    holder = Tool(False, differ.endpoint, "lock", name)
    tools.append(holder)
    holder.read(2)
    waiter = Tool(ours, differ.endpoint, "lock", name)
    tools.append(waiter)
    wait_for_keys(differ.endpoint, name + "/", 2)
    assert waiter.interrupt() == (1, "Error: context canceled\n")
    wait_for_keys(differ.endpoint, name + "/", 1)  # the waiter's key went with it
    assert holder.interrupt() == (0, "")


@pytest.mark.parametrize("ours", [False, True], ids=["etcdctl", "ours"])
def test_lock_runs_a_command(differ: Differ, tools: list[Tool], ours: bool) -> None:
    name = differ.prefix.decode() + "cmd"
    script = 'echo "${ETCD_LOCK_KEY%/*}"; test "$ETCD_LOCK_REV" -gt 0 && exit 3'
    tool = Tool(ours, differ.endpoint, "lock", name, "--", "sh", "-c", script)
    tools.append(tool)
    assert tool.read(1) == [f"{name}\n".encode()]
    assert tool.finish() == (3, "Error: exit status 3\n")
    wait_for_keys(differ.endpoint, name + "/", 0)  # released


@pytest.mark.parametrize("leader_is_ours", [False, True], ids=["etcdctl-leads", "ours-leads"])
def test_elect_waits_for_the_other_tool(
    differ: Differ, tools: list[Tool], leader_is_ours: bool
) -> None:
    name = differ.prefix.decode() + "elect"
    leader = Tool(leader_is_ours, differ.endpoint, "elect", name, "first")
    tools.append(leader)
    key, value = leader.read(2)
    assert key.startswith(f"{name}/".encode()) and value == b"first\n"
    observer = Tool(not leader_is_ours, differ.endpoint, "elect", name, "-l")
    tools.append(observer)
    assert observer.read(2) == [key, value]
    candidate = Tool(not leader_is_ours, differ.endpoint, "elect", name, "second")
    tools.append(candidate)
    wait_for_keys(differ.endpoint, name + "/", 2)
    assert candidate.nothing_yet()
    assert leader.interrupt() == (0, "")  # Ctrl-C while leading: resign, exit 0
    second_key, second_value = candidate.read(2)
    assert second_key != key and second_value == b"second\n"
    assert observer.read(2) == [second_key, second_value]
    assert candidate.interrupt() == (0, "")
    assert observer.interrupt() == (0, "")


@pytest.mark.parametrize(
    "args",
    [["lock"], ["elect"], ["elect", "x"], ["elect", "x", "y", "-l"], ["elect", "a", "b", "c"]],
    ids=" ".join,
)
def test_bad_input(differ: Differ, args: list[str]) -> None:
    differ.same(*args)
