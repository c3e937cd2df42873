"""``auth enable | disable | status``, ``user ...`` and ``role ...``: etcd's authentication.

The public client returns users, roles and permissions without etcd's response header;
the formats that print one get the header of a read made just after (the same cluster,
member, term and, unless another client wrote in between, revision). ``auth status``'s
auth revision is not returned by the public client: it prints as ``unknown``.
"""

from __future__ import annotations

import sys

import click

import etcd3py

from .app import Config, EtcdCommand, EtcdGroup, pass_config, root
from .errors import EXIT_BAD_ARGS, CliError
from .flags import BOOL, STRING, flag
from .kv import arg_bytes
from .maintenance import header_after
from .output.auth import AuthAck, AuthStatus, NameList, RoleInfo, UserInfo, prefix_range_end
from .output.stream import line, write


def bad_args(message: str) -> CliError:
    return CliError(EXIT_BAD_ARGS, message)


# ---- auth ----


@root.group(
    "auth", cls=EtcdGroup, use="auth <enable or disable>", help="Enable or disable authentication"
)
def auth_group(**_: object) -> None:
    """The group itself does nothing: named alone it prints its usage."""


@auth_group.command("enable", cls=EtcdCommand, use="enable", help="Enables authentication")
@click.argument("args", nargs=-1)
@pass_config
def enable_command(config: Config, args: tuple[str, ...]) -> None:
    if args:
        raise bad_args("auth enable command does not accept any arguments")
    with config.client() as client:
        while True:  # as etcdctl: give root the root role it lacks, then enable again
            try:
                client.auth_enable()
                break
            except etcd3py.RootRoleNotExistError:
                client.role_add("root")
                client.user_grant_role("root", "root")
    line("Authentication Enabled")


@auth_group.command("disable", cls=EtcdCommand, use="disable", help="Disables authentication")
@click.argument("args", nargs=-1)
@pass_config
def disable_command(config: Config, args: tuple[str, ...]) -> None:
    if args:
        raise bad_args("auth disable command does not accept any arguments")
    with config.client() as client:
        client.auth_disable()
    line("Authentication Disabled")


@auth_group.command("status", cls=EtcdCommand, use="status", help="Returns authentication status")
@click.argument("args", nargs=-1)
@pass_config
def status_command(config: Config, args: tuple[str, ...]) -> None:
    if args:
        raise bad_args("auth status command does not accept any arguments")
    with config.client() as client:
        enabled = client.auth_status()
        header = header_after(config, client)
    config.printer().auth_status(AuthStatus(enabled, None, header))


# ---- user ----


@root.group("user", cls=EtcdGroup, use="user <subcommand>", help="User related commands")
def user_group(**_: object) -> None:
    """The group itself does nothing: named alone it prints its usage."""


def ask(prompt: str) -> str:
    """speakeasy's prompt as etcdctl shows it without a terminal: the prompt on stdout, a
    line from stdin, then a newline."""
    write(prompt)
    answer = sys.stdin.readline()
    line()
    return answer.rstrip("\r\n")


def password_interactive(name: str) -> str:
    """etcdctl's two prompts, with its messages for an empty or a mistyped password."""
    first = ask(f"Password of {name}: ")
    if not first:
        raise bad_args("empty password")
    if ask(f"Type password of {name} again for confirmation: ") != first:
        raise bad_args("given passwords are different")
    return first


def scanned_word() -> str:
    """Go's ``fmt.Scanf("%s")`` on stdin: the first word of the first line."""
    words = sys.stdin.readline().split()
    return words[0] if words else ""


def acknowledge(config: Config, client: etcd3py.Client, text: str | bytes) -> None:
    config.printer().auth_ack(AuthAck(text, header_after(config, client)))


@user_group.command(
    "add", cls=EtcdCommand, use="add <user name or user:password> [options]", help="Adds a new user"
)
@click.argument("args", nargs=-1)
@flag(
    "--interactive",
    type=BOOL,
    default=True,
    usage="Read password from stdin instead of interactive terminal",
)
@flag(
    "--new-user-password",
    type=STRING,
    default="",
    usage="Supply password from the command line flag",
)
@flag(
    "--no-password",
    type=BOOL,
    default=False,
    usage="Create a user without password (CN based auth only)",
)
@pass_config
def user_add_command(
    config: Config,
    args: tuple[str, ...],
    interactive: bool,
    new_user_password: str,
    no_password: bool,
) -> None:
    if len(args) != 1:
        raise bad_args("user add command requires user name as its argument")
    user, password = args[0], ""
    if no_password:
        password_or_none: str | None = None
    else:
        if new_user_password:
            password = new_user_password
        elif ":" in args[0]:
            user, _, password = args[0].partition(":")
            if not user:
                raise bad_args("empty user name is not allowed")
        elif interactive:
            password = password_interactive(user)
        else:
            password = scanned_word()
        password_or_none = password
    with config.client() as client:
        client.user_add(user, password_or_none)
        acknowledge(config, client, f"User {user} created")


@user_group.command("delete", cls=EtcdCommand, use="delete <user name>", help="Deletes a user")
@click.argument("args", nargs=-1)
@pass_config
def user_delete_command(config: Config, args: tuple[str, ...]) -> None:
    if len(args) != 1:
        raise bad_args("user delete command requires user name as its argument")
    with config.client() as client:
        client.user_delete(args[0])
        acknowledge(config, client, f"User {args[0]} deleted")


@user_group.command(
    "get",
    cls=EtcdCommand,
    use="get <user name> [options]",
    help="Gets detailed information of a user",
)
@click.argument("args", nargs=-1)
@flag("--detail", type=BOOL, default=False, usage="Show permissions of roles granted to the user")
@pass_config
def user_get_command(config: Config, args: tuple[str, ...], detail: bool) -> None:
    if len(args) != 1:
        raise bad_args("user get command requires user name as its argument")
    name = args[0]
    printer = config.printer()
    with config.client() as client:
        roles = client.user_get(name)
        if not detail:
            printer.user_get(UserInfo(name, roles, header_after(config, client)))
            return
        line(f"User: {name}")
        for role in roles:
            line()
            perms = client.role_get(role)
            printer.role_get(RoleInfo(role, perms, header_after(config, client)))


@user_group.command("list", cls=EtcdCommand, use="list", help="Lists all users")
@click.argument("args", nargs=-1)
@pass_config
def user_list_command(config: Config, args: tuple[str, ...]) -> None:
    if args:
        raise bad_args("user list command requires no arguments")
    with config.client() as client:
        users = client.user_list()
        config.printer().name_list(NameList("users", users, header_after(config, client)))


@user_group.command(
    "passwd", cls=EtcdCommand, use="passwd <user name> [options]", help="Changes password of user"
)
@click.argument("args", nargs=-1)
@flag(
    "--interactive",
    type=BOOL,
    default=True,
    usage="If true, read password from stdin instead of interactive terminal",
)
@pass_config
def passwd_command(config: Config, args: tuple[str, ...], interactive: bool) -> None:
    if len(args) != 1:
        raise bad_args("user passwd command requires user name as its argument")
    password = password_interactive(args[0]) if interactive else scanned_word()
    with config.client() as client:
        client.user_change_password(args[0], password)
        acknowledge(config, client, "Password updated")


@user_group.command(
    "grant-role",
    cls=EtcdCommand,
    use="grant-role <user name> <role name>",
    help="Grants a role to a user",
)
@click.argument("args", nargs=-1)
@pass_config
def grant_role_command(config: Config, args: tuple[str, ...]) -> None:
    if len(args) != 2:
        raise bad_args("user grant command requires user name and role name as its argument")
    user, role = args
    with config.client() as client:
        client.user_grant_role(user, role)
        acknowledge(config, client, f"Role {role} is granted to user {user}")


@user_group.command(
    "revoke-role",
    cls=EtcdCommand,
    use="revoke-role <user name> <role name>",
    help="Revokes a role from a user",
)
@click.argument("args", nargs=-1)
@pass_config
def revoke_role_command(config: Config, args: tuple[str, ...]) -> None:
    if len(args) != 2:
        raise bad_args("user revoke-role requires user name and role name as its argument")
    user, role = args
    with config.client() as client:
        client.user_revoke_role(user, role)
        acknowledge(config, client, f"Role {role} is revoked from user {user}")


# ---- role ----


@root.group("role", cls=EtcdGroup, use="role <subcommand>", help="Role related commands")
def role_group(**_: object) -> None:
    """The group itself does nothing: named alone it prints its usage."""


@role_group.command("add", cls=EtcdCommand, use="add <role name>", help="Adds a new role")
@click.argument("args", nargs=-1)
@pass_config
def role_add_command(config: Config, args: tuple[str, ...]) -> None:
    if len(args) != 1:
        raise bad_args("role add command requires role name as its argument")
    with config.client() as client:
        client.role_add(args[0])
        acknowledge(config, client, f"Role {args[0]} created")


@role_group.command("delete", cls=EtcdCommand, use="delete <role name>", help="Deletes a role")
@click.argument("args", nargs=-1)
@pass_config
def role_delete_command(config: Config, args: tuple[str, ...]) -> None:
    if len(args) != 1:
        raise bad_args("role delete command requires role name as its argument")
    with config.client() as client:
        client.role_delete(args[0])
        acknowledge(config, client, f"Role {args[0]} deleted")


@role_group.command(
    "get", cls=EtcdCommand, use="get <role name>", help="Gets detailed information of a role"
)
@click.argument("args", nargs=-1)
@pass_config
def role_get_command(config: Config, args: tuple[str, ...]) -> None:
    if len(args) != 1:
        raise bad_args("role get command requires role name as its argument")
    with config.client() as client:
        perms = client.role_get(args[0])
        config.printer().role_get(RoleInfo(args[0], perms, header_after(config, client)))


@role_group.command("list", cls=EtcdCommand, use="list", help="Lists all roles")
@click.argument("args", nargs=-1)
@pass_config
def role_list_command(config: Config, args: tuple[str, ...]) -> None:
    if args:
        raise bad_args("role list command requires no arguments")
    with config.client() as client:
        roles = client.role_list()
        config.printer().name_list(NameList("roles", roles, header_after(config, client)))


PERMISSIONS = {"READ": etcd3py.Permission.READ, "WRITE": etcd3py.Permission.WRITE}
PERMISSIONS["READWRITE"] = etcd3py.Permission.READWRITE


def perm_range(args: tuple[str, ...], prefix: bool, from_key: bool) -> tuple[bytes, bytes]:
    """etcdctl's permRange: the key and range end the flags and arguments give."""
    key = arg_bytes(args[0])
    if not key:
        if prefix and from_key:
            raise bad_args("--from-key and --prefix flags are mutually exclusive")
        return b"\x00", b"\x00" if prefix or from_key else b""
    if len(args) == 1:
        if prefix:
            if from_key:
                raise bad_args("--from-key and --prefix flags are mutually exclusive")
            return key, prefix_range_end(key)
        return key, b"\x00" if from_key else b""
    if prefix:
        raise bad_args("unexpected endkey argument with --prefix flag")
    if from_key:
        raise bad_args("unexpected endkey argument with --from-key flag")
    return key, arg_bytes(args[1])


@role_group.command(
    "grant-permission",
    cls=EtcdCommand,
    use="grant-permission [options] <role name> <permission type> <key> [endkey]",
    help="Grants a key to a role",
)
@click.argument("args", nargs=-1)
@flag("--prefix", type=BOOL, default=False, usage="grant a prefix permission")
@flag(
    "--from-key",
    type=BOOL,
    default=False,
    usage="grant a permission of keys that are greater than or equal to the given key using"
    " byte compare",
)
@pass_config
def grant_permission_command(
    config: Config, args: tuple[str, ...], prefix: bool, from_key: bool
) -> None:
    if len(args) < 3:
        raise bad_args(
            "role grant command requires role name, permission type, and key [endkey] as its"
            " argument"
        )
    perm = PERMISSIONS.get(args[1].upper())
    if perm is None:
        raise bad_args(f"invalid permission type: {args[1]}")
    key, range_end = perm_range(args[2:], prefix, from_key)
    with config.client() as client:
        # the range as etcdctl sends it: an empty end is a single key
        client.role_grant_permission(args[0], key, range_end=range_end or None, perm=perm)
        acknowledge(config, client, f"Role {args[0]} updated")


@role_group.command(
    "revoke-permission",
    cls=EtcdCommand,
    use="revoke-permission <role name> <key> [endkey]",
    help="Revokes a key from a role",
)
@click.argument("args", nargs=-1)
@flag("--prefix", type=BOOL, default=False, usage="revoke a prefix permission")
@flag(
    "--from-key",
    type=BOOL,
    default=False,
    usage="revoke a permission of keys that are greater than or equal to the given key using"
    " byte compare",
)
@pass_config
def revoke_permission_command(
    config: Config, args: tuple[str, ...], prefix: bool, from_key: bool
) -> None:
    if len(args) < 2:
        raise bad_args(
            "role revoke-permission command requires role name and key [endkey] as its argument"
        )
    key, range_end = perm_range(args[1:], prefix, from_key)
    with config.client() as client:
        client.role_revoke_permission(args[0], key, range_end=range_end or None)
        if not range_end:
            text = b"Permission of key " + arg_bytes(args[1])
        elif range_end != b"\x00":
            text = b"Permission of range [" + arg_bytes(args[1]) + b", " + range_end + b")"
        else:
            text = b"Permission of range [" + arg_bytes(args[1]) + b", <open ended>"
        text += f" is revoked from role {args[0]}".encode()
        acknowledge(config, client, text)
