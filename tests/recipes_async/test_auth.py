"""Recipes run as a user whose role may write one prefix, on both servers with auth on.

The recipes use only the client API, so auth reaches them as it reaches any call: a
recipe inside the user's prefix works, one outside it fails with PermissionDeniedError
and leaves nothing behind (no key, no lease kept alive for nobody).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from etcd3py import AsyncClient, PermissionDeniedError
from etcd3py.recipes import AsyncElection, AsyncMutex, AsyncQueue, AsyncSession
from tests.support.auth_servers import auth_member
from tests.support.servers import EtcdProcess

pytestmark = pytest.mark.anyio

ROOT = ("root", "root-pw")
APP = ("app", "app-pw")
MINE = b"/app/"  # the app role may read and write under it, and nowhere else
# no token expires during the module; logins cheap (bcrypt's lowest cost)
TOKEN_TTL, BCRYPT_COST = 300, 4


@pytest.fixture(scope="module", params=["server_ref", "etcd"])
def member(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EtcdProcess]:
    folder = tmp_path_factory.mktemp("recipes-auth")
    proc = auth_member(request.param, folder / "data", TOKEN_TTL, bcrypt_cost=BCRYPT_COST)
    proc.start()
    try:
        yield proc
    finally:
        proc.remove()


@pytest.fixture(scope="module")
async def endpoint(member: EtcdProcess) -> str:
    async with AsyncClient(member.endpoint) as admin:
        await admin.user_add(*ROOT)
        await admin.user_grant_role(ROOT[0], "root")
        await admin.user_add(*APP)
        await admin.role_add("app")
        await admin.role_grant_permission("app", MINE, prefix=True)
        await admin.user_grant_role(APP[0], "app")
        await admin.auth_enable()
    return member.endpoint


@pytest.fixture
async def root(endpoint: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(endpoint, username=ROOT[0], password=ROOT[1]) as c:
        yield c


@pytest.fixture
async def app(endpoint: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(endpoint, username=APP[0], password=APP[1]) as c:
        yield c


async def nothing_left(root: AsyncClient, leases_before: list[int]) -> None:
    assert (await root.get(b"/other/", prefix=True)).count == 0
    assert sorted(await root.leases()) == sorted(leases_before)


async def test_recipes_inside_the_prefix(app: AsyncClient) -> None:
    async with AsyncMutex(app, MINE + b"lock") as mutex:
        assert mutex.held
    election = AsyncElection(app, MINE + b"election")
    assert await election.campaign("me", timeout=10)
    assert (await election.leader()) is not None
    await election.resign()
    queue = AsyncQueue(app, MINE + b"queue")
    await queue.put("job")
    assert await queue.get(timeout=10) == b"job"


async def test_a_mutex_outside_the_prefix_is_denied(app: AsyncClient, root: AsyncClient) -> None:
    before = await root.leases()
    with pytest.raises(PermissionDeniedError):
        await AsyncMutex(app, b"/other/lock").acquire(timeout=10)
    await nothing_left(root, before)


async def test_a_campaign_outside_the_prefix_is_denied(app: AsyncClient, root: AsyncClient) -> None:
    before = await root.leases()
    with pytest.raises(PermissionDeniedError):
        await AsyncElection(app, b"/other/election").campaign("me", timeout=10)
    await nothing_left(root, before)


async def test_a_session_key_outside_the_prefix_is_denied(
    app: AsyncClient, root: AsyncClient
) -> None:
    before = await root.leases()
    async with AsyncSession(app, ttl=10) as session:
        with pytest.raises(PermissionDeniedError):
            await app.put(b"/other/k", "v", lease=session.lease)
        await app.put(MINE + b"k", "v", lease=session.lease)
    await nothing_left(root, before)
    assert (await root.get(MINE + b"k")).count == 0  # revoked with the session
