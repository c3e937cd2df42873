"""The root command: etcdctl's global flags (and their ETCDCTL_* variables), the client and
printer built from them, and ``main``, which turns every failure into etcdctl's
``Error: ...`` line and exit code.

A command module defines its commands with ``@root.command(cls=EtcdCommand)`` (or a group
with ``cls=EtcdGroup``), takes ``config: Config`` with ``@pass_config``, opens
``config.client()`` and prints with ``config.printer()``.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import click
from click.core import ParameterSource

import etcd3py

from . import usage
from .errors import EXIT_BAD_ARGS, EXIT_ERROR, CliError, error_text, exit_code
from .flags import BOOL, DURATION, STRING, STRING_SLICE, Flag, expand_bool_flags
from .output import Printer, make_printer

CLI_NAME = "etcdctl"  # the name cobra puts in its messages; ours match them byte for byte
COMPLETE_VAR = "_ETCD3PY_COMPLETE"  # eval "$(_ETCD3PY_COMPLETE=bash_source etcd3py)"


def global_flags() -> list[Flag]:
    """etcdctl's persistent flags, fresh for each command (they are accepted after the command
    name too); each reads ETCDCTL_<NAME> from the environment when not given."""

    def f(decls: Sequence[str], kind: Any, default: Any, usage_text: str) -> Flag:
        env = "ETCDCTL_" + decls[-1].lstrip("-").upper().replace("-", "_")
        return Flag(decls, type=kind, default=default, usage=usage_text, env_name=env)

    return [
        f(
            ["--cacert"],
            STRING,
            "",
            "verify certificates of TLS-enabled secure servers using this CA bundle",
        ),
        f(["--cert"], STRING, "", "identify secure client using this TLS certificate file"),
        f(
            ["--command-timeout"],
            DURATION,
            5.0,
            "timeout for short running command (excluding dial timeout)",
        ),
        f(["--debug"], BOOL, False, "enable client-side debug logging"),
        f(["--dial-timeout"], DURATION, 2.0, "dial timeout for client connections"),
        f(
            ["-d", "--discovery-srv"],
            STRING,
            "",
            "domain name to query for SRV records describing cluster endpoints",
        ),
        f(["--discovery-srv-name"], STRING, "", "service name to query when using DNS discovery"),
        f(["--endpoints"], STRING_SLICE, ["127.0.0.1:2379"], "gRPC endpoints"),
        f(["--hex"], BOOL, False, "print byte strings as hex encoded strings"),
        f(
            ["--insecure-discovery"],
            BOOL,
            True,
            "accept insecure SRV records describing cluster endpoints",
        ),
        f(
            ["--insecure-skip-tls-verify"],
            BOOL,
            False,
            "skip server certificate verification (CAUTION: this option should be enabled only"
            " for testing purposes)",
        ),
        f(
            ["--insecure-transport"],
            BOOL,
            True,
            "disable transport security for client connections",
        ),
        f(["--keepalive-time"], DURATION, 2.0, "keepalive time for client connections"),
        f(["--keepalive-timeout"], DURATION, 6.0, "keepalive timeout for client connections"),
        f(["--key"], STRING, "", "identify secure client using this TLS key file"),
        f(
            ["--password"],
            STRING,
            "",
            "password for authentication (if this option is used, --user option shouldn't"
            " include password)",
        ),
        f(
            ["--user"],
            STRING,
            "",
            "username[:password] for authentication (prompt if password is not supplied)",
        ),
        f(
            ["-w", "--write-out"],
            STRING,
            "simple",
            "set the output format (fields, json, protobuf, simple, table)",
        ),
    ]


GLOBAL_NAMES = frozenset(flag.name for flag in global_flags() if flag.name)
# read elsewhere: etcdctl's main drops ETCDCTL_API, watch reads the other two itself
IGNORED_VARIABLES = ("ETCDCTL_API", "ETCDCTL_WATCH_KEY", "ETCDCTL_WATCH_RANGE_END")
SHADOWED = (
    "conflicting environment variable is shadowed by corresponding command-line flag"
    " (either unset environment variable or disable flag))"
)


# whether the command's client was given --user: a failure to reach the server is then
# etcdctl's failed login (exit 2). One command runs per process (or per test-runner call).
LOGIN = {"given": False}


def log_line(level: str, message: str, variable: str) -> None:
    """A line in the form of etcdctl's JSON log (without its time and caller)."""
    entry = {"level": level, "msg": message, "environment-variable": variable}
    click.echo(json.dumps(entry, separators=(",", ":")), err=True)


@dataclass
class Config:
    """The global flags' values, wherever on the command line they were given."""

    values: dict[str, Any]
    changed: frozenset[str]  # given on the command line or in the environment
    sources: dict[str, str]  # flag name -> "command line" or "environment"

    @classmethod
    def from_context(cls, ctx: click.Context) -> Config:
        values: dict[str, Any] = {}
        changed: set[str] = set()
        sources: dict[str, str] = {}
        chain = []
        node: click.Context | None = ctx
        while node is not None:
            chain.append(node)
            node = node.parent
        flags = {p.name: p for p in ctx.command.params if isinstance(p, Flag)}
        for name in GLOBAL_NAMES:
            values[name] = ctx.params.get(name)
            for node in chain:  # the innermost command line wins, then the environment
                if node.get_parameter_source(name) == ParameterSource.COMMANDLINE:
                    values[name] = node.params[name]
                    changed.add(name)
                    sources[name] = "command line"
                    break
            else:
                from_env = flags[name].from_environment()
                if from_env is not None:
                    values[name] = from_env
                    changed.add(name)
                    sources[name] = "environment"
        return cls(values, frozenset(changed), sources)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @functools.cached_property
    def display(self) -> Printer:
        return make_printer(self["write_out"], self["hex"])

    def printer(self) -> Printer:
        """The printer for ``-w``/``--hex`` (one per command: ``value_only`` is set on it)."""
        return self.display

    def endpoints(self) -> list[str]:
        return [e.strip() for e in self["endpoints"]]

    def credentials(
        self, user: str | None = None, password: str | None = None, prompt: str = "Password: "
    ) -> tuple[str | None, str | None]:
        """``--user name:password``, ``--user name --password p``, or a prompt as etcdctl
        (``user``/``password`` given: another pair of flags, e.g. make-mirror's --dest-*)."""
        if user is None:
            user, password = self["user"], self["password"]
        if not user:
            return None, None
        if password:
            return user, password
        if ":" in user:
            name, _, secret = user.partition(":")
            return name, secret
        return user, getpass.getpass(prompt)

    def check_tls_files(self) -> None:
        for name in ("cert", "key", "cacert"):
            if name in self.changed and self[name] == "":
                raise CliError(EXIT_BAD_ARGS, f"empty string is passed to --{name} option")

    def check_environment(self) -> None:
        """etcdctl's checks of ETCDCTL_* variables, with its log lines: a variable that a
        command-line flag shadows is fatal (exit 1); an unknown one is warned about."""
        known = {f"ETCDCTL_{name.upper()}" for name in GLOBAL_NAMES} | set(IGNORED_VARIABLES)
        for variable, value in os.environ.items():
            if not variable.startswith("ETCDCTL_"):
                continue
            flag_name = variable[len("ETCDCTL_") :].lower()
            if flag_name in GLOBAL_NAMES and self.sources.get(flag_name) == "command line":
                log_line("fatal", SHADOWED, variable)
                raise click.exceptions.Exit(EXIT_ERROR)
            if variable not in known:
                log_line("warn", "unrecognized environment variable", f"{variable}={value}")

    def client(self) -> etcd3py.Client:
        """A client as etcdctl builds one from the flags (close it: ``with config.client()``)."""
        self.check_environment()
        self.check_tls_files()
        self.printer()  # an unknown -w fails before connecting, as in etcdctl
        username, password = self.credentials()
        LOGIN["given"] = username is not None
        return etcd3py.Client(
            self.endpoints(),
            timeout=self["command_timeout"],
            username=username,
            password=password,
            ca_cert=self["cacert"] or None,
            cert_cert=self["cert"] or None,
            cert_key=self["key"] or None,
            keepalive_time=self["keepalive_time"] or None,
            keepalive_timeout=self["keepalive_timeout"] or None,
        )


F = TypeVar("F", bound=Callable[..., Any])


def pass_config(func: F) -> F:
    """Give the command its ``Config`` as first argument (global flags are not passed on)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        for name in (*GLOBAL_NAMES, "help"):
            kwargs.pop(name, None)
        return func(Config.from_context(ctx), *args, **kwargs)

    return cast(F, wrapper)


def parse_with_pflag_grammar(
    parse: Callable[[click.Context, list[str]], list[str]],
    ctx: click.Context,
    args: list[str],
    params: Sequence[click.Parameter],
) -> list[str]:
    """Parse with bare boolean flags made explicit; a mistake keeps its command (for usage)."""
    try:
        return parse(ctx, expand_bool_flags(args, params))
    except click.UsageError as error:
        if error.ctx is None:
            error.ctx = ctx
        raise


class EtcdCommand(click.Command):
    """A command with etcdctl's global flags and pflag's grammar (``--flag=false``)."""

    def __init__(self, *args: Any, use: str = "", long: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", {}).setdefault("help_option_names", [])
        super().__init__(*args, **kwargs)
        self.use = use  # cobra's Use: the usage line after the command path
        self.long = long  # cobra's Long: the DESCRIPTION section of the usage
        self.params.extend(global_flags())
        self.params.append(usage.help_flag())

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return parse_with_pflag_grammar(super().parse_args, ctx, args, self.params)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, EOFError) as stop:  # click would print a newline for these
            raise usage.Interrupted() from stop


def _usage_unless_sub_command() -> None:
    """A group named alone prints its usage, as cobra does."""
    ctx = click.get_current_context()
    if ctx.invoked_subcommand is None:
        usage.print_usage(ctx)


class EtcdGroup(click.Group):
    """A command group (the root, ``lease``, ...): its sub-commands are EtcdCommands."""

    command_class = EtcdCommand

    def __init__(self, *args: Any, use: str = "", long: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", {}).setdefault("help_option_names", [])
        kwargs.setdefault("invoke_without_command", True)
        own = kwargs.pop("callback", None)

        def callback(**params: Any) -> Any:
            _usage_unless_sub_command()
            return own(**params) if own is not None else None

        super().__init__(*args, callback=callback, **kwargs)
        self.use = use
        self.long = long
        self.params.extend(global_flags())
        self.params.append(usage.help_flag())

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return parse_with_pflag_grammar(super().parse_args, ctx, args, self.params)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if self.get_command(ctx, name) is None:
            matches = [c for c in self.list_commands(ctx) if c.startswith(name)]
            if len(matches) == 1:  # cobra's prefix matching, which etcdctl turns on
                return super().resolve_command(ctx, [matches[0], *args[1:]])
            if ctx.parent is not None:  # cobra shows a sub-group's usage for anything else
                usage.print_usage(ctx)
                ctx.exit(0)
            raise usage.UnknownCommand(name, ctx)
        return super().resolve_command(ctx, args)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        code = run(lambda: super(EtcdGroup, self).main(*args, **kwargs))
        sys.exit(code)


def run(invoke: Callable[[], Any]) -> int:
    """Run the command; etcdctl's ``Error:`` line and exit code for whatever stopped it."""
    LOGIN["given"] = False
    try:
        result = invoke()  # click's main returns the code of a ctx.exit / Exit
    except CliError as error:
        click.echo(f"Error: {error.message}", err=True)
        return error.code
    except etcd3py.EtcdError as error:
        click.echo(f"Error: {error_text(error)}", err=True)
        return exit_code(error, LOGIN["given"])
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        return usage.report(error)
    except usage.Interrupted:
        return EXIT_SIGINT
    return result if isinstance(result, int) else 0


EXIT_SIGINT = 130  # the console script ends by SIGINT itself then (``main``)


root = EtcdGroup(name=CLI_NAME, help="A simple command line client for etcd3.")


def main(argv: Sequence[str] | None = None) -> None:
    """The ``etcd3py`` console script and ``python -m etcd3py``."""
    from . import commands  # noqa: F401 - registers every command on ``root``

    try:
        root.main(
            args=list(argv) if argv is not None else sys.argv[1:],
            # click's shell completion, under our own name (its script names the program)
            prog_name="etcd3py" if os.environ.get(COMPLETE_VAR) else CLI_NAME,
            complete_var=COMPLETE_VAR,
        )
    except SystemExit as done:
        if done.code == EXIT_SIGINT:  # die by the signal, as etcdctl (a Go program) does
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        raise
