"""Authentication: users, roles, permissions, and a client whose token expires.

Every test runs on server_ref and on real etcd 3.5.1. Enabling auth changes what
every call needs, so the module runs its own member of each kind, started with
``--auth-token simple --auth-token-ttl 2``: a simple token is forgotten by etcd once it
went unused for 2 s (swept every second), and the next call with it fails with
"etcdserver: invalid auth token". The client must renew its token and go on.

Accounts: ``root`` (role ``root``), and ``alice``, whose role ``app`` may read and
write under ``/t/`` -- where the ``prefix`` fixture puts every test's keys.

To make the client open its streams again while its token is dead, a test cuts its
connections (a TcpProxy between client and member) rather than restarting etcd: a
restarted etcd 3.5.1 replays its log, Authenticate entries included, and so brings
back the very tokens it had forgotten (server_ref does the same).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from etcd3py import (
    AsyncClient,
    AsyncWatch,
    AuthFailedError,
    EtcdError,
    EventType,
    Permission,
    PermissionDeniedError,
    Put,
)
from etcd3py.errors import (
    InvalidAuthMgmtError,
    PermissionNotGrantedError,
    RoleAlreadyExistError,
    RoleNotFoundError,
    RoleNotGrantedError,
    RootUserNotExistError,
    UserAlreadyExistError,
    UserEmptyError,
    UserNotFoundError,
)
from tests.support.auth_servers import AUTH_TOKEN_TTL, auth_member, jwt_member, write_jwt_keys
from tests.support.backends import Backend
from tests.support.proxy import TcpProxy
from tests.support.servers import EtcdProcess

pytestmark = pytest.mark.anyio

ROOT = ("root", "root-secret")
ALICE = ("alice", "alice-secret")
ALICE_ROLE = "app"
GRANTED = "/t/"  # alice's role may read and write under it
# etcd forgets a simple token AUTH_TOKEN_TTL seconds after its last use, at its next
# once-a-second sweep: idle this long and the token is surely gone
TOKEN_EXPIRY = AUTH_TOKEN_TTL + 1.5
# below the idle time of the test that uses it (2.5 token lifetimes, 5 s), so the lease
# must be renewed on its stream while the token dies; not etcd's minimum of 2 s, whose
# 1.3 s margin a loaded 2-core machine running four test workers once took away
LEASE_TTL = 4


@pytest.fixture(scope="module", params=["server_ref", "etcd"])
def auth_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EtcdProcess]:
    proc = auth_member(request.param, tmp_path_factory.mktemp("auth-member") / "data")
    proc.start()
    try:
        yield proc
    finally:
        proc.remove()


@pytest.fixture(scope="module")
async def auth_endpoint(auth_server: EtcdProcess) -> AsyncIterator[str]:
    """The member with auth enabled (through the client API), and disabled after the module."""
    endpoint = auth_server.endpoint
    async with AsyncClient(endpoint) as admin:
        await admin.user_add(*ROOT)
        await admin.role_add("root")
        await admin.user_grant_role("root", "root")
        await admin.user_add(*ALICE)
        await admin.role_add(ALICE_ROLE)
        await admin.role_grant_permission(ALICE_ROLE, GRANTED, prefix=True)
        await admin.user_grant_role(ALICE[0], ALICE_ROLE)
        assert not await admin.auth_status()
        await admin.auth_enable()
    yield endpoint
    async with AsyncClient(endpoint, username=ROOT[0], password=ROOT[1]) as root:
        await root.auth_disable()
    async with AsyncClient(endpoint) as anonymous:  # (root's token died with auth)
        assert not await anonymous.auth_status()


@pytest.fixture
async def root(auth_endpoint: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(auth_endpoint, username=ROOT[0], password=ROOT[1]) as c:
        yield c


@pytest.fixture
async def alice(auth_endpoint: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(auth_endpoint, username=ALICE[0], password=ALICE[1]) as c:
        yield c


async def fails_with(
    cls: type[EtcdError], call: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
) -> EtcdError:
    """``call(*args, **kwargs)`` must raise exactly ``cls``, chained to the gRPC failure."""
    with pytest.raises(cls) as info:
        await call(*args, **kwargs)
    error = info.value
    assert type(error) is cls
    assert isinstance(error.__cause__, grpc.RpcError)
    return error


async def let_the_token_expire(seconds: float = TOKEN_EXPIRY) -> None:
    """Stay idle until etcd forgot the token: the expiry is the behaviour under test."""
    from etcd3py._async._primitives import sleep

    assert seconds >= TOKEN_EXPIRY
    await sleep(seconds)


async def keys_seen(watch: AsyncWatch, count: int) -> list[bytes]:
    """The keys of the next ``count`` events (a response may carry several)."""
    keys: list[bytes] = []
    while len(keys) < count:
        keys.extend(event.key for event in await watch.events(timeout=10))
    return keys


def token_generation(client: AsyncClient) -> int:
    """How many tokens the client fetched so far (to prove a renewal happened)."""
    return client._transport._token_generation


# ---- users, roles, permissions ----


async def test_auth_is_enabled(root: AsyncClient, auth_endpoint: str, prefix: bytes) -> None:
    assert await root.auth_status()
    async with AsyncClient(auth_endpoint) as anonymous:  # no token: no user, no access
        await fails_with(UserEmptyError, anonymous.get, prefix + b"k")
    await fails_with(InvalidAuthMgmtError, root.user_delete, "root")
    await fails_with(InvalidAuthMgmtError, root.user_revoke_role, "root", "root")
    await fails_with(InvalidAuthMgmtError, root.role_delete, "root")


async def test_users_and_roles_round_trip(root: AsyncClient, auth_endpoint: str) -> None:
    key = GRANTED + "roles/"
    await root.user_add("bob", "pw-1")
    await root.role_add("reader")
    await root.role_grant_permission("reader", key, prefix=True, perm=Permission.READ)
    await root.role_grant_permission("reader", "/single", perm=Permission.WRITE)
    await root.user_grant_role("bob", "reader")
    assert {"root", "alice", "bob"} <= set(await root.user_list())
    assert {"root", ALICE_ROLE, "reader"} <= set(await root.role_list())
    assert await root.user_get("bob") == ["reader"]
    perms = [(p.perm, p.key, p.range_end) for p in await root.role_get("reader")]
    assert sorted(perms) == [
        (Permission.READ, key.encode(), GRANTED.encode() + b"roles0"),
        (Permission.WRITE, b"/single", b""),
    ]
    await fails_with(UserAlreadyExistError, root.user_add, "bob", "pw")
    await fails_with(RoleAlreadyExistError, root.role_add, "reader")

    async with AsyncClient(auth_endpoint, username="bob", password="pw-1") as bob:
        assert (await bob.get(key + "k")).count == 0  # READ: reads only
        await fails_with(PermissionDeniedError, bob.put, key + "k", "v")
        await fails_with(PermissionDeniedError, bob.user_list)  # not root
        await root.role_revoke_permission("reader", key, prefix=True)
        await fails_with(PermissionDeniedError, bob.get, key + "k")  # at once
        assert [p.key for p in await root.role_get("reader")] == [b"/single"]
        await fails_with(PermissionNotGrantedError, root.role_revoke_permission, "reader", key)

        await root.user_change_password("bob", "pw-2")
        # etcd dropped bob's token; the client renews it with the password it has
        await fails_with(AuthFailedError, bob.put, "/single", "v")
    async with AsyncClient(auth_endpoint, username="bob", password="pw-2") as bob:
        await bob.put("/single", "v")  # WRITE on the single key

    await root.user_revoke_role("bob", "reader")
    assert await root.user_get("bob") == []
    await fails_with(RoleNotGrantedError, root.user_revoke_role, "bob", "reader")
    await root.user_delete("bob")
    await fails_with(UserNotFoundError, root.user_get, "bob")
    await fails_with(UserNotFoundError, root.user_delete, "bob")
    await root.role_delete("reader")
    await fails_with(RoleNotFoundError, root.role_get, "reader")
    await fails_with(RoleNotFoundError, root.user_grant_role, "alice", "reader")


async def test_wrong_password(auth_endpoint: str, prefix: bytes) -> None:
    async with AsyncClient(auth_endpoint, username=ALICE[0], password="wrong") as client:
        await fails_with(AuthFailedError, client.get, prefix + b"k")
    async with AsyncClient(auth_endpoint, username="nobody", password="x") as client:
        await fails_with(AuthFailedError, client.get, prefix + b"k")


async def test_enabling_auth_needs_a_root_user(backend: Backend) -> None:
    async with AsyncClient(backend.endpoint) as client:  # the suite's servers: no auth
        assert not await client.auth_status()
        await fails_with(RootUserNotExistError, client.auth_enable)  # and nothing changed
        assert not await client.auth_status()


async def test_credentials_are_ignored_without_auth(backend: Backend, prefix: bytes) -> None:
    async with AsyncClient(backend.endpoint, username=ALICE[0], password=ALICE[1]) as client:
        await client.put(prefix + b"k", "v")
        assert (await client.get(prefix + b"k")).value == b"v"


async def test_clients_go_on_after_auth_is_disabled(
    root: AsyncClient, alice: AsyncClient, auth_endpoint: str, prefix: bytes
) -> None:
    await alice.put(prefix + b"k", "v")
    await root.auth_disable()
    try:
        # both tokens died with auth: renewing them gets "authentication is not enabled"
        assert not await root.auth_status()
        assert (await alice.get(prefix + b"k")).value == b"v"
    finally:
        async with AsyncClient(auth_endpoint) as anonymous:  # anyone may, without auth
            await anonymous.auth_enable()


async def test_user_reads_and_writes_its_prefix(alice: AsyncClient, prefix: bytes) -> None:
    assert prefix.startswith(GRANTED.encode())
    await alice.put(prefix + b"k", "v")
    assert (await alice.get(prefix + b"k")).value == b"v"
    response = await alice.txn(success=[Put(prefix + b"t", "1")])
    assert response.succeeded
    assert (await alice.delete(prefix, prefix=True)).deleted == 2
    outside = b"/elsewhere/" + prefix
    await fails_with(PermissionDeniedError, alice.get, outside)
    await fails_with(PermissionDeniedError, alice.put, outside, "v")
    await fails_with(PermissionDeniedError, alice.delete, outside)
    await fails_with(PermissionDeniedError, alice.txn, success=[Put(outside, "v")])


async def test_watch_outside_the_prefix_is_denied(alice: AsyncClient, prefix: bytes) -> None:
    with pytest.raises(PermissionDeniedError):
        async with alice.watch(b"/elsewhere/" + prefix):
            pass


# ---- a token that expires ----


async def test_new_watch_after_the_token_expired(alice: AsyncClient, prefix: bytes) -> None:
    async with alice.watch(prefix + b"first"):  # opens the client's Watch stream
        await let_the_token_expire()
        await alice.put(prefix + b"k", "1")  # the client has a fresh token now
        async with alice.watch(prefix + b"k") as second:  # ... but the stream has the old one
            await alice.put(prefix + b"k", "2")
            (event,) = await second.events(timeout=10)
            assert event.value == b"2"


async def test_watch_resumes_over_a_new_stream_after_the_token_expired(
    auth_server: EtcdProcess, auth_endpoint: str, root: AsyncClient, prefix: bytes
) -> None:
    with TcpProxy(auth_server.client_port) as proxy:
        async with AsyncClient(proxy.endpoint, username=ALICE[0], password=ALICE[1]) as client:
            await resume_after_a_cut(client, proxy, root, prefix)


async def resume_after_a_cut(
    client: AsyncClient, proxy: TcpProxy, root: AsyncClient, prefix: bytes
) -> None:
    async with client.watch(prefix, prefix=True) as watch, client.lease(10) as lease:
        await client.put(prefix + b"k", "1")
        assert (await watch.events(timeout=10))[0].value == b"1"
        await let_the_token_expire()
        proxy.cut()  # both streams break: the client must open them again
        # written by root, not alice: no call of alice's renews her token first
        await root.put(prefix + b"k", "2")
        (event,) = await watch.events(timeout=10)
        assert event.value == b"2"
        assert not lease.lost and (await lease.time_to_live()).ttl > 0


@pytest.fixture(params=["server_ref", "etcd"])
def jwt_endpoint(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A member of its own issuing JWTs, with root and alice as the module's, auth on."""
    options = write_jwt_keys(tmp_path / "keys", "ES256") + ",sign-method=ES256,ttl=5m"
    proc = jwt_member(request.param, tmp_path, options)
    proc.start()
    try:
        yield proc.endpoint
    finally:
        proc.remove()


async def test_a_jwt_from_before_a_change_to_auth_is_renewed(
    jwt_endpoint: str, prefix: bytes
) -> None:
    """A JWT names the auth revision it was issued at: once users or roles change, etcd
    3.5.1 refuses it before applying anything ("auth: revision in header is old", as
    UNKNOWN). The client logs in again and repeats the call, a write too; without
    credentials to log in with, the refusal is typed."""
    async with AsyncClient(jwt_endpoint) as admin:
        await admin.user_add(*ROOT)
        await admin.user_grant_role("root", "root")
        await admin.user_add(*ALICE)
        await admin.role_add(ALICE_ROLE)
        await admin.role_grant_permission(ALICE_ROLE, GRANTED, prefix=True)
        await admin.user_grant_role(ALICE[0], ALICE_ROLE)
        await admin.auth_enable()
    async with (
        AsyncClient(jwt_endpoint, username=ROOT[0], password=ROOT[1]) as root,
        AsyncClient(jwt_endpoint, username=ALICE[0], password=ALICE[1]) as alice,
    ):
        await alice.put(prefix + b"k", "1")
        first = token_generation(alice)
        await root.role_add("moves-the-auth-revision")
        await alice.put(prefix + b"k", "2")
        assert token_generation(alice) == first + 1  # refused once, renewed, repeated
        await root.role_add("moves-it-again")
        assert (await alice.get(prefix + b"k")).value == b"2"  # a read the same way
        assert token_generation(alice) == first + 2
        # Maintenance answers the auth store's own text (UNKNOWN): typed all the same
        await fails_with(PermissionDeniedError, alice.hash_kv)


# (passing tests last: a failure in the module's teardown is reported with the last test)


async def test_calls_go_on_after_the_token_expired(alice: AsyncClient, prefix: bytes) -> None:
    await alice.put(prefix + b"k", "1")
    first = token_generation(alice)
    await let_the_token_expire()
    # a write: etcd refuses the stale token before doing anything, so it is safe to repeat
    await alice.put(prefix + b"k", "2")
    assert token_generation(alice) == first + 1  # refused once, renewed, repeated
    assert (await alice.get(prefix + b"k")).value == b"2"
    async with alice.lease(10) as lease:  # its keep-alive stream gets a token of its own
        await alice.put(prefix + b"k", "3", lease=lease)
    assert (await alice.get(prefix + b"k")).count == 0


async def test_watch_and_lease_outlive_the_token(
    alice: AsyncClient, root: AsyncClient, prefix: bytes
) -> None:
    async with alice.watch(prefix, prefix=True) as watch, alice.lease(LEASE_TTL) as lease:
        await alice.put(prefix + b"leased", "", lease=lease)
        await alice.put(prefix + b"k", "1")
        assert await keys_seen(watch, 2) == [prefix + b"leased", prefix + b"k"]
        first = token_generation(alice)
        # idle over two token lifetimes (and lease TTLs): only the keep-alive stream runs
        await let_the_token_expire(2.5 * AUTH_TOKEN_TTL)
        assert not lease.lost
        await root.put(prefix + b"k", "2")  # the watch stream opened with the dead token
        (event,) = await watch.events(timeout=10)
        assert (event.type, event.value) == (EventType.PUT, b"2")
        assert (await alice.get(prefix + b"leased")).count == 1  # a read: renews the token
        assert token_generation(alice) == first + 1
        info = await lease.time_to_live(keys=True)
        assert info.ttl > 0 and info.keys == [prefix + b"leased"] and not lease.lost
        await alice.put(prefix + b"k", "3")  # alice's own write, with the new token
        assert (await watch.events(timeout=10))[0].value == b"3"
