"""server_ref's auth from inside: permission intervals, the auth revision a proposal is
checked at, the log replayed to the same auth state and tokens, Go's bcrypt hashes,
the token sweep. (What a client sees is tested against etcd in conformance/test_auth.)"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
from collections.abc import Iterator

import bcrypt
import pytest

from etcd3py import _etcd_errors as E
from etcd3py._proto import auth_pb2, rpc_pb2
from etcd3py.server_ref.auth.caller import CALLER, Credentials
from etcd3py.server_ref.auth.passwords import password_matches
from etcd3py.server_ref.auth.perms import MergedPermissions
from etcd3py.server_ref.auth.tokens import SimpleTokens
from etcd3py.server_ref.embed.config import DEFAULTS
from etcd3py.server_ref.errors import ServerError
from etcd3py.server_ref.server import proposal
from etcd3py.server_ref.server.log import settled
from etcd3py.server_ref.server.server import EtcdServer
from etcd3py.server_ref.server.state import capture
from tests.unit.test_write_path import RecordingLog

P = auth_pb2.Permission
pytestmark = pytest.mark.anyio


def merged(*perms: tuple[bytes, bytes]) -> MergedPermissions:
    role = auth_pb2.Role(name=b"r")
    for key, end in perms:
        role.keyPermission.add(key=key, range_end=end, permType=P.READ)
    return MergedPermissions.of([role])


def test_a_range_needs_the_union_of_intervals_to_cover_it() -> None:
    perms = merged((b"a", b"c"), (b"c", b"e"), (b"x", b""), (b"y", b"\0"))
    assert perms.allows(b"a", b"e", write=False)  # two adjacent intervals
    assert perms.allows(b"b", b"d", write=False)
    assert not perms.allows(b"a", b"f", write=False)  # past the end
    assert not perms.allows(b"a", b"\0", write=False)  # from a on: to +inf
    assert perms.allows(b"y", b"\0", write=False) and perms.allows(b"zzz", b"\0", write=False)
    assert perms.allows(b"x", b"", write=False)  # the one key
    assert not perms.allows(b"x", b"x\0\0", write=False)  # more than the key
    assert perms.allows(b"x", b"x\0", write=False)  # exactly the key, as a range
    assert not perms.allows(b"a", b"", write=True)  # READ grants no write
    gap = merged((b"a", b"b"), (b"c", b"d"))
    assert not gap.allows(b"a", b"d", write=False)


def test_a_single_key_check_sees_every_role() -> None:
    """100 permissions, the key's in the last one only: allowed; a key past it: not."""
    roles = []
    for r in range(10):
        role = auth_pb2.Role(name=b"r%d" % r)
        for p in range(10):
            key = b"/mine/" if (r, p) == (9, 9) else b"/other/%d/%d/" % (r, p)
            role.keyPermission.add(key=key, range_end=key[:-1] + b"0", permType=P.READWRITE)
        roles.append(role)
    perms = MergedPermissions.of(roles)
    assert perms.allows(b"/mine/k", b"", write=True)
    assert perms.allows(b"/other/3/4/k", b"", write=False)
    assert not perms.allows(b"/mine0", b"", write=False)
    assert not perms.allows(b"/other/3/", b"", write=False)


def new_server(log: RecordingLog | None = None) -> EtcdServer:
    config = dataclasses.replace(DEFAULTS, bcrypt_cost=4).server_config()
    return EtcdServer(config, log)


@contextlib.contextmanager
def calling(token: str) -> Iterator[None]:
    """Propose and read as the token's user, within the block only (the async tests
    share one context: a caller left set would call into the next test)."""
    reset = CALLER.set(Credentials(token=token))
    try:
        yield
    finally:
        CALLER.reset(reset)


def hashed(password: str) -> str:
    return base64.b64encode(bcrypt.hashpw(password.encode(), bcrypt.gensalt(4))).decode()


def set_up_auth(server: EtcdServer) -> None:
    """root, alice (role app: read and write /t/ .. /t0), auth enabled."""
    for r in (
        rpc_pb2.AuthUserAddRequest(name="root", hashedPassword=hashed("r")),
        rpc_pb2.AuthUserGrantRoleRequest(user="root", role="root"),
        rpc_pb2.AuthRoleAddRequest(name="app"),
        rpc_pb2.AuthRoleGrantPermissionRequest(
            name="app", perm=P(key=b"/t/", range_end=b"/t0", permType=P.READWRITE)
        ),
        rpc_pb2.AuthUserAddRequest(name="alice", hashedPassword=hashed("a")),
        rpc_pb2.AuthUserGrantRoleRequest(user="alice", role="app"),
        rpc_pb2.AuthEnableRequest(),
    ):
        server.propose(r)


async def login(server: EtcdServer, name: str, password: str) -> str:
    resp = await server.authenticate(rpc_pb2.AuthenticateRequest(name=name, password=password))
    return resp.token


async def test_a_proposal_checked_at_an_old_auth_revision_fails_when_applied() -> None:
    """Entries wait for the log; one made by alice before a pending auth change is
    applied after it, at a newer auth revision: etcd's "revision in header is old"."""
    log = RecordingLog()
    server = new_server(log)
    set_up_auth(server)
    alice = await login(server, "alice", "a")
    root = await login(server, "root", "r")
    log.durable_at_once = False
    with calling(root):
        change = server.propose(rpc_pb2.AuthRoleAddRequest(name="other"))  # pending
    with calling(alice):
        write = server.propose(rpc_pb2.PutRequest(key=b"/t/k", value=b"v"))  # checked at rev N
    server.durable(server.raft_index)
    assert isinstance(await settled(change), rpc_pb2.AuthRoleAddResponse)
    with pytest.raises(ServerError) as info:
        await settled(write)
    assert info.value.spec == E.AUTH_OLD_REVISION
    assert server.store.rev == 1


async def test_replaying_the_log_rebuilds_the_auth_state_and_its_tokens() -> None:
    log = RecordingLog()
    first = new_server(log)
    set_up_auth(first)
    token = await login(first, "alice", "a")
    with calling(token):
        first.propose(rpc_pb2.PutRequest(key=b"/t/k", value=b"v"))
        with pytest.raises(ServerError):
            first.propose(rpc_pb2.PutRequest(key=b"/s", value=b"v"))  # logged, denied again
    second = new_server()
    for index, data in log.entries:
        _, p, who = proposal.decode(data)
        second.replay(index, p, who)
    assert capture(second) == capture(first)  # users, roles, enabled, auth revision, keys
    second.auth.tokens.enable()
    assert second.auth.info_from(Credentials(token=token)) is not None  # the same token
    assert second.store.rev == 2


def test_go_bcrypt_hashes_verify() -> None:
    """etcd's Go bcrypt writes $2a$ hashes; they verify as the $2b$ ones made here."""
    go_style = bcrypt.hashpw(b"secret", bcrypt.gensalt(4, prefix=b"2a"))
    assert go_style.startswith(b"$2a$04$")
    assert password_matches(go_style, "secret") and not password_matches(go_style, "other")
    assert not password_matches(b"", "secret")  # no hash: nothing matches
    # Go's bcrypt (as etcd 3.5.1 has it) reads 72 bytes of a password, no more
    long = "p" * 72
    assert password_matches(bcrypt.hashpw(long.encode(), bcrypt.gensalt(4)), long + "ignored")


def test_a_token_lives_its_ttl_from_its_last_use() -> None:
    now = [100.0]
    tokens = SimpleTokens(ttl=2, clock=lambda: now[0])
    tokens.enable()
    a = tokens.assign("alice", "A" * 16, 7)
    b = tokens.assign("bob", "B" * 16, 8)
    assert a == "AAAAAAAAAAAAAAAA.7"
    now[0] = 101.5
    assert tokens.user_of(a) == "alice"  # used: lives until 103.5
    now[0] = 102.5
    tokens.sweep()
    assert tokens.user_of(b) is None and tokens.user_of(a) == "alice"
    tokens.disable()
    assert tokens.user_of(a) is None
    assert tokens.assign("alice", "C" * 16, 9) == "CCCCCCCCCCCCCCCC.9"  # disabled: not kept
    assert tokens.user_of("CCCCCCCCCCCCCCCC.9") is None


def test_a_client_certificate_names_the_user_when_there_is_no_token() -> None:
    """etcd's AuthInfoFromTLS: the CN is the user (looked up only with auth on, where
    it matters); a token, when given, wins."""
    server = new_server()
    set_up_auth(server)
    looked_up: list[bool] = []

    def alice_cn() -> str:
        looked_up.append(True)
        return "alice"

    who = server.auth.info_from(Credentials(common_name=alice_cn))
    assert who is not None and (who.username, who.revision) == ("alice", server.auth.revision)
    server.auth.check_put(who, b"/t/k")
    with pytest.raises(ServerError) as info:
        server.auth.info_from(Credentials(token="bad", common_name=alice_cn))
    assert info.value.spec == E.INVALID_AUTH_TOKEN
    assert server.auth.info_from(Credentials()) is None
    server.auth.apply_disable()
    looked_up.clear()
    assert server.auth.info_from(Credentials(common_name=alice_cn)) is None
    assert not looked_up
