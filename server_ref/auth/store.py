"""The auth store: users, roles, the enabled flag and the auth revision (etcd 3.5.1's
authStore), and the permission checks made with them.

The store changes only by applied proposals (the ``apply_*`` methods are called by the
applier, in log order), so replaying the log rebuilds it. The auth revision counts
changes: every successful change of a user or a role, and disabling auth, bump it;
enabling auth does not (all as in etcd). ``check_password`` is the one step that runs
before proposing (bcrypt is slow: etcd checks it outside its apply loop too).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from etcd3py import _etcd_errors as E
from etcd3py._proto import auth_pb2, rpc_pb2

from ..errors import ServerError
from .caller import AuthInfo, Credentials
from .go_sort import go_sort
from .passwords import hash_password
from .perms import MergedPermissions
from .tokens import TokenProvider

ROOT_USER = "root"
ROOT_ROLE = "root"


def _has_root_role(user: auth_pb2.User) -> bool:
    return ROOT_ROLE in user.roles


class AuthStore:
    def __init__(self, tokens: TokenProvider, bcrypt_cost: int) -> None:
        self.tokens = tokens
        self.bcrypt_cost = bcrypt_cost
        self.users: dict[str, auth_pb2.User] = {}
        self.roles: dict[str, auth_pb2.Role] = {}
        self.enabled = False
        self.flag_recorded = False  # etcd's db has an authEnabled record once enabled
        self.revision = 1  # a fresh etcd commits revision 1 when it creates its store
        self._perms: dict[str, MergedPermissions] = {}  # user -> merged permissions

    # ---- durable form (etcd's authUsers / authRoles buckets) ----

    def records(self) -> tuple[dict[bytes, bytes], dict[bytes, bytes]]:
        """(users, roles) as etcd's db holds them: name -> marshalled authpb message."""
        users = {name.encode(): u.SerializeToString() for name, u in self.users.items()}
        roles = {name.encode(): r.SerializeToString() for name, r in self.roles.items()}
        return users, roles

    def enabled_record(self) -> bool | None:
        """The db's authEnabled record: none until auth was first enabled."""
        return self.enabled if self.flag_recorded else None

    def load(
        self,
        enabled: bool | None,
        revision: int,
        users: dict[bytes, bytes],
        roles: dict[bytes, bytes],
    ) -> None:
        self.users = {k.decode(): auth_pb2.User.FromString(v) for k, v in users.items()}
        self.roles = {k.decode(): auth_pb2.Role.FromString(v) for k, v in roles.items()}
        self.revision = revision or 1  # etcd commits revision 1 into a db with none
        self._perms.clear()
        self.enabled = bool(enabled)
        self.flag_recorded = enabled is not None
        if enabled:
            self.tokens.enable()
        else:
            self.tokens.disable()

    # ---- who is calling ----

    def info_from(self, creds: Credentials, *, certificate_names: bool = True) -> AuthInfo | None:
        """The caller's AuthInfo: from a token (which must be valid), else from a client
        certificate's CN when ``certificate_names`` (etcd: only with --client-cert-auth,
        not with --trusted-ca-file alone), else None. A token is checked even while
        auth is disabled (no simple token is live then), as etcd does."""
        if creds.token is not None:
            info = self.tokens.info(creds.token, self.revision)
            if info is None:
                raise ServerError(E.INVALID_AUTH_TOKEN)
            return info
        if not self.enabled or not certificate_names:
            return None  # (auth off: a certificate's user would change nothing)
        name = creds.common_name()
        return None if name is None else AuthInfo(name, self.revision)

    def password_of(self, name: str) -> tuple[int, bytes]:
        """(the auth revision now, the password hash) of a user who may authenticate;
        the caller compares the password (bcrypt is slow: not on the event loop)."""
        if not self.enabled:
            raise ServerError(E.AUTH_NOT_ENABLED)
        user = self.users.get(name)
        if user is None:
            raise ServerError(E.AUTH_FAILED)
        if user.options.no_password:
            raise ServerError(E.NO_PASSWORD_USER)
        return self.revision, user.password

    def hashed(self, password: str) -> str:
        """A password as a proposal carries it: base64 of its bcrypt hash."""
        return base64.b64encode(hash_password(password, self.bcrypt_cost)).decode()

    # ---- permission checks ----

    def check_range(self, who: AuthInfo | None, key: bytes, range_end: bytes) -> None:
        self._check_op(who, key, range_end, write=False)

    def check_put(self, who: AuthInfo | None, key: bytes) -> None:
        self._check_op(who, key, b"", write=True)

    def check_delete(self, who: AuthInfo | None, key: bytes, range_end: bytes) -> None:
        self._check_op(who, key, range_end, write=True)

    def _check_op(self, who: AuthInfo | None, key: bytes, range_end: bytes, write: bool) -> None:
        if not self.enabled:
            return
        if who is None or who.revision == 0:
            raise ServerError(E.USER_EMPTY)
        if who.revision < self.revision:
            raise ServerError(E.AUTH_OLD_REVISION)
        user = self.users.get(who.username)
        if user is None:
            raise ServerError(E.PERMISSION_DENIED)
        if _has_root_role(user):
            return
        perms = self._perms.get(who.username)
        if perms is None:
            roles = (self.roles[r] for r in user.roles if r in self.roles)
            perms = self._perms[who.username] = MergedPermissions.of(roles)
        if not perms.allows(key, range_end, write):
            raise ServerError(E.PERMISSION_DENIED)

    def check_admin(self, who: AuthInfo | None) -> None:
        if not self.enabled:
            return
        if who is None or not who.username:
            raise ServerError(E.USER_EMPTY)
        user = self.users.get(who.username)
        if user is None:
            raise ServerError(E.USER_NOT_FOUND)
        if not _has_root_role(user):
            raise ServerError(E.PERMISSION_DENIED)

    def has_role(self, name: str, role: str) -> bool:
        user = self.users.get(name)
        return user is not None and role in user.roles

    # ---- applied requests ----

    def _bump(self) -> None:
        self.revision += 1

    def apply_enable(self) -> None:
        if self.enabled:
            return
        root = self.users.get(ROOT_USER)
        if root is None:
            raise ServerError(E.ROOT_USER_NOT_EXIST)
        if not _has_root_role(root):
            raise ServerError(E.ROOT_ROLE_NOT_EXIST)
        self.enabled = self.flag_recorded = True
        self.tokens.enable()
        self._perms.clear()

    def apply_disable(self) -> None:
        if not self.enabled:
            return
        self._bump()
        self.enabled = False
        self.tokens.disable()

    def apply_authenticate(self, name: str, prefix: str, index: int) -> str:
        """A token for ``name`` (whose password was checked before proposing)."""
        if not self.enabled:
            raise ServerError(E.AUTH_NOT_ENABLED)
        user = self.users.get(name)
        if user is None or user.options.no_password:
            raise ServerError(E.AUTH_FAILED)
        return self.tokens.assign(name, prefix, index, self.revision)

    def _password(self, password: str, hashed_password: str) -> bytes:
        if password and not hashed_password:  # an entry of etcd before 3.5
            return hash_password(password, self.bcrypt_cost)
        try:
            return base64.b64decode(hashed_password, validate=True)
        except binascii.Error:
            raise ServerError(E.NO_PASSWORD_USER) from None

    def apply_user_add(self, r: rpc_pb2.AuthUserAddRequest) -> None:
        if not r.name:
            raise ServerError(E.USER_EMPTY)
        if r.name in self.users:
            raise ServerError(E.USER_ALREADY_EXIST)
        user = auth_pb2.User(name=r.name.encode())
        user.options.SetInParent()  # etcd stores the options, given or not
        user.options.no_password = r.options.no_password
        if not r.options.no_password:
            user.password = self._password(r.password, r.hashedPassword)
        self.users[r.name] = user
        self._bump()

    def _user(self, name: str) -> auth_pb2.User:
        user = self.users.get(name)
        if user is None:
            raise ServerError(E.USER_NOT_FOUND)
        return user

    def _role(self, name: str) -> auth_pb2.Role:
        role = self.roles.get(name)
        if role is None:
            raise ServerError(E.ROLE_NOT_FOUND)
        return role

    def _user_changed(self, name: str) -> None:
        self._perms.pop(name, None)
        self._bump()

    def apply_user_delete(self, r: rpc_pb2.AuthUserDeleteRequest) -> None:
        if self.enabled and r.name == ROOT_USER:
            raise ServerError(E.INVALID_AUTH_MGMT)
        self._user(r.name)
        del self.users[r.name]
        self._user_changed(r.name)
        self.tokens.invalidate_user(r.name)

    def apply_user_change_password(self, r: rpc_pb2.AuthUserChangePasswordRequest) -> None:
        user = self._user(r.name)
        if user.options.no_password:
            user.ClearField("password")
        else:
            user.password = self._password(r.password, r.hashedPassword)
        self._user_changed(r.name)
        self.tokens.invalidate_user(r.name)

    def apply_user_grant_role(self, r: rpc_pb2.AuthUserGrantRoleRequest) -> None:
        user = self._user(r.user)
        if r.role != ROOT_ROLE:
            self._role(r.role)
        if r.role in user.roles:
            return  # granted already: nothing changes, not even the revision
        roles = sorted([*user.roles, r.role])
        del user.roles[:]
        user.roles.extend(roles)
        self._user_changed(r.user)

    def apply_user_revoke_role(self, r: rpc_pb2.AuthUserRevokeRoleRequest) -> None:
        if self.enabled and r.name == ROOT_USER and r.role == ROOT_ROLE:
            raise ServerError(E.INVALID_AUTH_MGMT)
        user = self._user(r.name)
        kept = [role for role in user.roles if role != r.role]
        if len(kept) == len(user.roles):
            raise ServerError(E.ROLE_NOT_GRANTED)
        del user.roles[:]
        user.roles.extend(kept)
        self._user_changed(r.name)

    def user_get(self, name: str) -> list[str]:
        return list(self._user(name).roles)

    def user_list(self) -> list[str]:
        return [n.decode() for n in sorted(n.encode() for n in self.users)]

    def role_list(self) -> list[str]:
        return [n.decode() for n in sorted(n.encode() for n in self.roles)]

    def role_get(self, name: str) -> list[auth_pb2.Permission]:
        return list(self._role(name).keyPermission)

    def apply_role_add(self, r: rpc_pb2.AuthRoleAddRequest) -> None:
        if not r.name:
            raise ServerError(E.ROLE_EMPTY)
        if r.name in self.roles:
            raise ServerError(E.ROLE_ALREADY_EXIST)
        self.roles[r.name] = auth_pb2.Role(name=r.name.encode())
        self._bump()

    def apply_role_delete(self, r: rpc_pb2.AuthRoleDeleteRequest) -> None:
        if self.enabled and r.role == ROOT_ROLE:
            raise ServerError(E.INVALID_AUTH_MGMT)
        self._role(r.role)
        del self.roles[r.role]
        for name, user in self.users.items():
            if r.role in user.roles:
                kept = [role for role in user.roles if role != r.role]
                del user.roles[:]
                user.roles.extend(kept)
                self._perms.pop(name, None)
        self._bump()

    def apply_role_grant_permission(self, r: rpc_pb2.AuthRoleGrantPermissionRequest) -> None:
        if not r.HasField("perm"):
            raise ServerError(E.PERMISSION_NOT_GIVEN)
        role = self._role(r.name)
        perms = role.keyPermission
        # etcd looks at the first permission whose key is >= the new one's only
        at = next((i for i, p in enumerate(perms) if p.key >= r.perm.key), len(perms))
        same = at < len(perms) and (perms[at].key, perms[at].range_end) == (
            r.perm.key,
            r.perm.range_end,
        )
        if same:
            perms[at].permType = r.perm.permType
        else:  # sorted by key with Go's (unstable) sort: equal keys end up as etcd's do
            grown = [*perms, r.perm]
            go_sort(grown, lambda a, b: a.key < b.key)
            _replace(perms, grown)
        self._perms.clear()
        self._bump()

    def apply_role_revoke_permission(self, r: rpc_pb2.AuthRoleRevokePermissionRequest) -> None:
        role = self._role(r.role)
        perms = role.keyPermission
        kept = [p for p in perms if p.key != r.key or p.range_end != r.range_end]
        if len(kept) == len(perms):
            raise ServerError(E.PERMISSION_NOT_GRANTED)
        _replace(perms, kept)
        self._perms.clear()
        self._bump()


def _replace(perms: Any, items: list[auth_pb2.Permission]) -> None:
    """Make the repeated field ``perms`` hold copies of ``items`` (some of them its own)."""
    copies = [
        auth_pb2.Permission(key=p.key, range_end=p.range_end, permType=p.permType) for p in items
    ]
    del perms[:]
    perms.extend(copies)
