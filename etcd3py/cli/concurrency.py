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
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

import etcd3py
from etcd3py.recipes import Election, Mutex, Session

from .app import Config, EtcdCommand, pass_config, root
from .errors import EXIT_BAD_ARGS, EXIT_ERROR, CliError
from .flags import BOOL, INT, flag

POLL = 0.2  # how often a wait looks at Ctrl-C and at its session
GRACE = 1.0  # how long an interrupted acquisition may take to give up its key


class Interrupt:
    """Ctrl-C or SIGTERM, noted by the signal handler and looked at by the waits.

    The handler raises nothing: an exception landing inside the client's or the recipes'
    own waits could leave them half done. The blocking step runs in a thread instead.
    """

    def __init__(self) -> None:
        self.event = threading.Event()

    def __bool__(self) -> bool:
        return self.event.is_set()


@contextmanager
def interrupt_on_signals() -> Iterator[Interrupt]:
    """SIGINT and SIGTERM set the Interrupt, as etcdctl's signal.Notify cancels its context."""
    interrupt = Interrupt()
    previous = {
        sig: signal.signal(sig, lambda *_: interrupt.event.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield interrupt
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def wait_interruptibly(
    interrupt: Interrupt, work: Callable[[], object], give_up: Callable[[], object]
) -> None:
    """Run ``work`` (acquire, campaign) until done; at Ctrl-C call ``give_up`` (end the
    session: the waiting key goes) and fail with etcdctl's ``context canceled``."""
    failure: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            work()
        except BaseException as error:  # handed to the waiting thread
            failure.append(error)
        finally:
            done.set()

    threading.Thread(target=run, name="etcd3py-cli-wait", daemon=True).start()
    while not done.wait(POLL):
        if interrupt:
            give_up()
            done.wait(GRACE)
            raise CliError(EXIT_ERROR, "context canceled")
    if failure:
        raise failure[0]


def hold_until_interrupted(interrupt: Interrupt, session: Session, lost_message: str) -> None:
    """Wait for Ctrl-C; CliError if the session (lease) is lost first."""
    while not interrupt:
        if session.wait_lost(POLL):
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
    with config.client() as client, interrupt_on_signals() as interrupt:
        session = Session(client, ttl=ttl)
        mutex = Mutex(session, name)
        try:
            wait_interruptibly(interrupt, mutex.acquire, session.close)
            if command:
                run_locked(client, mutex, command)
                return
            current = client.get(mutex.key)
            if not current.kvs:
                raise CliError(EXIT_ERROR, "lock lost on init")
            config.printer().get(current)
            hold_until_interrupted(interrupt, session, "session expired")
        finally:
            if mutex.held:
                mutex.release()
            session.close()


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
    with config.client() as client, interrupt_on_signals() as interrupt:
        if listen:
            observe(config, client, args[0], interrupt)
        else:
            campaign(config, client, args[0], args[1], interrupt)


def observe(config: Config, client: etcd3py.Client, name: str, interrupt: Interrupt) -> None:
    """Print the leader and every change of it until Ctrl-C."""
    observer = Election(client, name).observe()
    try:
        while not interrupt:
            leader = observer.get(POLL)
            if leader is not None:
                config.printer().get(client.get(leader.key))
    finally:
        observer.cancel()


def campaign(
    config: Config, client: etcd3py.Client, name: str, proposal: str, interrupt: Interrupt
) -> None:
    """Campaign, print the leader key once elected, lead until Ctrl-C, then resign."""
    session = Session(client, ttl=60)  # concurrency.NewSession's default TTL
    election = Election(session, name)
    try:
        wait_interruptibly(
            interrupt, lambda: election.campaign(os.fsencode(proposal)), session.close
        )
        config.printer().get(client.get(election.key))
        hold_until_interrupted(interrupt, session, "elect: session expired")
    finally:
        election.resign()
        session.close()
