"""lease grant / revoke / timetolive / list through etcdctl 3.5.1 and ``etcd3py``."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Differ
from tests.support.cli_diff import Scenario


def granted_id(s: Scenario, ttl: str = "1000") -> str:
    out = s.run("lease", "grant", ttl).stdout.decode()
    return out.split()[1]  # "lease <id> granted with TTL(...)"


@pytest.mark.parametrize("fmt", ["simple", "json", "fields"])
def test_lease_lifecycle(differ: Differ, fmt: str) -> None:
    def steps(s: Scenario) -> None:
        s.run("lease", "grant", "1000", "-w", fmt)
        lease = granted_id(s)
        s.run("put", "{p}k", "v", f"--lease={lease}")
        s.run("lease", "timetolive", lease, "--keys", "-w", fmt)
        s.run("lease", "timetolive", lease, "-w", fmt)
        s.run("get", "{p}k", "-w", fmt)
        s.run("lease", "revoke", lease, "-w", fmt)
        s.run("lease", "timetolive", lease, "-w", fmt)
        s.run("lease", "revoke", lease, "-w", fmt)
        s.run("get", "{p}k", "-w", fmt)

    differ.scenario(steps)


def test_lease_list_shows_a_granted_lease(differ: Differ) -> None:
    # other tests' leases are listed too: compare each tool's list with the server's
    from tests.support.cli_diff import run_etcdctl, run_ours

    ours = run_ours(differ.endpoint, ["lease", "grant", "1000"]).stdout.split()[1].decode()
    theirs = run_etcdctl(differ.endpoint, ["lease", "list"])
    mine = run_ours(differ.endpoint, ["lease", "list"])
    assert mine == theirs
    assert ours.encode() in mine.stdout
    run_ours(differ.endpoint, ["lease", "revoke", ours])


@pytest.mark.parametrize("fmt", ["protobuf", "table"])
def test_lease_formats_on_the_same_lease(differ: Differ, fmt: str) -> None:
    from tests.support.cli_diff import run_ours

    lease = run_ours(differ.endpoint, ["lease", "grant", "1000"]).stdout.split()[1].decode()
    differ.same("lease", "timetolive", lease, "-w", fmt)
    differ.same("lease", "list", "-w", fmt)
    run_ours(differ.endpoint, ["lease", "revoke", lease])


@pytest.mark.parametrize(
    "args",
    [
        ["lease", "grant"],
        ["lease", "grant", "x"],
        ["lease", "grant", "1", "2"],
        ["lease", "revoke"],
        ["lease", "revoke", "zz"],
        ["lease", "revoke", "1"],
        ["lease", "timetolive"],
        ["lease", "timetolive", "g"],
        ["lease", "timetolive", "1"],
        ["lease"],
        ["lease", "bogus"],
        ["lease", "grant", "--bogus"],
    ],
    ids=" ".join,
)
def test_lease_bad_input(differ: Differ, args: list[str]) -> None:
    differ.scenario(lambda s: s.run(*args))


@pytest.mark.parametrize("fmt", ["simple", "json", "fields"])
def test_lease_keep_alive_once(differ: Differ, fmt: str) -> None:
    def steps(s: Scenario) -> None:
        lease = granted_id(s)
        s.run("lease", "keep-alive", "--once", lease, "-w", fmt)
        s.run("lease", "revoke", lease)
        s.run("lease", "keep-alive", "--once", lease, "-w", fmt)  # gone: etcdctl's error

    differ.scenario(steps)


def test_lease_keep_alive_of_a_lease_that_goes(differ: Differ) -> None:
    """Renewed until it is revoked, then etcdctl's closing line (exit 0); a lease etcd
    never held gets that line at once."""

    def steps(s: Scenario) -> None:
        lease = granted_id(s, "6")  # renewed every 2 s
        s.run("lease", "revoke", lease)
        s.run("lease", "keep-alive", lease)
        s.run("lease", "keep-alive", "7e57")

    differ.scenario(steps)
