"""Bad flags and unreachable endpoints: answered at once, never a hang."""

from __future__ import annotations

import pytest

from tests.support.servers import free_port

from .benchmark_support import invoke


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["put", "--key-space-size", "0"], "Invalid value for '--key-space-size'"),
        (["put", "--key-size", "1", "--key-space-size", "1000"], "Invalid value for '--key-size'"),
        (["put", "--compact-interval", "5 minutes"], "Invalid value for '--compact-interval'"),
        (["range"], "Missing argument 'KEY'"),
        (["range", "k", "--consistency", "x"], "Invalid value for '--consistency'"),
        (["--dial-timeout", "soon", "put"], "Invalid value for '--dial-timeout'"),
        (["--clients", "0", "put"], "Invalid value for '--clients'"),
        (["stm", "--isolation", "q"], "Invalid value for '--isolation'"),
        (["stm", "--keys", "2", "--keys-per-txn", "3"], "Invalid value for '--keys-per-txn'"),
        (["stm", "--txn-wr-percent", "101"], "Invalid value for '--txn-wr-percent'"),
        (["txn-put", "--txn-ops", "5", "--key-space-size", "2"], "Invalid value for '--txn-ops'"),
        (["put", "--no-such-flag"], "--no-such-flag"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ],
)
def test_bad_flags_are_usage_errors(args: list[str], message: str) -> None:
    result = invoke(args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", [["put", "--total", "3"], ["range", "k"], ["watch"]])
def test_an_unreachable_endpoint_is_an_error(command: list[str]) -> None:
    endpoint = f"127.0.0.1:{free_port()}"  # nothing listens there
    result = invoke(["--dial-timeout", "1s", *command], endpoint)
    assert result.exit_code == 1
    assert f"Error: dial error: {endpoint}" in result.stderr
    assert "Summary:" not in result.stdout
