"""``make-mirror``: copy a prefix (or everything) to another cluster, then keep copying its
changes, as etcdctl's make-mirror (clientv3's mirror.Syncer) does.

First every key at one revision, in pages of 1000, one put each; then a watch from the
next revision, each revision's events written to the destination in one transaction.
Every 30 seconds the number of keys synced so far is printed. It runs until stopped, or
until an error (``Error: ...``, exit 1).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import click

import etcd3py

from .app import Config, EtcdCommand, pass_config, root
from .errors import EXIT_BAD_ARGS, CliError
from .flags import BOOL, STRING, flag
from .output.stream import line

BATCH = 1000  # mirror.Syncer's page size
# how often the count is printed; ETCD3PY_MIRROR_REPORT_SECONDS (undocumented in etcdctl,
# ours only) shortens it for tests
REPORTER = "etcd3py-mirror-report"  # the thread's name
REPORT_SECONDS = float(os.environ.get("ETCD3PY_MIRROR_REPORT_SECONDS", "30"))


def range_end_of(prefix: bytes) -> bytes:
    """The end of the keys starting with ``prefix`` (``\\x00``: every key from it on)."""
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return b"\x00"
    end[-1] += 1
    return bytes(end)


@dataclass
class Counter:
    """Keys synced so far, printed every REPORT_SECONDS by a daemon thread until the
    command ends (run in-process, say by click's test runner, a thread left behind
    would go on printing into whatever stdout comes next)."""

    total: int = 0
    _stopped: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Counter:
        threading.Thread(target=self._report, name=REPORTER, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()

    def _report(self) -> None:
        while not self._stopped.wait(REPORT_SECONDS):
            line(str(self.total))


@root.command(
    "make-mirror",
    cls=EtcdCommand,
    use="make-mirror [options] <destination>",
    help="Makes a mirror at the destination etcd cluster",
)
@click.argument("args", nargs=-1)
@flag("--prefix", default="", usage="Key-value prefix to mirror")
@flag(
    "--dest-prefix",
    default="",
    usage="destination prefix to mirror a prefix to a different prefix in the destination cluster",
)
@flag(
    "--no-dest-prefix",
    type=BOOL,
    default=False,
    usage="mirror key-values to the root of the destination cluster",
)
@flag(
    "--dest-cert",
    default="",
    usage="Identify secure client using this TLS certificate file for the destination cluster",
)
@flag("--dest-key", default="", usage="Identify secure client using this TLS key file")
@flag(
    "--dest-cacert",
    default="",
    usage="Verify certificates of TLS enabled secure servers using this CA bundle",
)
@flag(
    "--dest-insecure-transport",
    type=BOOL,
    default=True,
    usage="Disable transport security for client connections",
)
@flag(
    "--dest-user",
    type=STRING,
    default="",
    usage="Destination username[:password] for authentication (prompt if password is not supplied)",
)
@flag(
    "--dest-password",
    default="",
    usage="Destination password for authentication (if this option is used, --user option"
    " shouldn't include password)",
)
@pass_config
def make_mirror_command(
    config: Config,
    args: tuple[str, ...],
    prefix: str,
    dest_prefix: str,
    no_dest_prefix: bool,
    dest_cert: str,
    dest_key: str,
    dest_cacert: str,
    dest_insecure_transport: bool,
    dest_user: str,
    dest_password: str,
) -> None:
    if len(args) != 1:
        raise CliError(EXIT_BAD_ARGS, "make-mirror takes one destination argument")
    username, password = config.credentials(dest_user, dest_password, "Destination Password: ")
    destination = etcd3py.Client(
        [args[0]],
        username=username,
        password=password,
        ca_cert=dest_cacert or None,
        cert_cert=dest_cert or None,
        cert_key=dest_key or None,
        keepalive_time=config["keepalive_time"] or None,
        keepalive_timeout=config["keepalive_timeout"] or None,
    )
    with destination, config.client() as source, Counter() as counter:
        source_prefix = os.fsencode(prefix)
        revision = source.get(b"foo").header.revision  # mirror.Syncer's way to pick one
        if no_dest_prefix and dest_prefix:
            raise CliError(
                EXIT_BAD_ARGS,
                "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one",
            )
        target = (
            source_prefix if not no_dest_prefix and not dest_prefix else os.fsencode(dest_prefix)
        )
        mirror(source, destination, source_prefix, target, revision, counter)


def mirror(
    source: etcd3py.Client,
    destination: etcd3py.Client,
    prefix: bytes,
    target: bytes,
    revision: int,
    counter: Counter,
) -> None:
    def moved(key: bytes) -> bytes:  # strings.Replace(key, prefix, target, 1), as etcdctl
        return key.replace(prefix, target, 1)

    end = range_end_of(prefix) if prefix else b"\x00"
    key = prefix or b"\x00"
    while True:  # the keys as they were at ``revision``
        page = source.get(key, range_end=end, limit=BATCH, revision=revision)
        for kv in page.kvs:
            destination.put(moved(kv.key), kv.value)
            counter.total += 1
        if not page.more or not page.kvs:
            break
        key = page.kvs[-1].key + b"\x00"
    with source.watch(prefix or b"\x00", range_end=end, start_revision=revision + 1) as watch:
        for response in watch:  # then every change, one transaction per revision
            batch: list[etcd3py.Put | etcd3py.Get | etcd3py.Delete | etcd3py.Txn] = []
            last = 0
            for event in response.events:
                if last and event.kv.mod_revision > last:
                    destination.txn(compare=[], success=batch)
                    batch = []
                last = event.kv.mod_revision
                if event.type == etcd3py.EventType.PUT:
                    batch.append(etcd3py.Put(moved(event.kv.key), event.kv.value))
                else:
                    batch.append(etcd3py.Delete(moved(event.kv.key)))
                counter.total += 1
            if batch:
                destination.txn(compare=[], success=batch)
