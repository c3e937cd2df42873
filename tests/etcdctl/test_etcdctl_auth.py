"""etcdctl 3.5.1 managing users, roles and permissions, then running as those users.

Auth state is server-wide, so every test starts its own servers (real etcd and
server_ref as processes, with the same flags: ``auth_member``) instead of the session's.
The transcripts (commands, output, the whole of stderr, exit codes) must be identical;
the checks on etcd's own transcript keep two equally broken ones from passing.
ETCD3PY_AUTH_BACKENDS=etcd,etcd compares two real etcds: a check of the normalisation.

With ``--client-cert-auth`` a client certificate's common name is the user when the
request carries no token: the second test runs as ``alice`` by certificate alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.auth_backends import AUTH_BACKENDS, BCRYPT_COST
from tests.support.auth_servers import auth_member
from tests.support.certs import Certs, make_certs
from tests.support.etcdctl import Background, Ctl, both
from tests.support.servers import EtcdProcess

ROOT = "--user=root:root-pw"
ALICE = "--user=alice:alice-pw"
# long enough for etcd to refuse a watch; a watch still running then was not refused
WATCH_TIMEOUT = 10.0
# etcd's default: no token may expire between the commands of a scenario
TOKEN_TTL = 300

Servers = Callable[[Certs | None], dict[str, EtcdProcess]]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    """``servers(certs)``: a fresh server of each kind in AUTH_BACKENDS, stopped after."""
    started: list[EtcdProcess] = []

    def start(certs: Certs | None) -> dict[str, EtcdProcess]:
        procs = {}
        for i, kind in enumerate(AUTH_BACKENDS):
            name = kind if kind not in procs else f"{kind}-{i}"  # "etcd,etcd": a self-check
            proc = auth_member(
                kind, tmp_path / name, TOKEN_TTL, certs=certs, bcrypt_cost=BCRYPT_COST
            )
            started.append(proc)
            proc.start()
            procs[name] = proc
        return procs

    yield start
    for proc in started:
        proc.remove()


def add_users_and_roles(c: Ctl) -> None:
    """Accounts, roles and every kind of permission, made while auth is off."""
    p = c.prefix
    c.run("auth", "status")
    c.run("user", "add", "alice", "--new-user-password=alice-pw", "--interactive=false")
    c.run("user", "add", "bob", "--interactive=false", stdin="bob-pw\n")
    c.run("user", "add", "nopass", "--no-password")
    c.run("user", "add", "alice", "--new-user-password=x", "--interactive=false", check=False)
    c.run("user", "add", "", "--new-user-password=x", "--interactive=false", check=False)
    c.run("role", "add", "reader")
    c.run("role", "add", "writer")
    c.run("role", "add", "reader", check=False)
    c.run("role", "grant-permission", "reader", "read", p + "one")
    c.run("role", "grant-permission", "reader", "read", p + "r/a", p + "r/m")
    c.run("role", "grant-permission", "reader", "readwrite", p + "pre/", "--prefix")
    c.run("role", "grant-permission", "reader", "READ", p + "z", "--from-key")
    c.run("role", "grant-permission", "writer", "write", p + "w/", "--prefix")
    c.run("role", "grant-permission", "writer", "readwrite", p + "both")
    c.run("role", "grant-permission", "writer", "execute", p + "x", check=False)
    c.run("role", "grant-permission", "nosuchrole", "read", p + "x", check=False)
    c.run("role", "get", "reader")
    c.run("role", "get", "writer")
    c.run("role", "get", "nosuchrole", check=False)
    c.run("role", "list")
    c.run("user", "grant-role", "alice", "reader")
    c.run("user", "grant-role", "alice", "writer")
    c.run("user", "grant-role", "bob", "reader")
    c.run("user", "grant-role", "nopass", "reader")
    c.run("user", "grant-role", "alice", "nosuchrole", check=False)
    c.run("user", "grant-role", "nosuchuser", "reader", check=False)
    c.run("user", "get", "alice")
    c.run("user", "get", "alice", "--detail")
    c.run("user", "get", "nosuchuser", check=False)
    c.run("user", "list")
    c.run("put", p + "one", "1")
    c.run("put", p + "secret", "s")
    c.run("auth", "enable", check=False)  # no root user yet
    c.run("user", "add", "root", "--new-user-password=root-pw", "--interactive=false")
    c.run("auth", "enable")  # etcdctl grants root the root role, then retries
    c.run("auth", "status", check=False)
    c.run("auth", "status", ROOT)


def test_users_roles_and_permissions(
    servers: Servers, background: Callable[..., Background]
) -> None:
    def scenario(c: Ctl) -> None:
        p = c.prefix
        add_users_and_roles(c)
        # who is asking
        c.run("get", p + "one", ALICE)
        c.run("get", p + "one", "--user=alice", "--password=alice-pw")
        c.run("get", p + "one", "--user=alice:wrong", check=False)
        c.run("get", p + "one", "--user=nosuchuser:x", check=False)
        c.run("get", p + "one", "--user=nopass:", check=False)
        c.run("get", p + "one", check=False)
        c.run("get", p + "one", "--user=bob:bob-pw")
        # what alice may do
        c.run("get", p + "secret", ALICE, check=False)
        c.run("put", p + "one", "x", ALICE, check=False)
        c.run("put", p + "w/k", "v", ALICE)
        c.run("get", p + "w/k", ALICE, check=False)
        c.run("get", p + "w/", "--prefix", ALICE, check=False)
        c.run("get", p + "r/a", p + "r/m", ALICE)
        c.run("get", p + "r/b", p + "r/c", ALICE)
        c.run("get", p + "r/a", p + "r/z", ALICE, check=False)
        c.run("get", p + "r/", "--prefix", ALICE, check=False)
        c.run("put", p + "pre/x", "1", ALICE)
        c.run("get", p + "pre/", "--prefix", ALICE)
        c.run("del", p + "pre/x", ALICE)
        c.run("del", p + "pre/", "--prefix", ALICE)
        c.run("del", p + "one", ALICE, check=False)
        c.run("del", p + "w/k", ALICE)
        c.run("del", p + "w/", "--prefix", ALICE)
        c.run("get", p + "zz", "--from-key", ALICE)
        c.run("get", p + "z", "--prefix", ALICE)
        c.run("get", p + "y", "--from-key", ALICE, check=False)
        c.run("put", p + "zz", "1", ALICE, check=False)
        c.run("put", p + "both", "b", ALICE)
        c.run("get", p + "both", ALICE)
        # transactions: every key a compare or an operation names is checked
        ok = f'value("{p}one") = "1"\n\nput {p}w/t t\n\nget {p}one\n\n'
        c.run("txn", ALICE, stdin=ok)
        denied_compare = f'value("{p}secret") = "s"\n\nput {p}w/t t\n\n\n'
        c.run("txn", ALICE, stdin=denied_compare, check=False)
        denied_failure_op = f'value("{p}one") = "1"\n\nput {p}w/t t\n\nget {p}secret\n\n'
        c.run("txn", ALICE, stdin=denied_failure_op, check=False)
        c.run("txn", ALICE, "-w", "json", stdin=f"\n\nput {p}both t\nget {p}both\n\n\n")
        # watches: a refused one is cancelled by the server, and etcdctl exits
        c.run("watch", p + "secret", ALICE, check=False, timeout=WATCH_TIMEOUT)
        c.run("watch", p + "r/", "--prefix", ALICE, check=False, timeout=WATCH_TIMEOUT)
        put = json.loads(c.run("put", p + "one", "2", "-w", "json", ROOT))
        since = f"--rev={c.base + put['header']['revision']}"  # replayed: no race with the put
        watcher = background(c.endpoint, "watch", p + "one", since, ALICE)
        c.transcript.append("watch: " + " ".join(c.normalise(x) for x in watcher.read_lines(3)))
        watcher.stop()
        # management needs the root role
        c.run("user", "add", "eve", "--no-password", ALICE, check=False)
        c.run("role", "list", ALICE, check=False)
        c.run("user", "get", "alice", ALICE, check=False)
        c.run("auth", "disable", ALICE, check=False)
        # a revoked permission counts from the next request on
        c.run("role", "revoke-permission", "reader", p + "one", ROOT)
        c.run("get", p + "one", ALICE, check=False)
        c.run("role", "revoke-permission", "reader", p + "r/a", p + "r/m", ROOT)
        c.run("get", p + "r/a", p + "r/m", ALICE, check=False)
        c.run("role", "revoke-permission", "reader", p + "pre/", "--prefix", ROOT)
        c.run("role", "revoke-permission", "reader", p + "z", "--from-key", ROOT)
        c.run("role", "revoke-permission", "reader", p + "one", ROOT, check=False)
        c.run("role", "revoke-permission", "reader", p + "r/a", ROOT, check=False)
        c.run("role", "get", "reader", ROOT)
        c.run("user", "revoke-role", "alice", "writer", ROOT)
        c.run("put", p + "w/k2", "v", ALICE, check=False)
        c.run("user", "revoke-role", "alice", "writer", ROOT, check=False)
        c.run("user", "get", "alice", "--detail", ROOT)
        # passwords
        c.run("user", "passwd", "alice", "--interactive=false", ROOT, stdin="alice-new\n")
        c.run("get", p + "both", ALICE, check=False)
        c.run("get", p + "both", "--user=alice:alice-new", check=False)
        c.run("user", "passwd", "nosuchuser", "--interactive=false", ROOT, stdin="x\n", check=False)
        # deletions
        c.run("user", "delete", "bob", ROOT)
        c.run("get", p + "pre/", "--user=bob:bob-pw", check=False)
        c.run("user", "delete", "bob", ROOT, check=False)
        c.run("role", "delete", "writer", ROOT)
        c.run("role", "delete", "writer", ROOT, check=False)
        c.run("role", "delete", "root", ROOT, check=False)
        c.run("user", "revoke-role", "root", "root", ROOT, check=False)
        c.run("user", "list", ROOT)
        c.run("role", "list", ROOT)
        c.run("auth", "disable", ROOT)
        c.run("auth", "status")
        c.run("get", p + "secret")
        c.run("user", "delete", "root")

    procs = servers(None)
    ctls = both({k: proc.endpoint for k, proc in procs.items()}, scenario, whole_stderr=True)
    # what etcd answered, so that a transcript both servers got wrong cannot pass
    text = "\n".join(ctls["etcd"].transcript)
    assert "Authentication Enabled" in text
    assert "Error: etcdserver: authentication failed, invalid user ID or password rc=2" in text
    assert "Error: etcdserver: user name is empty rc=1" in text
    assert text.count("Error: etcdserver: permission denied rc=1") == 18, text
    assert text.count("Error: watch is canceled by the server rc=5") == 2, text
    assert "watch: PUT <p>/one 2" in text
    assert "Authentication Disabled" in text


def test_client_certificate_names_the_user(servers: Servers, tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs", client_name="alice")

    def scenario(c: Ctl) -> None:
        p = c.prefix
        add_users_and_roles(c)
        c.run("get", p + "one")  # the certificate's name: alice
        c.run("get", p + "secret", check=False)
        c.run("put", p + "w/k", "v")
        c.run("put", p + "one", "x", check=False)
        c.run("txn", stdin=f'value("{p}secret") = "s"\n\nput {p}w/t t\n\n\n', check=False)
        c.run("watch", p + "secret", check=False, timeout=WATCH_TIMEOUT)
        c.run("get", p + "secret", ROOT)  # a token outranks the certificate
        c.run("get", p + "one", "--user=bob:bob-pw")
        c.run("get", p + "secret", "--user=alice:wrong", check=False)
        c.run("user", "list", check=False)
        c.run("role", "revoke-permission", "reader", p + "one", ROOT)
        c.run("get", p + "one", check=False)
        c.run("auth", "disable", ROOT)
        c.run("get", p + "secret")

    procs = servers(certs)
    tls = [f"--cacert={certs.ca}", f"--cert={certs.client_cert}", f"--key={certs.client_key}"]
    endpoints = {k: proc.client_url for k, proc in procs.items()}
    ctls = both(endpoints, scenario, whole_stderr=True, flags=tls)
    text = "\n".join(ctls["etcd"].transcript)
    assert "$ get <p>/one\n<p>/one\n1\n rc=0" in text, text
    assert "Error: etcdserver: permission denied" in text
