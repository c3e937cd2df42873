"""Authentication and access control, raw over gRPC, on server_ref and real etcd 3.5.1.

Enabling auth changes what every call needs, so these tests run dedicated members
(``auth_member``): ``secured`` is one per backend for the module, with auth enabled and
three users -- ``root``; ``alice``, whose role ``app`` may read and write ``/t/``..``/t0``,
read the key ``k1`` and write from ``z`` on; and ``np``, a user without a password --
and ``fresh`` is a new member, auth disabled, for each test that needs one.

What etcd 3.5.1 answers, found by probing it, and asserted on both servers:
- with auth on, a call without a token has no user: "user name is empty"; a bad token
  is "invalid auth token" on every call that reads or proposes, while Status,
  MemberList, LeaseLeases, LeaseTimeToLive and LeaseKeepAlive never look at it;
- Compact and Alarm need no permission (but a valid token, if one is given);
- Hash, HashKV, Defragment and Snapshot need root, and answer the auth store's own
  texts ("auth: ...") with code UNKNOWN;
- a watch is checked when created and refused by a canceled response, and a from-key
  watch is checked as a watch of its one key, the key "" as "\\0";
- checks walk etcd's interval tree, whose answers on empty and inverted ranges depend on
  the order the permissions were inserted in.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from etcd3py import _etcd_errors as E
from etcd3py._etcd_errors import ErrorSpec
from etcd3py._proto import auth_pb2, rpc_pb2, rpc_pb2_grpc, v3election_pb2, v3lock_pb2
from tests.conftest import BACKENDS, Restartable
from tests.durability.test_snapshots import restore_cli
from tests.support.auth_servers import (
    AUTH_TOKEN_TTL,
    ServesTls,
    auth_member,
    jwt_member,
    write_jwt_keys,
)
from tests.support.backends import RPC_TIMEOUT, Backend, WatchStream
from tests.support.certs import make_certs
from tests.support.servers import EtcdProcess, RefProcess

P = auth_pb2.Permission
ROOT_PW, ALICE_PW = "root-pw", "alice-pw"
Metadata = list[tuple[str, str]] | None


def as_user(token: str | None) -> Metadata:
    return None if token is None else [("token", token)]


@dataclass
class Member:
    """A member's stubs (``Backend``) and its Auth stub."""

    endpoint: str
    backend: Backend = field(init=False)
    auth: rpc_pb2_grpc.AuthStub = field(init=False)

    def __post_init__(self) -> None:
        self.backend = Backend("auth", self.endpoint)
        self.auth = rpc_pb2_grpc.AuthStub(self.backend.channel)

    def login(self, name: str, password: str) -> str:
        request = rpc_pb2.AuthenticateRequest(name=name, password=password)
        return str(self.auth.Authenticate(request, timeout=RPC_TIMEOUT).token)

    def status(self, token: str | None) -> rpc_pb2.AuthStatusResponse:
        return self.auth.AuthStatus(
            rpc_pb2.AuthStatusRequest(), metadata=as_user(token), timeout=RPC_TIMEOUT
        )


def start(kind: str, data_dir: Path, token_ttl: int = 300) -> Iterator[Member]:
    """A dedicated member (removed after its one use), as ``Member``."""
    yield from serve(auth_member(kind, data_dir, token_ttl))


def serve(process: EtcdProcess) -> Iterator[Member]:
    process.start()
    member = Member(process.endpoint)
    try:
        yield member
    finally:
        member.backend.close()
        process.remove()


def fails(spec: ErrorSpec, call: Callable[..., Any], request: Any, token: str | None) -> None:
    """``call(request)`` as the token's user must fail with exactly ``spec``."""
    with pytest.raises(grpc.RpcError) as info:
        call(request, metadata=as_user(token), timeout=RPC_TIMEOUT)
    assert (info.value.code(), info.value.details()) == (spec.code, spec.message)


def ok(call: Callable[..., Any], request: Any, token: str | None) -> Any:
    return call(request, metadata=as_user(token), timeout=RPC_TIMEOUT)


def add_users(a: rpc_pb2_grpc.AuthStub) -> None:
    """root, alice (role app), np (no password, role app); auth still disabled."""
    a.UserAdd(rpc_pb2.AuthUserAddRequest(name="root", password=ROOT_PW), timeout=RPC_TIMEOUT)
    a.UserGrantRole(rpc_pb2.AuthUserGrantRoleRequest(user="root", role="root"))
    a.RoleAdd(rpc_pb2.AuthRoleAddRequest(name="app"))
    for perm in (
        P(key=b"/t/", range_end=b"/t0", permType=P.READWRITE),  # a range (the prefix /t/)
        P(key=b"k1", permType=P.READ),  # one key
        P(key=b"z", range_end=b"\0", permType=P.WRITE),  # from a key on
    ):
        a.RoleGrantPermission(rpc_pb2.AuthRoleGrantPermissionRequest(name="app", perm=perm))
    a.UserAdd(rpc_pb2.AuthUserAddRequest(name="alice", password=ALICE_PW), timeout=RPC_TIMEOUT)
    a.UserGrantRole(rpc_pb2.AuthUserGrantRoleRequest(user="alice", role="app"))
    no_password = auth_pb2.UserAddOptions(no_password=True)
    a.UserAdd(rpc_pb2.AuthUserAddRequest(name="np", options=no_password))
    a.UserGrantRole(rpc_pb2.AuthUserGrantRoleRequest(user="np", role="app"))


@pytest.fixture(scope="module", params=BACKENDS)
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Member]:
    for member in start(request.param, tmp_path_factory.mktemp("secured") / "data"):
        add_users(member.auth)
        member.auth.AuthEnable(rpc_pb2.AuthEnableRequest(), timeout=RPC_TIMEOUT)
        yield member


@pytest.fixture(params=BACKENDS)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Member]:
    yield from start(request.param, tmp_path / "data", token_ttl=AUTH_TOKEN_TTL)


@pytest.fixture
def root(secured: Member) -> str:
    return secured.login("root", ROOT_PW)


@pytest.fixture
def alice(secured: Member) -> str:
    return secured.login("alice", ALICE_PW)


# ---- managing users and roles ----


def test_enabling_auth_needs_root_with_the_root_role(fresh: Member) -> None:
    a = fresh.auth
    fails(E.AUTH_NOT_ENABLED, a.Authenticate, rpc_pb2.AuthenticateRequest(name="x"), None)
    fails(E.ROOT_USER_NOT_EXIST, a.AuthEnable, rpc_pb2.AuthEnableRequest(), None)
    ok(a.UserAdd, rpc_pb2.AuthUserAddRequest(name="root", password="pw"), None)
    fails(E.ROOT_ROLE_NOT_EXIST, a.AuthEnable, rpc_pb2.AuthEnableRequest(), None)
    # the root role need not exist as a role to be granted
    ok(a.UserGrantRole, rpc_pb2.AuthUserGrantRoleRequest(user="root", role="root"), None)
    fails(E.ROLE_NOT_FOUND, a.RoleGet, rpc_pb2.AuthRoleGetRequest(role="root"), None)
    assert fresh.status(None).authRevision == 3  # 1 when created, +1 per change
    ok(a.AuthEnable, rpc_pb2.AuthEnableRequest(), None)
    # enabling changed no revision; now every admin request needs root
    fails(E.USER_EMPTY, a.AuthStatus, rpc_pb2.AuthStatusRequest(), None)
    token = fresh.login("root", "pw")
    assert (fresh.status(token).enabled, fresh.status(token).authRevision) == (True, 3)
    ok(a.AuthEnable, rpc_pb2.AuthEnableRequest(), token)  # enabled already: nothing to do
    ok(a.AuthDisable, rpc_pb2.AuthDisableRequest(), token)
    ok(a.AuthDisable, rpc_pb2.AuthDisableRequest(), None)  # disabled already: anyone may
    status = fresh.status(None)
    assert (status.enabled, status.authRevision) == (False, 4)  # disabling is a change
    # with auth off, root may go (and its token went with auth)
    fails(E.INVALID_AUTH_TOKEN, fresh.backend.kv.Range, rpc_pb2.RangeRequest(key=b"a"), token)
    ok(a.UserDelete, rpc_pb2.AuthUserDeleteRequest(name="root"), None)


def test_user_and_role_errors(fresh: Member) -> None:
    a, R = fresh.auth, rpc_pb2
    fails(E.USER_EMPTY, a.UserAdd, R.AuthUserAddRequest(name="", password="x"), None)
    fails(E.ROLE_EMPTY, a.RoleAdd, R.AuthRoleAddRequest(name=""), None)
    ok(a.UserAdd, R.AuthUserAddRequest(name="u", password="x"), None)
    fails(E.USER_ALREADY_EXIST, a.UserAdd, R.AuthUserAddRequest(name="u", password="y"), None)
    ok(a.RoleAdd, R.AuthRoleAddRequest(name="r"), None)
    fails(E.ROLE_ALREADY_EXIST, a.RoleAdd, R.AuthRoleAddRequest(name="r"), None)
    grant = R.AuthUserGrantRoleRequest
    fails(E.ROLE_NOT_FOUND, a.UserGrantRole, grant(user="u", role="nope"), None)
    fails(E.USER_NOT_FOUND, a.UserGrantRole, grant(user="nope", role="r"), None)
    fails(
        E.ROLE_NOT_GRANTED, a.UserRevokeRole, R.AuthUserRevokeRoleRequest(name="u", role="r"), None
    )
    fails(
        E.PERMISSION_NOT_GIVEN,
        a.RoleGrantPermission,
        R.AuthRoleGrantPermissionRequest(name="r"),
        None,
    )
    perm = P(key=b"a", permType=P.READ)
    fails(
        E.ROLE_NOT_FOUND,
        a.RoleGrantPermission,
        R.AuthRoleGrantPermissionRequest(name="x", perm=perm),
        None,
    )
    revoke = R.AuthRoleRevokePermissionRequest(role="r", key=b"a")
    fails(E.PERMISSION_NOT_GRANTED, a.RoleRevokePermission, revoke, None)
    fails(E.USER_NOT_FOUND, a.UserGet, R.AuthUserGetRequest(name="nope"), None)
    fails(E.USER_NOT_FOUND, a.UserDelete, R.AuthUserDeleteRequest(name="nope"), None)
    change = R.AuthUserChangePasswordRequest(name="nope", password="x")
    fails(E.USER_NOT_FOUND, a.UserChangePassword, change, None)
    fails(E.ROLE_NOT_FOUND, a.RoleDelete, R.AuthRoleDeleteRequest(role="nope"), None)
    huge = "n" * (1536 * 1024)
    fails(E.REQUEST_TOO_LARGE, a.UserAdd, R.AuthUserAddRequest(name=huge, password="x"), None)
    fails(E.REQUEST_TOO_LARGE, a.RoleAdd, R.AuthRoleAddRequest(name=huge), None)
    assert fresh.status(None).authRevision == 3  # only the two adds changed anything


def test_permissions_are_kept_sorted_and_updated_in_place(fresh: Member) -> None:
    a, R = fresh.auth, rpc_pb2
    ok(a.RoleAdd, R.AuthRoleAddRequest(name="r"), None)
    for key, end, kind in [(b"m", b"", P.READ), (b"a", b"b", P.WRITE), (b"m", b"", P.WRITE)]:
        perm = P(key=key, range_end=end, permType=kind)
        ok(a.RoleGrantPermission, R.AuthRoleGrantPermissionRequest(name="r", perm=perm), None)
    got = ok(a.RoleGet, R.AuthRoleGetRequest(role="r"), None).perm
    assert [(p.key, p.range_end, p.permType) for p in got] == [
        (b"a", b"b", P.WRITE),
        (b"m", b"", P.WRITE),
    ]
    ok(a.UserAdd, R.AuthUserAddRequest(name="b", password="x"), None)
    ok(a.UserAdd, R.AuthUserAddRequest(name="a", password="x"), None)
    assert list(ok(a.UserList, R.AuthUserListRequest(), None).users) == ["a", "b"]
    ok(a.UserGrantRole, R.AuthUserGrantRoleRequest(user="a", role="r"), None)
    before = fresh.status(None).authRevision
    ok(a.UserGrantRole, R.AuthUserGrantRoleRequest(user="a", role="r"), None)  # again: no-op
    assert fresh.status(None).authRevision == before
    ok(a.RoleDelete, R.AuthRoleDeleteRequest(role="r"), None)  # taken from its users too
    assert list(ok(a.UserGet, R.AuthUserGetRequest(name="a"), None).roles) == []


def role_after_grants(member: Member, role: str, grants: list[tuple[bytes, bytes]]) -> list[Any]:
    """(key, range end) of the role's permissions after granting these, in this order."""
    a, R = member.auth, rpc_pb2
    ok(a.RoleAdd, R.AuthRoleAddRequest(name=role), None)
    for key, end in grants:
        perm = P(key=key, range_end=end, permType=P.READ)
        ok(a.RoleGrantPermission, R.AuthRoleGrantPermissionRequest(name=role, perm=perm), None)
    return [(p.key, p.range_end) for p in ok(a.RoleGet, R.AuthRoleGetRequest(role=role), None).perm]


def test_permissions_with_equal_keys_keep_the_order_of_gos_sort(fresh: Member) -> None:
    """etcd sorts a role's permissions by key with Go's unstable sort: from 7 permissions
    on (its shell pass) equal keys may swap; from 13 on, its quicksort decides."""
    seven = [(b"b", b"c"), (b"b", b"d"), (b"c", b""), (b"d", b""), (b"e", b""), (b"f", b"")]
    assert (
        role_after_grants(fresh, "seven", [*seven, (b"a", b"")])
        == [
            (b"a", b""),
            (b"b", b"d"),  # moved past (b, c) by the shell pass
            (b"b", b"c"),
            *seven[2:],
        ]
    )
    keys = "cbdaaacabaaddabadaab"
    twenty = [(k.encode(), b"z%d" % i) for i, k in enumerate(keys)]
    ends = [end for _, end in role_after_grants(fresh, "twenty", twenty)]
    assert b" ".join(ends) == (
        b"z15 z4 z5 z7 z9 z10 z13 z17 z18 z3 z8 z14 z1 z19 z6 z0 z2 z11 z12 z16"
    )


def test_root_cannot_lose_root_while_auth_is_on(secured: Member, root: str) -> None:
    a, R = secured.auth, rpc_pb2
    fails(E.INVALID_AUTH_MGMT, a.UserDelete, R.AuthUserDeleteRequest(name="root"), root)
    revoke = R.AuthUserRevokeRoleRequest(name="root", role="root")
    fails(E.INVALID_AUTH_MGMT, a.UserRevokeRole, revoke, root)
    fails(E.INVALID_AUTH_MGMT, a.RoleDelete, R.AuthRoleDeleteRequest(role="root"), root)


def test_authentication_failures(secured: Member) -> None:
    a, R = secured.auth, rpc_pb2
    fails(E.AUTH_FAILED, a.Authenticate, R.AuthenticateRequest(name="root", password="x"), None)
    fails(E.AUTH_FAILED, a.Authenticate, R.AuthenticateRequest(name="ghost", password="x"), None)
    fails(E.NO_PASSWORD_USER, a.Authenticate, R.AuthenticateRequest(name="np"), None)


def test_empty_passwords(fresh: Member) -> None:
    """An empty password given to UserAdd is hashed, and logs in; one given to
    UserChangePassword is not, and leaves a hash no password matches."""
    a, R = fresh.auth, rpc_pb2
    ok(a.UserAdd, R.AuthUserAddRequest(name="root", password="r"), None)
    ok(a.UserGrantRole, R.AuthUserGrantRoleRequest(user="root", role="root"), None)
    ok(a.UserAdd, R.AuthUserAddRequest(name="e", password=""), None)
    ok(a.UserAdd, R.AuthUserAddRequest(name="f", password="x"), None)
    ok(a.UserChangePassword, R.AuthUserChangePasswordRequest(name="f", password=""), None)
    ok(a.AuthEnable, R.AuthEnableRequest(), None)
    assert fresh.login("e", "")
    for name, password in [("e", "x"), ("f", ""), ("f", "x")]:
        wrong = R.AuthenticateRequest(name=name, password=password)
        fails(E.AUTH_FAILED, a.Authenticate, wrong, None)


def test_a_token_is_letters_and_the_raft_index_of_its_entry(secured: Member) -> None:
    first, second = secured.login("alice", ALICE_PW), secured.login("alice", ALICE_PW)
    for token in (first, second):
        assert re.fullmatch(r"[A-Za-z]{16}\.[0-9]+", token), token
    assert int(second.split(".")[1]) == int(first.split(".")[1]) + 1
    status = secured.backend.maintenance.Status(rpc_pb2.StatusRequest(), timeout=RPC_TIMEOUT)
    assert status.raftIndex == int(second.split(".")[1])


# ---- who may do what ----


def test_admin_requests_need_root(secured: Member, alice: str) -> None:
    a, R = secured.auth, rpc_pb2
    for token, spec in [(None, E.USER_EMPTY), (alice, E.PERMISSION_DENIED)]:
        fails(spec, a.AuthStatus, R.AuthStatusRequest(), token)
        fails(spec, a.UserList, R.AuthUserListRequest(), token)
        fails(spec, a.RoleAdd, R.AuthRoleAddRequest(name="x"), token)
        fails(spec, a.AuthDisable, R.AuthDisableRequest(), token)
    # a user may get itself and its own roles, not others
    assert list(ok(a.UserGet, R.AuthUserGetRequest(name="alice"), alice).roles) == ["app"]
    assert len(ok(a.RoleGet, R.AuthRoleGetRequest(role="app"), alice).perm) == 3
    fails(E.PERMISSION_DENIED, a.UserGet, R.AuthUserGetRequest(name="root"), alice)
    fails(E.PERMISSION_DENIED, a.UserGet, R.AuthUserGetRequest(name="ghost"), alice)
    fails(E.PERMISSION_DENIED, a.RoleGet, R.AuthRoleGetRequest(role="root"), alice)


# (call, key, range end, what alice gets): a range of keys needs the union of the
# user's permissions to cover all of it; one key, one permission holding it
_DENIED = E.PERMISSION_DENIED
PERMISSION_FORMS = [
    ("range", b"/t/a", b"", None),
    ("range", b"/t/", b"/t0", None),
    ("range", b"/t/", b"/t1", _DENIED),  # beyond the granted range
    ("range", b"/s", b"", _DENIED),
    ("range", b"k1", b"", None),  # the one key granted
    ("range", b"k1", b"k2", _DENIED),  # a range from it is more than the key
    ("range", b"z", b"", _DENIED),  # write only
    ("range", b"\0", b"\0", _DENIED),  # everything
    ("delete", b"/t/", b"/t0", None),
    ("delete", b"k1", b"", _DENIED),  # read only
    ("delete", b"z", b"", None),
    ("delete", b"z", b"\0", None),  # from z on: the permission's very range
    ("delete", b"zz", b"zzz", None),
    ("put", b"/t/a", b"", None),
    ("put", b"zzz", b"", None),
    ("put", b"k1", b"", _DENIED),
    ("put", b"y", b"", _DENIED),
]


@pytest.mark.parametrize(("call", "key", "end", "spec"), PERMISSION_FORMS)
def test_permission_forms(
    secured: Member, alice: str, call: str, key: bytes, end: bytes, spec: ErrorSpec | None
) -> None:
    kv = secured.backend.kv
    if call == "range":
        fn, request = kv.Range, rpc_pb2.RangeRequest(key=key, range_end=end)
    elif call == "delete":
        fn, request = kv.DeleteRange, rpc_pb2.DeleteRangeRequest(key=key, range_end=end)
    else:
        fn, request = kv.Put, rpc_pb2.PutRequest(key=key, value=b"v")
    if spec is None:
        ok(fn, request, alice)
    else:
        fails(spec, fn, request, alice)


def test_prev_kv_needs_read_permission(secured: Member, alice: str) -> None:
    kv = secured.backend.kv
    ok(kv.Put, rpc_pb2.PutRequest(key=b"/t/p", value=b"v", prev_kv=True), alice)
    fails(_DENIED, kv.Put, rpc_pb2.PutRequest(key=b"z", prev_kv=True), alice)
    fails(_DENIED, kv.DeleteRange, rpc_pb2.DeleteRangeRequest(key=b"z", prev_kv=True), alice)


def test_txn_compares_and_every_op_need_permission(secured: Member, alice: str, root: str) -> None:
    kv, R = secured.backend.kv, rpc_pb2

    def version_above_0(key: bytes) -> rpc_pb2.Compare:
        return R.Compare(key=key, target=R.Compare.VERSION, result=R.Compare.GREATER, version=0)

    def put(key: bytes) -> rpc_pb2.RequestOp:
        return R.RequestOp(request_put=R.PutRequest(key=key, value=b"v"))

    # a compare reads its key: z is writable, not readable
    fails(_DENIED, kv.Txn, R.TxnRequest(compare=[version_above_0(b"z")]), alice)  # read-only
    txn = R.TxnRequest(compare=[version_above_0(b"z")], success=[put(b"/t/x")])
    fails(_DENIED, kv.Txn, txn, alice)
    # the branch not taken is checked too
    txn = R.TxnRequest(
        compare=[version_above_0(b"/t/")], success=[put(b"/t/x")], failure=[put(b"y")]
    )
    fails(_DENIED, kv.Txn, txn, alice)
    txn = R.TxnRequest(
        compare=[version_above_0(b"/t/")], success=[put(b"/t/x")], failure=[put(b"z")]
    )
    assert ok(kv.Txn, txn, alice).header.revision > 0
    # etcd 3.5.1 checks the top level of a transaction only: a nested one is not
    # checked at all, so alice writes where she may not (kept: it is what etcd does)
    nested = R.RequestOp(request_txn=R.TxnRequest(success=[put(b"/nested-by-alice")]))
    ok(kv.Txn, R.TxnRequest(success=[nested]), alice)
    fails(_DENIED, kv.Range, R.RangeRequest(key=b"/nested-by-alice"), alice)
    assert ok(kv.Range, R.RangeRequest(key=b"/nested-by-alice"), root).count == 1


def test_calls_without_a_token(secured: Member) -> None:
    b = secured.backend
    fails(E.USER_EMPTY, b.kv.Range, rpc_pb2.RangeRequest(key=b"/t/a"), None)
    fails(E.USER_EMPTY, b.kv.Put, rpc_pb2.PutRequest(key=b"/t/a"), None)
    fails(E.USER_EMPTY, b.kv.DeleteRange, rpc_pb2.DeleteRangeRequest(key=b"/t/a"), None)
    lease = ok(b.lease.LeaseGrant, rpc_pb2.LeaseGrantRequest(TTL=30), None)  # needs no user
    ok(b.lease.LeaseRevoke, rpc_pb2.LeaseRevokeRequest(ID=lease.ID), None)  # (no keys)
    ok(b.kv.Compact, rpc_pb2.CompactionRequest(revision=1), None)
    ok(b.maintenance.Alarm, rpc_pb2.AlarmRequest(), None)
    ok(b.maintenance.Status, rpc_pb2.StatusRequest(), None)
    ok(b.cluster.MemberList, rpc_pb2.MemberListRequest(), None)


@pytest.mark.parametrize("token", ["garbage", "abcdefghijklmnop.x", "abcdefghijklmnop.3", ""])
def test_bad_tokens(secured: Member, token: str) -> None:
    b, bad = secured.backend, E.INVALID_AUTH_TOKEN
    fails(bad, b.kv.Range, rpc_pb2.RangeRequest(key=b"/t/a"), token)
    fails(bad, b.kv.Put, rpc_pb2.PutRequest(key=b"/t/a"), token)
    fails(bad, b.kv.Compact, rpc_pb2.CompactionRequest(revision=1), token)
    fails(bad, b.lease.LeaseGrant, rpc_pb2.LeaseGrantRequest(TTL=30), token)
    fails(bad, b.maintenance.Alarm, rpc_pb2.AlarmRequest(), token)
    fails(bad, secured.auth.UserList, rpc_pb2.AuthUserListRequest(), token)
    # calls that never look at the token
    ok(b.maintenance.Status, rpc_pb2.StatusRequest(), token)
    ok(b.cluster.MemberList, rpc_pb2.MemberListRequest(), token)
    ok(b.lease.LeaseLeases, rpc_pb2.LeaseLeasesRequest(), token)
    assert ok(b.lease.LeaseTimeToLive, rpc_pb2.LeaseTimeToLiveRequest(ID=1), token).TTL == -1
    lease = ok(b.lease.LeaseGrant, rpc_pb2.LeaseGrantRequest(TTL=30), None).ID
    renewals = b.lease.LeaseKeepAlive(
        iter([rpc_pb2.LeaseKeepAliveRequest(ID=lease)]), metadata=as_user(token), timeout=10
    )
    assert next(renewals).TTL == 30
    renewals.cancel()
    ok(b.lease.LeaseRevoke, rpc_pb2.LeaseRevokeRequest(ID=lease), None)


def test_root_only_maintenance_calls(secured: Member, alice: str, root: str) -> None:
    m = secured.backend.maintenance
    calls: list[tuple[Callable[..., Any], Any]] = [
        (m.Hash, rpc_pb2.HashRequest()),
        (m.HashKV, rpc_pb2.HashKVRequest()),
        (m.Defragment, rpc_pb2.DefragmentRequest()),
    ]
    for fn, request in calls:
        fails(E.AUTH_USER_EMPTY, fn, request, None)
        fails(E.AUTH_PERMISSION_DENIED, fn, request, alice)
        fails(E.AUTH_INVALID_TOKEN, fn, request, "garbage")
        ok(fn, request, root)
    for token, spec in [(None, E.AUTH_USER_EMPTY), (alice, E.AUTH_PERMISSION_DENIED)]:
        with pytest.raises(grpc.RpcError) as info:
            list(m.Snapshot(rpc_pb2.SnapshotRequest(), metadata=as_user(token), timeout=10))
        assert (info.value.code(), info.value.details()) == spec
    chunks = list(m.Snapshot(rpc_pb2.SnapshotRequest(), metadata=as_user(root), timeout=30))
    assert chunks and chunks[-1].remaining_bytes == 0


def test_lease_keys_need_write_permission(secured: Member, alice: str, root: str) -> None:
    b = secured.backend
    lease = ok(b.lease.LeaseGrant, rpc_pb2.LeaseGrantRequest(TTL=60), root).ID
    ok(b.kv.Put, rpc_pb2.PutRequest(key=b"/s", lease=lease), root)
    # attaching to, or revoking, a lease with a key alice may not write
    fails(_DENIED, b.kv.Put, rpc_pb2.PutRequest(key=b"/t/l", lease=lease), alice)
    fails(_DENIED, b.lease.LeaseRevoke, rpc_pb2.LeaseRevokeRequest(ID=lease), alice)
    # ... while anyone may see its keys
    ttl = ok(b.lease.LeaseTimeToLive, rpc_pb2.LeaseTimeToLiveRequest(ID=lease, keys=True), alice)
    assert list(ttl.keys) == [b"/s"]
    ok(b.lease.LeaseRevoke, rpc_pb2.LeaseRevokeRequest(ID=lease), root)


def first_watch_response(member: Member, key: bytes, end: bytes, token: str | None) -> Any:
    create = rpc_pb2.WatchCreateRequest(key=key, range_end=end)
    call = member.backend.watch_stub.Watch(
        iter([rpc_pb2.WatchRequest(create_request=create)]), metadata=as_user(token), timeout=10
    )
    try:
        return next(call)
    finally:
        call.cancel()


def test_watch_is_checked_when_created(secured: Member, alice: str) -> None:
    denied = [(b"/s", b"", alice), (b"z", b"\0", alice), (b"/t/", b"", None), (b"/t/", b"", "bad")]
    for key, end, token in denied:
        resp = first_watch_response(secured, key, end, token)
        assert (resp.created, resp.canceled, resp.watch_id) == (True, True, 0)
        assert resp.cancel_reason == E.WATCH_PERMISSION_DENIED
        assert resp.header.revision > 0
    # a from-key watch is checked as a watch of its one key: k1 alone is readable
    for key, end in [(b"/t/", b"/t0"), (b"k1", b"\0")]:
        resp = first_watch_response(secured, key, end, alice)
        assert resp.created and not resp.canceled


def user_with_roles(member: Member, root: str, name: str, *roles: list[P]) -> str:
    """A new user with new roles ``<name>-<i>`` (granted in this order), logged in."""
    a, R = member.auth, rpc_pb2
    ok(a.UserAdd, R.AuthUserAddRequest(name=name, password="pw"), root)
    for i, perms in enumerate(roles):
        role = f"{name}-{i}"
        ok(a.RoleAdd, R.AuthRoleAddRequest(name=role), root)
        for perm in perms:
            ok(a.RoleGrantPermission, R.AuthRoleGrantPermissionRequest(name=role, perm=perm), root)
        ok(a.UserGrantRole, R.AuthUserGrantRoleRequest(user=name, role=role), root)
    return member.login(name, "pw")


def test_answers_that_follow_the_tree_shape(secured: Member, root: str) -> None:
    """etcd checks permissions by walking an interval tree; on empty and inverted ranges
    the answer depends on which interval the tree holds where."""
    prefix = P(key=b"/sh/", range_end=b"/sh0", permType=P.READ)
    empty = P(key=b"/sh/a", range_end=b"/sh/a", permType=P.READWRITE)
    compare = rpc_pb2.Compare(key=b"/sh/a", range_end=b"/sh/a", target=rpc_pb2.Compare.VERSION)
    txn = rpc_pb2.TxnRequest(compare=[compare])
    # [/sh/a, /sh/a) inserted first is the tree's root, and hides the prefix below it
    hidden = user_with_roles(secured, root, "sh-hidden", [empty], [prefix])
    fails(_DENIED, secured.backend.kv.Txn, txn, hidden)
    # inserted after the prefix (one role: sorted by key), the prefix covers it
    one_role = user_with_roles(secured, root, "sh-one-role", [prefix, empty])
    ok(secured.backend.kv.Txn, txn, one_role)
    # an inverted range is not covered by its own grant; the prefix's node covers it
    inverted = P(key=b"/sh/\0", range_end=b"/sh/", permType=P.READ)
    alone = user_with_roles(secured, root, "sh-inverted", [inverted])
    resp = first_watch_response(secured, b"/sh/\0", b"/sh/", alone)
    assert resp.cancel_reason == E.WATCH_PERMISSION_DENIED
    with_prefix = user_with_roles(secured, root, "sh-inverted-prefix", [prefix, inverted])
    resp = first_watch_response(secured, b"/sh/\0", b"/sh/", with_prefix)
    assert resp.cancel_reason == E.WATCH_EMPTY_RANGE  # past the check


def test_a_watch_on_the_empty_key_is_checked_as_one_on_the_least_key(
    secured: Member, root: str
) -> None:
    """The watch server makes the key "" into "\0" (and drops a "\0" end) before the
    check; a permission on the key "" begins at +inf, so it holds no key."""
    least = P(key=b"\0", permType=P.READ)
    everything = P(key=b"\0", range_end=b"\0", permType=P.READ)
    empty_key = P(key=b"", permType=P.READ)
    empty_from = P(key=b"", range_end=b"\0", permType=P.READ)
    cases = [(least, b"", True), (everything, b"", True), (everything, b"\0", True)]
    cases += [(empty_key, b"", False), (empty_from, b"", False)]
    for i, (perm, end, created) in enumerate(cases):
        token = user_with_roles(secured, root, f"empty-key-{i}", [perm])
        resp = first_watch_response(secured, b"", end, token)
        assert (resp.created, resp.canceled) == (True, not created), (perm, end)


def test_lock_and_election_run_as_their_caller(secured: Member, alice: str) -> None:
    """The member's own client carries the caller's token: its errors come back as
    UNKNOWN, with etcd's text, as the Lock and Election services hand them on."""
    b = secured.backend
    lease = ok(b.lease.LeaseGrant, rpc_pb2.LeaseGrantRequest(TTL=60), alice).ID
    key = ok(b.lock.Lock, v3lock_pb2.LockRequest(name=b"/t/lock", lease=lease), alice).key
    assert key.startswith(b"/t/lock/")
    ok(b.lock.Unlock, v3lock_pb2.UnlockRequest(key=key), alice)
    lock_s = v3lock_pb2.LockRequest(name=b"/s", lease=lease)
    for token, spec in [(alice, _DENIED), (None, E.USER_EMPTY), ("bad", E.INVALID_AUTH_TOKEN)]:
        fails(ErrorSpec(grpc.StatusCode.UNKNOWN, spec.message), b.lock.Lock, lock_s, token)
    campaign = v3election_pb2.CampaignRequest(name=b"/s", lease=lease, value=b"v")
    unknown_denied = ErrorSpec(grpc.StatusCode.UNKNOWN, _DENIED.message)
    fails(unknown_denied, b.election.Campaign, campaign, alice)
    fails(unknown_denied, b.election.Leader, v3election_pb2.LeaderRequest(name=b"/s"), alice)
    campaign = v3election_pb2.CampaignRequest(name=b"/t/e", lease=lease, value=b"v")
    leader = ok(b.election.Campaign, campaign, alice).leader
    got = ok(b.election.Leader, v3election_pb2.LeaderRequest(name=b"/t/e"), alice)
    assert got.kv.key == leader.key
    observed = b.election.Observe(
        v3election_pb2.LeaderRequest(name=b"/t/e"), metadata=as_user(alice), timeout=10
    )
    assert next(observed).kv.key == leader.key
    observed.cancel()
    # an Observe whose reads fail ends, with no error (Go's observe returns on any)
    for token in (alice, None, "bad"):
        request = v3election_pb2.LeaderRequest(name=b"/s" if token == alice else b"/t/e")
        assert list(b.election.Observe(request, metadata=as_user(token), timeout=10)) == []
    ok(b.lease.LeaseRevoke, rpc_pb2.LeaseRevokeRequest(ID=lease), alice)


def test_changes_take_effect_on_the_next_request(secured: Member, root: str) -> None:
    a, kv, R = secured.auth, secured.backend.kv, rpc_pb2
    ok(a.UserAdd, R.AuthUserAddRequest(name="carol", password="c1"), root)
    ok(a.RoleAdd, R.AuthRoleAddRequest(name="carol-role"), root)
    ok(a.UserGrantRole, R.AuthUserGrantRoleRequest(user="carol", role="carol-role"), root)
    carol = secured.login("carol", "c1")
    fails(_DENIED, kv.Range, R.RangeRequest(key=b"/c"), carol)
    perm = P(key=b"/c", permType=P.READ)
    grant = R.AuthRoleGrantPermissionRequest(name="carol-role", perm=perm)
    ok(a.RoleGrantPermission, grant, root)
    ok(kv.Range, R.RangeRequest(key=b"/c"), carol)  # the same token, a new right
    revoke = R.AuthRoleRevokePermissionRequest(role="carol-role", key=b"/c")
    ok(a.RoleRevokePermission, revoke, root)
    fails(_DENIED, kv.Range, R.RangeRequest(key=b"/c"), carol)
    ok(a.RoleGrantPermission, grant, root)
    ok(a.UserRevokeRole, R.AuthUserRevokeRoleRequest(name="carol", role="carol-role"), root)
    fails(_DENIED, kv.Range, R.RangeRequest(key=b"/c"), carol)
    # a new password, or deleting the user, drops its tokens
    ok(a.UserChangePassword, R.AuthUserChangePasswordRequest(name="carol", password="c2"), root)
    fails(E.INVALID_AUTH_TOKEN, kv.Range, R.RangeRequest(key=b"/c"), carol)
    fails(E.AUTH_FAILED, a.Authenticate, R.AuthenticateRequest(name="carol", password="c1"), None)
    carol = secured.login("carol", "c2")
    ok(a.UserDelete, R.AuthUserDeleteRequest(name="carol"), root)
    fails(E.INVALID_AUTH_TOKEN, kv.Range, R.RangeRequest(key=b"/c"), carol)
    ok(a.RoleDelete, R.AuthRoleDeleteRequest(role="carol-role"), root)


def test_role_changes_under_live_watches(secured: Member, root: str, alice: str) -> None:
    """A watch is checked when it is created, never again: revoking the right leaves a
    live watch delivering, while the next watch on the same stream is denied. A storm
    of role changes from other threads while events flow breaks no client's stream."""
    a, kv, R = secured.auth, secured.backend.kv, rpc_pb2
    ok(a.UserAdd, R.AuthUserAddRequest(name="wendy", password="w"), root)
    ok(a.RoleAdd, R.AuthRoleAddRequest(name="watcher"), root)
    ok(a.UserGrantRole, R.AuthUserGrantRoleRequest(user="wendy", role="watcher"), root)
    readable = P(key=b"/w/", range_end=b"/w0", permType=P.READ)
    ok(a.RoleGrantPermission, R.AuthRoleGrantPermissionRequest(name="watcher", perm=readable), root)
    wendy = secured.login("wendy", "w")
    hers = WatchStream(secured.backend.watch_stub, (("token", wendy),))
    theirs = WatchStream(secured.backend.watch_stub, (("token", alice),))
    try:
        hers.create(b"/w/", range_end=b"/w0")
        theirs.create(b"/t/", range_end=b"/t0")

        def as_root(call: Callable[..., Any], request: Any) -> None:
            """etcd checks a call's auth revision when it applies it: one resolved before
            a concurrent change fails "revision in header is old" (nothing applied), and
            is made again, as a client does."""
            while True:
                try:
                    ok(call, request, root)
                    return
                except grpc.RpcError as err:
                    if (err.code(), err.details()) != E.AUTH_OLD_REVISION:
                        raise

        def churn(i: int) -> None:  # other roles and rights come and go meanwhile
            role = f"churn-{i % 3}"
            with contextlib.suppress(grpc.RpcError):  # (added twice: "already exists")
                as_root(a.RoleAdd, R.AuthRoleAddRequest(name=role))
            perm = P(key=b"/churn/%d" % i, permType=P.READWRITE)
            as_root(a.RoleGrantPermission, R.AuthRoleGrantPermissionRequest(name=role, perm=perm))
            as_root(a.UserGrantRole, R.AuthUserGrantRoleRequest(user="wendy", role=role))
            as_root(kv.Put, R.PutRequest(key=b"/w/%d" % i))
            as_root(kv.Put, R.PutRequest(key=b"/t/%d" % i))

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(churn, range(12)))
        assert len(hers.events(12)) == len(theirs.events(12)) == 12
        revoke = R.AuthRoleRevokePermissionRequest(role="watcher", key=b"/w/", range_end=b"/w0")
        ok(a.RoleRevokePermission, revoke, root)
        ok(kv.Put, R.PutRequest(key=b"/w/after"), root)
        (event,) = hers.events(1)  # the live watch goes on
        assert event.kv.key == b"/w/after"
        hers.send(R.WatchRequest(create_request=R.WatchCreateRequest(key=b"/w/", range_end=b"/w0")))
        denied = hers.next()
        assert (denied.created, denied.canceled) == (True, True)
        assert denied.cancel_reason == E.WATCH_PERMISSION_DENIED
        ok(kv.Put, R.PutRequest(key=b"/t/after"), root)
        assert [e.kv.key for e in theirs.events(1)] == [b"/t/after"]
    finally:
        hers.close()
        theirs.close()
        ok(a.UserDelete, R.AuthUserDeleteRequest(name="wendy"), root)
        for role in ("watcher", "churn-0", "churn-1", "churn-2"):
            with contextlib.suppress(grpc.RpcError):
                ok(a.RoleDelete, R.AuthRoleDeleteRequest(role=role), root)


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("cn_auth", [True, False], ids=["client-cert-auth", "trusted-ca-only"])
def test_a_certificate_names_the_user_only_with_client_cert_auth(
    kind: str, cn_auth: bool, tmp_path: Path
) -> None:
    """A call without a token runs as its client certificate's CN when the member has
    --client-cert-auth; with --trusted-ca-file alone a certificate is still required,
    but names no one (etcd's AuthInfoFromCtx: ClientCertAuthEnabled)."""
    certs = make_certs(tmp_path / "certs", client_name="alice")
    proc = auth_member(kind, tmp_path / "data", certs=certs, cn_auth=cn_auth)
    assert isinstance(proc, ServesTls)
    proc.start()
    try:
        with grpc.secure_channel(proc.endpoint, proc.credentials()) as channel:
            a, kv = rpc_pb2_grpc.AuthStub(channel), rpc_pb2_grpc.KVStub(channel)
            add_users(a)
            a.AuthEnable(rpc_pb2.AuthEnableRequest(), timeout=RPC_TIMEOUT)
            put = rpc_pb2.PutRequest(key=b"/t/by-certificate")
            if cn_auth:
                ok(kv.Put, put, None)  # as alice, whose role may write /t/
                fails(_DENIED, kv.Put, rpc_pb2.PutRequest(key=b"/s"), None)
            else:
                fails(E.USER_EMPTY, kv.Put, put, None)
    finally:
        proc.remove()


def test_an_unused_token_expires(fresh: Member) -> None:
    """--auth-token-ttl 2: a token unused for 2 s is gone at the next once-a-second
    sweep; one used every half second lives on."""
    add_users(fresh.auth)
    ok(fresh.auth.AuthEnable, rpc_pb2.AuthEnableRequest(), None)
    idle, busy = fresh.login("alice", ALICE_PW), fresh.login("alice", ALICE_PW)
    kv = fresh.backend.kv
    deadline = time.monotonic() + AUTH_TOKEN_TTL + 1.5
    while time.monotonic() < deadline:  # the behaviour under test is time passing
        ok(kv.Range, rpc_pb2.RangeRequest(key=b"/t/a"), busy)
        time.sleep(0.5)
    fails(E.INVALID_AUTH_TOKEN, kv.Range, rpc_pb2.RangeRequest(key=b"/t/a"), idle)
    ok(kv.Range, rpc_pb2.RangeRequest(key=b"/t/a"), busy)


# ---- durability ----


def test_users_roles_and_the_enabled_flag_survive_a_restart(restartable: Restartable) -> None:
    """(A token from before the restart is not asserted either way: etcd 3.5.1 brings it
    back only when its log entry was not yet in its db when it stopped -- a kill soon
    after, not later -- while server_ref replays every entry after its last snapshot.)"""
    member = Member(restartable.endpoint)
    try:
        add_users(member.auth)
        ok(member.auth.AuthEnable, rpc_pb2.AuthEnableRequest(), None)
        before = member.status(member.login("root", ROOT_PW)).authRevision
    finally:
        member.backend.close()
    restartable.kill()
    restartable.revive()
    member = Member(restartable.endpoint)
    b = member.backend
    try:
        fails(E.USER_EMPTY, b.kv.Range, rpc_pb2.RangeRequest(key=b"/t/a"), None)  # still on
        root, alice = member.login("root", ROOT_PW), member.login("alice", ALICE_PW)
        status = member.status(root)
        assert (status.enabled, status.authRevision) == (True, before)
        ok(b.kv.Put, rpc_pb2.PutRequest(key=b"/t/a", value=b"v"), alice)
        fails(_DENIED, b.kv.Put, rpc_pb2.PutRequest(key=b"y"), alice)
        users = ok(member.auth.UserList, rpc_pb2.AuthUserListRequest(), root).users
        assert list(users) == ["alice", "np", "root"]
        perms = ok(member.auth.RoleGet, rpc_pb2.AuthRoleGetRequest(role="app"), root).perm
        assert [p.key for p in perms] == [b"/t/", b"k1", b"z"]
    finally:
        b.close()


def snapshot_to(member: Member, token: str, path: Path) -> None:
    m = member.backend.maintenance
    with open(path, "wb") as out:
        for chunk in m.Snapshot(rpc_pb2.SnapshotRequest(), metadata=as_user(token), timeout=60):
            out.write(chunk.blob)


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_restored_snapshot_keeps_users_who_log_in(kind: str, tmp_path: Path) -> None:
    """A snapshot of a member with auth on (real etcd's: its bcrypt hashes are Go's
    $2a$ ones), restored and served by server_ref: its users log in with their
    passwords and keep their permissions; auth stays on at the same revision."""
    path = tmp_path / "snapshot.db"
    for source in start(kind, tmp_path / "source"):
        add_users(source.auth)
        ok(source.auth.AuthEnable, rpc_pb2.AuthEnableRequest(), None)
        root = source.login("root", ROOT_PW)
        revision = source.status(root).authRevision
        snapshot_to(source, root, path)
    restored = tmp_path / "restored"
    done = restore_cli(str(path), "--data-dir", str(restored))
    assert done.returncode == 0, done.stderr
    for member in serve(RefProcess(restored)):
        root, alice = member.login("root", ROOT_PW), member.login("alice", ALICE_PW)
        status = member.status(root)
        assert (status.enabled, status.authRevision) == (True, revision)
        ok(member.backend.kv.Put, rpc_pb2.PutRequest(key=b"/t/a", value=b"v"), alice)
        fails(_DENIED, member.backend.kv.Put, rpc_pb2.PutRequest(key=b"y"), alice)
        wrong = rpc_pb2.AuthenticateRequest(name="alice", password="x")
        fails(E.AUTH_FAILED, member.auth.Authenticate, wrong, None)


def test_the_auth_buckets_are_etcds_byte_for_byte(tmp_path: Path) -> None:
    """The same auth changes on a fresh etcd and a fresh server_ref (with the etcd's
    member id) leave the same whole-db Hash: users and roles marshalled as etcd
    marshals them, the auth revision, and the authEnabled record (absent until auth
    is first enabled, 0 once disabled). Users have no password, and root, who needs one
    to disable auth, is deleted then: a bcrypt salt is random."""
    etcd = EtcdProcess(tmp_path / "etcd", extra_args=["--unsafe-no-fsync"])
    ref = RefProcess(tmp_path / "ref", peer_port=etcd.peer_port, extra_args=["--unsafe-no-fsync"])
    members = [member for process in (etcd, ref) for member in serve_open(process)]
    try:

        def same_hash() -> None:
            got = [ok(m.backend.maintenance.Hash, rpc_pb2.HashRequest(), None) for m in members]
            assert got[0].hash == got[1].hash
            assert got[0].header.revision == got[1].header.revision

        same_hash()
        no_password = auth_pb2.UserAddOptions(no_password=True)
        for m in members:
            a = m.auth
            a.UserAdd(rpc_pb2.AuthUserAddRequest(name="root", password="r"))
            a.UserGrantRole(rpc_pb2.AuthUserGrantRoleRequest(user="root", role="root"))
            a.RoleAdd(rpc_pb2.AuthRoleAddRequest(name="app"))
            for key, end in [(b"m", b""), (b"a", b"b"), (b"z", b"\0")]:
                perm = P(key=key, range_end=end, permType=P.READWRITE)
                a.RoleGrantPermission(rpc_pb2.AuthRoleGrantPermissionRequest(name="app", perm=perm))
            a.UserAdd(rpc_pb2.AuthUserAddRequest(name="bob", options=no_password))
            a.UserGrantRole(rpc_pb2.AuthUserGrantRoleRequest(user="bob", role="app"))
        for m in members:
            m.auth.UserDelete(rpc_pb2.AuthUserDeleteRequest(name="root"), timeout=RPC_TIMEOUT)
        same_hash()
        for m in members:
            m.auth.UserAdd(rpc_pb2.AuthUserAddRequest(name="root", password="r"))
            m.auth.UserGrantRole(rpc_pb2.AuthUserGrantRoleRequest(user="root", role="root"))
            m.auth.AuthEnable(rpc_pb2.AuthEnableRequest(), timeout=RPC_TIMEOUT)
            ok(m.auth.AuthDisable, rpc_pb2.AuthDisableRequest(), m.login("root", "r"))
            m.auth.UserDelete(rpc_pb2.AuthUserDeleteRequest(name="root"), timeout=RPC_TIMEOUT)
        same_hash()
    finally:
        for m in members:
            m.backend.close()
        etcd.remove()
        ref.remove()


def serve_open(process: EtcdProcess) -> list[Member]:
    """A started member the caller closes and removes."""
    process.start()
    return [Member(process.endpoint)]


# ---- JWT tokens ----


def claims_of(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    import base64
    import json

    header, payload, _ = token.split(".")

    def decoded(part: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return loaded

    return decoded(header), decoded(payload)


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("method", ["RS256", "ES256", "HS256"])
def test_jwt_tokens_name_their_auth_revision(kind: str, method: str, tmp_path: Path) -> None:
    """A JWT carries the user and the auth revision it was issued at: once the auth
    store changes, reads and writes with it fail ("revision in header is old", UNKNOWN,
    even after auth is disabled), admin calls do not; it expires after its ttl."""
    options = write_jwt_keys(tmp_path / "keys", method) + f",sign-method={method},ttl=3s"
    for member in serve(jwt_member(kind, tmp_path, options)):
        a, kv, R = member.auth, member.backend.kv, rpc_pb2
        ok(a.UserAdd, R.AuthUserAddRequest(name="root", password="r"), None)
        ok(a.UserGrantRole, R.AuthUserGrantRoleRequest(user="root", role="root"), None)
        ok(a.AuthEnable, R.AuthEnableRequest(), None)
        token = member.login("root", "r")
        header, claims = claims_of(token)
        assert header == {"alg": method, "typ": "JWT"}
        assert sorted(claims) == ["exp", "revision", "username"]
        assert (claims["username"], claims["revision"]) == ("root", 3)
        ok(kv.Range, R.RangeRequest(key=b"a"), token)
        ok(a.RoleAdd, R.AuthRoleAddRequest(name="x"), token)  # the store moves on
        fails(E.AUTH_OLD_REVISION, kv.Range, R.RangeRequest(key=b"a"), token)
        fails(E.AUTH_OLD_REVISION, kv.Put, R.PutRequest(key=b"a"), token)
        assert member.status(token).authRevision == 4  # admin calls check no revision
        fails(E.INVALID_AUTH_TOKEN, kv.Range, R.RangeRequest(key=b"a"), "a.b.c")
        fresh = member.login("root", "r")
        ok(a.UserChangePassword, R.AuthUserChangePasswordRequest(name="root", password="r"), fresh)
        token = member.login("root", "r")  # (a new password drops no JWT: it is old now)
        ok(a.AuthDisable, R.AuthDisableRequest(), token)
        fails(E.AUTH_OLD_REVISION, kv.Range, R.RangeRequest(key=b"a"), token)
        ok(a.AuthEnable, R.AuthEnableRequest(), None)
        token = member.login("root", "r")
        deadline = time.time() + 4.5
        while time.time() < deadline:  # the behaviour under test is the ttl running out
            time.sleep(0.25)
        fails(E.INVALID_AUTH_TOKEN, kv.Range, R.RangeRequest(key=b"a"), token)


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_jwt_member_with_a_public_key_only_issues_no_token(kind: str, tmp_path: Path) -> None:
    options = write_jwt_keys(tmp_path / "keys", "RS256").split(",")[0] + ",sign-method=RS256"
    for member in serve(jwt_member(kind, tmp_path, options)):
        a = member.auth
        ok(a.UserAdd, rpc_pb2.AuthUserAddRequest(name="root", password="r"), None)
        ok(a.UserGrantRole, rpc_pb2.AuthUserGrantRoleRequest(user="root", role="root"), None)
        ok(a.AuthEnable, rpc_pb2.AuthEnableRequest(), None)
        request = rpc_pb2.AuthenticateRequest(name="root", password="r")
        verify_only = ErrorSpec(
            grpc.StatusCode.UNKNOWN, "auth: token signing attempted with verify-only key"
        )
        fails(verify_only, a.Authenticate, request, None)
