"""Differential test of permissions: random roles, users and requests on server_ref and
on etcd must be allowed and refused alike, with the same status code and message.

Both servers run with auth enabled (``auth_member``, bcrypt at cost 4), started for this
module only: auth state is server-wide. Each example makes its own roles and users (names
unique to the example) whose permissions name keys under the example's prefix -- single
keys, ranges (inverted ones too), prefixes, from-key ranges, the whole key space, the
empty key, "\\0" and "\\xff" bytes -- and sends requests as those users (or with no
token, or a made-up one): ranges, puts, deletes, transactions with compares and nested
transactions, watch creations, account reads; root changes grants between them. Every
answer, the administrator's included, is compared after normalising revisions (relative
to the example's start) and tokens. The example's users, roles and all keys are deleted
at its end.

ETCD3PY_AUTH_BACKENDS=etcd,etcd compares two real etcds: a check of the test itself.
Hypothesis' statistics (--hypothesis-show-statistics) count the answers of each kind."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from etcd3py._proto import auth_pb2, rpc_pb2, rpc_pb2_grpc
from tests.support.auth_backends import AUTH_BACKENDS, BCRYPT_COST
from tests.support.auth_servers import auth_member
from tests.support.backends import CHANNEL_OPTIONS, RPC_TIMEOUT, WatchStream, prefix_end
from tests.support.normalise import normalised
from tests.support.servers import EtcdProcess

Outcome = tuple[Any, ...]
Span = tuple[str, bytes, bytes]  # (kind, key suffix, other suffix)

ROOT_PASSWORD = "root-pw"
# etcd's default: a user's token, kept for the whole module, never expires under it
TOKEN_TTL = 300
PASSWORD = "pw"
# byte strings the keys end with, after the example's prefix
SUFFIXES = [b"", b"\0", b"a", b"a\0", b"ab", b"abc", b"b", b"b/", b"\xff", b"\xff\xff", b"a\xff"]
PERM = auth_pb2.Permission
C = rpc_pb2.Compare

suffix = st.sampled_from(SUFFIXES)
# single key, [key, other), the key's prefix, from the key on, and whole key space spans;
# "everything" and "empty" (the empty key itself) ignore the prefix
SPAN_KINDS = ["key"] * 3 + ["range"] * 3 + ["prefix"] * 2 + ["from"] * 2 + ["everything", "empty"]
span: st.SearchStrategy[Span] = st.tuples(
    st.sampled_from(SPAN_KINDS),
    suffix,
    suffix,
)
perm_type = st.sampled_from([PERM.READ, PERM.WRITE, PERM.READWRITE])


@st.composite
def roles(draw: Any) -> list[list[tuple[Span, int]]]:
    """Roles, each a list of (span, permission type) grants."""
    grant = st.tuples(span, perm_type)
    return draw(st.lists(st.lists(grant, max_size=4), min_size=1, max_size=3))


@st.composite
def users(draw: Any, role_count: int) -> list[list[str]]:
    """Users, each a list of role names: "r<i>" of this example's, or "root"."""
    names = [f"r{i}" for i in range(role_count)] + ["root"]
    weights = st.sampled_from(names[:-1] * 4 + names[-1:])
    return draw(st.lists(st.lists(weights, max_size=3, unique=True), min_size=1, max_size=3))


Op = tuple[str, dict[str, Any]]


def requests(spans: st.SearchStrategy[Span]) -> st.SearchStrategy[Op]:
    """Requests on ``spans``: range, put (at the span's key), delete, txn, watch."""
    leaf = st.one_of(
        st.tuples(st.just("range"), st.fixed_dictionaries({"span": spans})),
        st.tuples(st.just("put"), st.fixed_dictionaries({"span": spans, "prev_kv": st.booleans()})),
        st.tuples(
            st.just("delete"), st.fixed_dictionaries({"span": spans, "prev_kv": st.booleans()})
        ),
    )
    compare = st.fixed_dictionaries(
        {
            "span": spans,
            "target": st.sampled_from(["version", "value"]),
            "result": st.sampled_from([C.EQUAL, C.GREATER, C.LESS, C.NOT_EQUAL]),
        }
    )

    def txn(inner: st.SearchStrategy[Op]) -> st.SearchStrategy[Op]:
        branch = st.lists(inner, max_size=3)
        return st.tuples(
            st.just("txn"),
            st.fixed_dictionaries(
                {"compare": st.lists(compare, max_size=2), "success": branch, "failure": branch}
            ),
        )

    watch = st.tuples(st.just("watch"), st.fixed_dictionaries({"span": spans}))
    return st.one_of(leaf, leaf, txn(st.one_of(leaf, txn(leaf))), watch)


def auth_requests(
    role_count: int, user_count: int, spans: st.SearchStrategy[Span]
) -> st.SearchStrategy[Op]:
    """Auth calls: a user reading accounts (its own or others'), and root changing grants
    between requests ("admin_" calls), which count from the next request on."""
    role = st.sampled_from([f"r{i}" for i in range(role_count)] * 4 + ["nosuchrole"])
    any_role = st.one_of(role, st.just("root"))
    user = st.sampled_from([f"u{i}" for i in range(user_count)] + ["root", "nosuchuser"])

    def call(kind: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Op]:
        return st.tuples(st.just(kind), st.fixed_dictionaries(fields))

    return st.one_of(
        call("user_get", name=user),
        call("role_get", role=any_role),
        call("user_list"),
        call("role_list"),
        call("auth_status"),
        call("admin_grant", role=role, span=spans, perm=perm_type),
        call("admin_grant", role=role, span=spans, perm=perm_type),
        call("admin_revoke", role=role, span=spans),
        call("admin_revoke", role=role, span=spans),
        call("admin_revoke_role", user=user, role=role),
    )


@dataclass
class Server:
    """One server with auth enabled, reached with the generated stubs, as root or a user."""

    kind: str
    proc: EtcdProcess
    channel: grpc.Channel = field(init=False)
    root: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        self.channel = grpc.insecure_channel(self.proc.endpoint, options=CHANNEL_OPTIONS)
        self.kv = rpc_pb2_grpc.KVStub(self.channel)
        self.watch = rpc_pb2_grpc.WatchStub(self.channel)
        self.auth = rpc_pb2_grpc.AuthStub(self.channel)

    def call(
        self, method: Any, req: Message, metadata: tuple[tuple[str, str], ...] = ()
    ) -> tuple[Outcome, Any]:
        """The normalisable outcome of one unary call, and the response (None on error)."""
        try:
            resp = method(req, timeout=RPC_TIMEOUT, metadata=metadata or None)
        except grpc.RpcError as err:
            return ("error", err.code().name, err.details()), None
        return ("ok", json_format.MessageToDict(resp, preserving_proto_field_name=True)), resp

    def login(self, name: str, password: str) -> tuple[Outcome, tuple[tuple[str, str], ...]]:
        outcome, resp = self.call(
            self.auth.Authenticate, rpc_pb2.AuthenticateRequest(name=name, password=password)
        )
        if resp is None:
            return outcome, ()
        return ("ok", "<token>"), (("token", resp.token),)

    def close(self) -> None:
        self.channel.close()


def enable_auth(server: Server) -> None:
    """A root user with the root role, auth enabled, and root's token kept."""
    auth = server.auth
    auth.UserAdd(rpc_pb2.AuthUserAddRequest(name="root", password=ROOT_PASSWORD), timeout=10)
    auth.UserGrantRole(rpc_pb2.AuthUserGrantRoleRequest(user="root", role="root"), timeout=10)
    auth.AuthEnable(rpc_pb2.AuthEnableRequest(), timeout=10)
    outcome, server.root = server.login("root", ROOT_PASSWORD)
    assert outcome == ("ok", "<token>"), outcome


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    root: Path = tmp_path_factory.mktemp("auth-diff")
    started: list[Server] = []
    try:
        for i, kind in enumerate(AUTH_BACKENDS):  # "etcd,etcd" checks the test itself
            proc = auth_member(kind, root / f"{i}-{kind}", TOKEN_TTL, bcrypt_cost=BCRYPT_COST)
            try:
                proc.start()
            except BaseException:
                proc.remove()
                raise
            started.append(Server(kind, proc))
            enable_auth(started[-1])
        yield started
    finally:
        for server in started:
            server.close()
            server.proc.remove()


class Example:
    """Turns one example's abstract roles, users and requests into calls on one server."""

    def __init__(self, server: Server, tag: str, prefix: bytes) -> None:
        self.server = server
        self.tag = tag
        self.prefix = prefix
        self.base = 0
        self.tokens: dict[int, tuple[tuple[str, str], ...]] = {
            -1: (),  # no token at all
            -2: (("token", "notatoken.1"),),  # a token the server never gave
        }

    def name(self, role_or_user: str) -> str:
        return role_or_user if role_or_user == "root" else f"{role_or_user}-{self.tag}"

    def key_range(self, s: Span) -> tuple[bytes, bytes]:
        kind, key, other = s
        full = self.prefix + key
        if kind == "key":
            return full, b""
        if kind == "range":
            return full, self.prefix + other
        if kind == "prefix":
            return full, prefix_end(full)
        if kind == "from":
            return full, b"\0"
        if kind == "everything":
            return b"\0", b"\0"
        return b"", b""

    def admin(self, method: Any, req: Message) -> Outcome:
        return self.normalise(self.server.call(method, req, self.server.root)[0])

    def setup(
        self, role_grants: list[list[tuple[Span, int]]], user_roles: list[list[str]]
    ) -> list[Outcome]:
        """Make the roles and users (as root); log the users in. Every answer, in order."""
        auth = self.server.auth
        marker = self.server.call(
            self.server.kv.Put,
            rpc_pb2.PutRequest(key=b"/auth-diff-marker/" + self.prefix),
            self.server.root,
        )[1]
        self.base = marker.header.revision
        out = []
        for i, grants in enumerate(role_grants):
            role = self.name(f"r{i}")
            out.append(self.admin(auth.RoleAdd, rpc_pb2.AuthRoleAddRequest(name=role)))
            for s, perm in grants:
                key, end = self.key_range(s)
                req = rpc_pb2.AuthRoleGrantPermissionRequest(
                    name=role, perm=PERM(permType=perm, key=key, range_end=end)
                )
                out.append(self.admin(auth.RoleGrantPermission, req))
        for i, granted in enumerate(user_roles):
            user = self.name(f"u{i}")
            add = rpc_pb2.AuthUserAddRequest(name=user, password=PASSWORD)
            out.append(self.admin(auth.UserAdd, add))
            for role in granted:
                req = rpc_pb2.AuthUserGrantRoleRequest(user=user, role=self.name(role))
                out.append(self.admin(auth.UserGrantRole, req))
            outcome, self.tokens[i] = self.server.login(user, PASSWORD)
            out.append(outcome)
        return out

    def teardown(self, role_count: int, user_count: int) -> list[Outcome]:
        """Delete the example's users, roles and every key: the next example (or a
        shrunk replay of a failing one) starts from the same state on both servers."""
        auth = self.server.auth
        wipe = rpc_pb2.DeleteRangeRequest(key=b"\0", range_end=b"\0")
        out = [self.admin(self.server.kv.DeleteRange, wipe)]
        out += [
            self.admin(auth.UserDelete, rpc_pb2.AuthUserDeleteRequest(name=self.name(f"u{i}")))
            for i in range(user_count)
        ]
        out += [
            self.admin(auth.RoleDelete, rpc_pb2.AuthRoleDeleteRequest(role=self.name(f"r{i}")))
            for i in range(role_count)
        ]
        return out

    def request_op(self, op: Op) -> rpc_pb2.RequestOp:
        kind, a = op
        if kind == "range":
            key, end = self.key_range(a["span"])
            return rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=key, range_end=end))
        if kind == "put":
            key = self.key_range(a["span"])[0]
            put = rpc_pb2.PutRequest(key=key, value=b"v", prev_kv=a["prev_kv"])
            return rpc_pb2.RequestOp(request_put=put)
        if kind == "delete":
            key, end = self.key_range(a["span"])
            delete = rpc_pb2.DeleteRangeRequest(key=key, range_end=end, prev_kv=a["prev_kv"])
            return rpc_pb2.RequestOp(request_delete_range=delete)
        return rpc_pb2.RequestOp(request_txn=self.txn(a))

    def txn(self, a: dict[str, Any]) -> rpc_pb2.TxnRequest:
        compares = []
        for c in a["compare"]:
            key, end = self.key_range(c["span"])
            by_version = c["target"] == "version"
            operand: dict[str, Any] = {"version": 1} if by_version else {"value": b"v"}
            target = C.VERSION if by_version else C.VALUE
            compares.append(C(key=key, range_end=end, target=target, result=c["result"], **operand))
        return rpc_pb2.TxnRequest(
            compare=compares,
            success=[self.request_op(o) for o in a["success"]],
            failure=[self.request_op(o) for o in a["failure"]],
        )

    def send(self, user: int, op: Op) -> Outcome:
        kind, a = op
        token = self.server.root if kind.startswith("admin_") else self.tokens[user]
        if kind in AUTH_CALLS:
            method, req = AUTH_CALLS[kind](self, a)
            outcome = self.server.call(getattr(self.server.auth, method), req, token)[0]
            return self.normalise(outcome)
        if kind == "watch":
            return self.watch(token, a["span"])
        kv = self.server.kv
        req = self.request_op(op)
        if kind == "range":
            outcome = self.server.call(kv.Range, req.request_range, token)[0]
        elif kind == "put":
            outcome = self.server.call(kv.Put, req.request_put, token)[0]
        elif kind == "delete":
            outcome = self.server.call(kv.DeleteRange, req.request_delete_range, token)[0]
        else:
            outcome = self.server.call(kv.Txn, req.request_txn, token)[0]
        return self.normalise(outcome)

    def watch(self, token: tuple[tuple[str, str], ...], s: Span) -> Outcome:
        """The first answer to a watch creation: created, or created and cancelled."""
        key, end = self.key_range(s)
        stream = WatchStream(self.server.watch, token)
        try:
            create = rpc_pb2.WatchCreateRequest(key=key, range_end=end)
            stream.send(rpc_pb2.WatchRequest(create_request=create))
            try:
                resp = stream.next()
            except grpc.RpcError as err:
                return ("watch error", err.code().name, err.details())
            data = json_format.MessageToDict(resp, preserving_proto_field_name=True)
            return self.normalise(("watch", data))
        finally:
            stream.close()

    def normalise(self, data: Any) -> Any:
        """Revisions relative to the example's start; no member ids; keys, values and
        range ends as bytes (readable in a failure's report)."""
        return normalised(data, self.base, ("key", "value", "range_end"))


def _grant(e: Example, a: dict[str, Any]) -> tuple[str, Message]:
    key, end = e.key_range(a["span"])
    perm = PERM(permType=a["perm"], key=key, range_end=end)
    return "RoleGrantPermission", rpc_pb2.AuthRoleGrantPermissionRequest(
        name=e.name(a["role"]), perm=perm
    )


def _revoke(e: Example, a: dict[str, Any]) -> tuple[str, Message]:
    key, end = e.key_range(a["span"])
    return "RoleRevokePermission", rpc_pb2.AuthRoleRevokePermissionRequest(
        role=e.name(a["role"]), key=key, range_end=end
    )


# an auth request kind -> (Auth method, its request) for an example
AUTH_CALLS: dict[str, Callable[[Example, dict[str, Any]], tuple[str, Message]]] = {
    "user_get": lambda e, a: ("UserGet", rpc_pb2.AuthUserGetRequest(name=e.name(a["name"]))),
    "role_get": lambda e, a: ("RoleGet", rpc_pb2.AuthRoleGetRequest(role=e.name(a["role"]))),
    "user_list": lambda e, a: ("UserList", rpc_pb2.AuthUserListRequest()),
    "role_list": lambda e, a: ("RoleList", rpc_pb2.AuthRoleListRequest()),
    "auth_status": lambda e, a: ("AuthStatus", rpc_pb2.AuthStatusRequest()),
    "admin_grant": _grant,
    "admin_revoke": _revoke,
    "admin_revoke_role": lambda e, a: (
        "UserRevokeRole",
        rpc_pb2.AuthUserRevokeRoleRequest(name=e.name(a["user"]), role=e.name(a["role"])),
    ),
}


def describe(outcome: Outcome) -> str:
    """The kind of an outcome, for Hypothesis' statistics (--hypothesis-show-statistics)."""
    if outcome[0] == "watch":
        return "watch " + outcome[1].get("cancel_reason", "created")
    if outcome[0] == "ok":
        return "ok"
    return f"{outcome[1]} {outcome[2]}"


@settings(
    max_examples=150,
    derandomize=True,  # the same examples every run: CI stays reproducible
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_same_permissions_as_etcd(servers: list[Server], data: st.DataObject) -> None:
    role_grants = data.draw(roles(), label="roles")
    user_roles = data.draw(users(len(role_grants)), label="users")
    # mostly the spans granted (so that many requests are allowed), and any others
    granted = [s for grants in role_grants for s, _ in grants]
    spans = st.one_of(st.sampled_from(granted), st.sampled_from(granted), span) if granted else span
    # mostly this example's users; also no token at all (-1) and a made-up one (-2)
    who = st.sampled_from([*range(len(user_roles))] * 4 + [-1, -2])
    asked = st.one_of(
        requests(spans), requests(spans), auth_requests(len(role_grants), len(user_roles), spans)
    )
    sent = data.draw(st.lists(st.tuples(who, asked), min_size=1, max_size=12), "sent")
    tag = uuid.uuid4().hex[:8]
    examples = [Example(s, tag, f"/auth-diff/{tag}/".encode()) for s in servers]
    first, *others = examples
    try:
        expected = first.setup(role_grants, user_roles)
        for other in others:
            actual = other.setup(role_grants, user_roles)
            assert actual == expected, (
                f"setting up ({other.server.kind}, left, vs {first.server.kind}, right)"
            )
        for i, (user, op) in enumerate(sent):
            expected_outcome = first.send(user, op)
            event(f"{op[0]}: {describe(expected_outcome)}")
            for other in others:
                assert other.send(user, op) == expected_outcome, (
                    f"request {i} by user {user} ({other.server.kind}, left, vs "
                    f"{first.server.kind}, right): {op}"
                )
    finally:
        teardowns = [e.teardown(len(role_grants), len(user_roles)) for e in examples]
    assert all(t == teardowns[0] for t in teardowns), teardowns
