"""``lock`` and ``elect``: etcd's lock and election recipes from the command line, on
``etcd3py.recipes`` (the same keys as etcd's Go concurrency package: ``<name>/<lease
id in hex>``), so they wait for and are waited on by etcdctl's.

Ctrl-C (or SIGTERM) ends them as etcdctl's end: while waiting, ``Error: context
canceled`` (exit 1); while holding or leading, the lock is released or the leadership
resigned, exit 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

import etcd3py
from etcd3py.recipes import Election, Mutex, Session

from .app import Config, EtcdCommand, pass_config, root
from .errors import EXIT_BAD_ARGS, EXIT_ERROR, CliError
from .flags import BOOL, INT, flag

POLL = 0.2  # how often a holder looks at its session while waiting for Ctrl-C


class Stop(BaseException):
    """Ctrl-C or SIGTERM."""


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise Stop, as etcdctl's signal.Notify ends its waits."""

    def handler(signum: int, frame: Any) -> None:
        raise Stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def canceled() -> CliError:
    return CliError(EXIT_ERROR, "context canceled")


def hold_until_stopped(session: Session, lost_message: str) -> None:
    """Wait for Ctrl-C; CliError if the session (lease) is lost first."""
    try:
        while not session.wait_lost(POLL):
            pass
    except Stop:
        return
    raise CliError(EXIT_ERROR, lost_message)


@root.command(
    "lock",
    cls=EtcdCommand,
    use="lock <lockname> [exec-command arg1 arg2 ...]",
    help="Acquires a named lock",
)
@click.argument("args", nargs=-1)
@flag("--ttl", type=INT, default=10, usage="timeout for session")
@pass_config
def lock_command(config: Config, args: tuple[str, ...], ttl: int) -> None:
    if not args:
        raise CliError(
            EXIT_BAD_ARGS, "lock takes a lock name argument and an optional command to execute"
        )
    name, command = args[0], list(args[1:])
    with config.client() as client, stop_on_signals(), Session(client, ttl=ttl) as session:
        mutex = Mutex(session, name)
        try:
            mutex.acquire()
        except Stop:
            raise canceled() from None
        try:
            if command:
                run_locked(client, mutex, command)
                return
            current = client.get(mutex.key)
            if not current.kvs:
                raise CliError(EXIT_ERROR, "lock lost on init")
            config.printer().get(current)
            hold_until_stopped(session, "session expired")
        finally:
            if mutex.held:
                mutex.release()


def run_locked(client: etcd3py.Client, mutex: Mutex, command: list[str]) -> None:
    """Run ``command`` under the lock with ETCD_LOCK_KEY/ETCD_LOCK_REV; its exit code is
    ours, with Go's ``exit status N`` line."""
    revision = client.get(mutex.key).header.revision  # the header etcdctl's Mutex keeps
    env = {
        **os.environ,
        "ETCD_LOCK_KEY": mutex.key.decode("utf-8", "surrogateescape"),
        "ETCD_LOCK_REV": str(revision),
    }
    try:
        code = subprocess.call(command, env=env)
    except FileNotFoundError:
        mutex.release()
        raise CliError(
            EXIT_ERROR, f'exec: "{command[0]}": executable file not found in $PATH'
        ) from None
    mutex.release()
    if code < 0:  # killed by a signal: Go's ExitStatus is -1
        raise CliError(255, f"signal: {signal.Signals(-code).name.lower()[3:]}")
    if code:
        raise CliError(code, f"exit status {code}")


@root.command(
    "elect",
    cls=EtcdCommand,
    use="elect <election-name> [proposal]",
    help="Observes and participates in leader election",
)
@click.argument("args", nargs=-1)
@flag("-l", "--listen", type=BOOL, default=False, usage="observation mode")
@pass_config
def elect_command(config: Config, args: tuple[str, ...], listen: bool) -> None:
    if len(args) not in (1, 2):
        raise CliError(
            EXIT_BAD_ARGS,
            "elect takes one election name argument and an optional proposal argument",
        )
    if len(args) == 1 and not listen:
        raise CliError(EXIT_BAD_ARGS, "no proposal argument but -l not set")
    if len(args) == 2 and listen:
        raise CliError(EXIT_BAD_ARGS, "proposal given but -l is set")
    with config.client() as client, stop_on_signals():
        if listen:
            observe(config, client, args[0])
        else:
            campaign(config, client, args[0], args[1])


def observe(config: Config, client: etcd3py.Client, name: str) -> None:
    """Print the leader and every change of it until Ctrl-C."""
    observer = Election(client, name).observe()
    try:
        while True:
            leader = observer.get(POLL)
            if leader is not None:
                config.printer().get(client.get(leader.key))
    except Stop:
        return
    finally:
        observer.cancel()


def campaign(config: Config, client: etcd3py.Client, name: str, proposal: str) -> None:
    """Campaign, print the leader key once elected, lead until Ctrl-C, then resign."""
    with Session(client, ttl=60) as session:  # concurrency.NewSession's default TTL
        election = Election(session, name)
        try:
            election.campaign(os.fsencode(proposal))
        except Stop:
            raise canceled() from None
        try:
            config.printer().get(client.get(election.key))
            hold_until_stopped(session, "elect: session expired")
        finally:
            election.resign()
