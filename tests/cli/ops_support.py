"""Comparing the maintenance commands (member, endpoint, alarm, auth...) of etcdctl 3.5.1
and ``etcd3py`` on a server of their own: these commands change the cluster (members,
alarms, authentication), so they do not run on the session's shared servers.

``Pair.both`` runs one command line through both tools and requires the same stdout,
stderr (without the Go client's log lines) and exit code, after ``normalise``: durations
(``took``) and the ids of members a test added are replaced by names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from etcd3py import Client
from etcd3py.server_ref import EmbeddedCluster
from tests.support.cli_diff import Run, drop_client_logs, run_etcdctl, run_ours
from tests.support.servers import EtcdProcess

_DURATION = r"[0-9.]+(?:ns|µs|ms|s|m|h)(?:[0-9.]+(?:ms|s))*"


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@dataclass
class Pair:
    """One server, both tools; ``names`` maps ids the test made to stable names."""

    endpoint: str
    names: dict[int, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    ports: int = 10000

    def peer_url(self, label: str) -> str:
        """An unused peer URL (etcd refuses one a removed member had), named ``<label>``."""
        self.ports += 1
        url = f"http://127.0.0.1:{self.ports}"
        self.texts[url] = f"<{label}>"
        return url

    def name(self, member_id: int, label: str) -> None:
        self.names[member_id] = label

    def normalise(self, data: bytes) -> bytes:
        for text, label in self.texts.items():
            data = data.replace(text.encode(), label.encode())
        for number, label in self.names.items():
            for form in (f"{number:16x}", f"{number:x}", str(number)):
                data = data.replace(form.encode(), f"<{label}>".encode())
            data = data.replace(varint(number), f"<{label}>".encode())
        data = re.sub(rb"took = " + _DURATION.encode(), b"took = <t>", data)
        data = re.sub(rb'"took":"' + _DURATION.encode() + b'"', b'"took":"<t>"', data)
        data = re.sub(rb'"Took" : ' + _DURATION.encode(), b'"Took" : <t>', data)
        if b"| TOOK |" in re.sub(rb" +", b" ", data):  # the column's width follows the time
            data = re.sub(rb"\| +" + _DURATION.encode() + rb" \|", b"| <t> |", data)
            data = re.sub(rb"-+", b"-", re.sub(rb" +", b" ", data))
        return data

    def run(
        self, ours: bool, *args: str, stdin: bytes | None = None, endpoints: str | None = None
    ) -> Run:
        runner = run_ours if ours else run_etcdctl
        return runner(endpoints or self.endpoint, args, stdin)

    def view(self, run: Run) -> tuple[bytes, bytes, int]:
        err = drop_client_logs(run.stderr).encode()
        return self.normalise(run.stdout), self.normalise(err), run.code

    def both(self, *args: str, stdin: bytes | None = None, endpoints: str | None = None) -> Run:
        """Both tools, one after the other; their views must be equal.

        A difference is checked once more with both tools run again: on a loaded
        machine the server's state or speed can change between the two runs (seen twice
        with the in-process server on a loaded 2-core machine, never reproduced alone),
        while a difference of the tools is there both times. The second failure shows
        both outputs."""
        for attempt in (1, 2):
            expected = self.run(False, *args, stdin=stdin, endpoints=endpoints)
            actual = self.run(True, *args, stdin=stdin, endpoints=endpoints)
            if self.view(actual) == self.view(expected):
                return actual
            if attempt == 1:
                command = " ".join(args)
                print(f"differed, asking both again: {command}\n{_diff(self, expected, actual)}")
        raise AssertionError(f"{' '.join(args)}\n{_diff(self, expected, actual)}")

    def client(self) -> Client:
        return Client(self.endpoint)


def own_server(kind: str, root: Path, quota: int | None = None) -> Iterator[str]:
    """A fresh single-member server of the backend ``kind`` (with a backend ``quota`` in
    bytes, if given): its endpoint."""
    if kind == "etcd":
        extra = ["--unsafe-no-fsync"] + ([f"--quota-backend-bytes={quota}"] if quota else [])
        proc = EtcdProcess(root / "data", extra_args=extra)
        proc.start()
        try:
            yield proc.endpoint
        finally:
            proc.remove()
    else:  # a one-member raft cluster: EmbeddedServer alone has no membership to change
        settings = {"quota_backend_bytes": quota} if quota else {}
        with EmbeddedCluster(members=1, **settings) as cluster:
            cluster.wait_leader()
            yield cluster.endpoints[0]


def own_server_fixture(
    request: pytest.FixtureRequest, tmp: pytest.TempPathFactory
) -> Iterator[Pair]:
    for endpoint in own_server(request.param, tmp.mktemp(request.param)):
        yield Pair(endpoint)


Steps = Callable[[Pair], object]


def _diff(pair: Pair, expected: Run, actual: Run) -> str:
    """etcdctl's and ours, part by part, where they differ."""
    theirs, ours = pair.view(expected), pair.view(actual)
    parts = []
    for name, a, b in zip(("stdout", "stderr", "exit code"), theirs, ours, strict=True):
        if a != b:
            parts.append(f"{name}:\n  etcdctl: {a!r}\n  etcd3py: {b!r}")
    return "\n".join(parts)
