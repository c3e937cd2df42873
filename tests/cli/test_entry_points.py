"""The installed ways in: the ``etcd3py`` console script and ``python -m etcd3py``, run as
real processes (each start costs ~0.5 s, so only a few), against etcdctl's behaviour."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.backends import Backend
from tests.support.cli_diff import TIMEOUT, drop_client_logs, run_etcdctl

CONSOLE_SCRIPT = Path(sys.executable).parent / "etcd3py"


def run(command: list[str], stdin: bytes = b"") -> tuple[bytes, str, int]:
    proc = subprocess.run(command, input=stdin, capture_output=True, timeout=TIMEOUT)
    return proc.stdout, proc.stderr.decode(), proc.returncode


def test_console_script_puts_and_gets(backend: Backend, prefix: bytes) -> None:
    key = prefix.decode() + "script"
    out = run([str(CONSOLE_SCRIPT), f"--endpoints={backend.endpoint}", "put", key, "v"])
    assert out == (b"OK\n", "", 0)
    theirs = run_etcdctl(backend.endpoint, ["get", key])
    assert run([str(CONSOLE_SCRIPT), f"--endpoints={backend.endpoint}", "get", key]) == (
        theirs.stdout,
        theirs.stderr,
        theirs.code,
    )
    assert theirs.stdout == f"{key}\nv\n".encode()


def test_python_dash_m_reports_bad_arguments_as_etcdctl(backend: Backend) -> None:
    theirs = run_etcdctl(backend.endpoint, ["get"])
    ours = run([sys.executable, "-m", "etcd3py", f"--endpoints={backend.endpoint}", "get"])
    assert ours == (theirs.stdout, theirs.stderr, theirs.code)
    assert ours[2] == 128


def test_unreachable_endpoint() -> None:
    args = ["--endpoints=127.0.0.1:1", "--command-timeout=1s", "get", "k"]
    theirs = run_etcdctl("127.0.0.1:1", args)
    ours = run([str(CONSOLE_SCRIPT), *args])
    assert (ours[0], drop_client_logs(ours[1]), ours[2]) == (
        theirs.stdout,
        drop_client_logs(theirs.stderr),
        theirs.code,
    )
    assert theirs.code == 1


def test_shell_completion_of_the_console_script() -> None:
    env = {**os.environ, "_ETCD3PY_COMPLETE": "bash_complete"}
    env |= {"COMP_WORDS": "etcd3py lease g", "COMP_CWORD": "2"}
    proc = subprocess.run([str(CONSOLE_SCRIPT)], env=env, capture_output=True, timeout=TIMEOUT)
    assert (proc.stdout, proc.returncode) == (b"plain,grant\n", 0)


def test_benchmark_is_a_command_of_the_console_script(backend: Backend, prefix: bytes) -> None:
    """``etcd3py benchmark`` is etcd's benchmark tool, mounted on the same console script."""
    out, err, code = run(
        [str(CONSOLE_SCRIPT), "benchmark", f"--endpoints={backend.endpoint}", "range",
         prefix.decode() + "k", "--total", "10"]
    )  # fmt: skip
    assert code == 0, err
    assert b"Summary:" in out and b"Latency distribution:" in out
    out, err, code = run([str(CONSOLE_SCRIPT), "benchmark", "--no-such-flag"])
    assert code != 0 and "unknown flag: --no-such-flag" in err


def test_lease_keep_alive_renews_until_the_lease_is_revoked(backend: Backend) -> None:
    """Each renewal printed as etcdctl prints it; a revoke ends it with etcdctl's line."""
    ours = run([str(CONSOLE_SCRIPT), f"--endpoints={backend.endpoint}", "lease", "grant", "3"])
    lease = ours[0].split()[1].decode()
    proc = subprocess.Popen(
        [str(CONSOLE_SCRIPT), f"--endpoints={backend.endpoint}", "lease", "keep-alive", lease],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()  # 1 s apart
        assert first == second == f"lease {int(lease, 16):016x} keepalived with TTL(3)\n".encode()
        run([str(CONSOLE_SCRIPT), f"--endpoints={backend.endpoint}", "lease", "revoke", lease])
        out, err = proc.communicate(timeout=TIMEOUT)
        assert out.endswith(f"lease {int(lease, 16):016x} expired or revoked.\n".encode())
        assert proc.returncode == 0, err
    finally:
        proc.kill()
