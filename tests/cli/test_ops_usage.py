"""The usage texts (``-h``) of the cluster, auth, lock and check commands, as etcdctl
3.5.1 prints them (no server is asked)."""

from __future__ import annotations

import pytest

from tests.support.cli_diff import run_etcdctl, run_ours

COMMANDS = [
    "member", "member list", "member add", "member remove", "member update", "member promote",
    "endpoint", "endpoint health", "endpoint status", "endpoint hashkv",
    "alarm", "alarm list", "alarm disarm", "defrag", "move-leader",
    "snapshot", "snapshot save", "snapshot status", "snapshot restore",
    "check", "check perf", "check datascale",
    "auth", "auth enable", "auth disable", "auth status",
    "user", "user add", "user delete", "user get", "user list", "user passwd",
    "user grant-role", "user revoke-role",
    "role", "role add", "role delete", "role get", "role list", "role grant-permission",
    "role revoke-permission",
    "lock", "elect",
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_usage(command: str) -> None:
    args = [*command.split(), "--help"]
    assert run_ours("127.0.0.1:1", args) == run_etcdctl("127.0.0.1:1", args)
