"""Differential runs of the ``etcd3py`` command line against etcdctl 3.5.1.

``run_etcdctl`` runs the real binary; ``run_ours`` runs our CLI in this process through
click's test runner (no interpreter start-up). ``Scenario`` plays the same steps through
both tools, each under its own key prefix of equal length, and ``normalise_cli`` makes the
two transcripts comparable. The normalisation is deliberately small:

- the per-tool prefix becomes ``<p>/`` (in JSON, inside the base64 keys too);
- revisions (fields' ``"Revision" : N`` lines, JSON's revision keys and
  ``CompactRevision``, ``compacted revision N``, ``progress notify: N``, and the
  ``ETCD_REV=N`` that tests print; 0 stays 0) become relative to the scenario's first
  revision, since the second tool runs after the first; in arguments, ``{rev+N}`` is that
  revision plus N;
- a lease's remaining TTL a few seconds under the 1000 s the tests grant (990-999 in
  ``remaining(Ns)``, fields' ``"TTL" : N``, JSON's ``ttl``) reads ``<remaining>``: the
  tools ask at different moments, and a loaded machine may cross a second in between;
- lease ids (16 hex digits in text, decimal ``ID``/``Lease`` fields and JSON ``ID``/
  ``id``/``lease`` numbers) become ``<lease0>``, ``<lease1>``... in order of appearance;
- the Go client's own JSON log lines on stderr (``{"level":"warn",...}``, a gRPC retry
  notice with a timestamp) are dropped: ours has no such logger.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from etcd3py import Client
from tests.support.servers import etcd_bin_dir

TIMEOUT = 20.0


@dataclass(frozen=True)
class Run:
    stdout: bytes
    stderr: str
    code: int


def run_etcdctl(
    endpoint: str,
    args: Sequence[str],
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")} | (env or {})
    proc = subprocess.run(
        [str(etcd_bin_dir() / "etcdctl"), f"--endpoints={endpoint}", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=TIMEOUT,
        env=env,
    )
    return Run(proc.stdout, proc.stderr.decode(errors="replace"), proc.returncode)


def run_ours(
    endpoint: str,
    args: Sequence[str],
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    from etcd3py.cli import commands  # noqa: F401 - registers the commands
    from etcd3py.cli.app import root

    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ETCDCTL_")}
    result = CliRunner(env=unset | (env or {})).invoke(
        root, [f"--endpoints={endpoint}", *args], input=stdin if stdin is not None else b""
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.stdout_bytes, result.stderr_bytes.decode(errors="replace"), result.exit_code)


def drop_client_logs(stderr: str) -> str:
    return "".join(
        line for line in stderr.splitlines(keepends=True) if not line.startswith('{"level":')
    )


def normalise_cli(text: str, prefix: str, base: int, names: dict[int, str]) -> str:
    """The transcript rules above, for one command's stdout or stderr (or command line);
    ``names`` holds the lease names given so far."""

    def lease(number: int) -> str:
        return names.setdefault(number, f"<lease{len(names)}>") if number else "0"

    def relative(match: re.Match[str]) -> str:  # 0 means "none": it stays 0
        number = int(match.group(2))
        return f"{match.group(1)}{number - base if number else 0}"

    text = re.sub(r'("(?:Prev)?(?:Create|Mod)?Revision" : )(\d+)', relative, text)
    text = re.sub(r"(compacted revision |progress notify: |ETCD_REV=)(\d+)", relative, text)
    text = re.sub(
        r'("(?:Prev)?(?:ID|Lease)" : )(\d+)', lambda m: m.group(1) + lease(int(m.group(2))), text
    )
    text = "\n".join(_normalise_json(line, prefix, base, lease) for line in text.split("\n"))
    text = re.sub(r'(remaining\(|"TTL" : |"ttl": )99\d\b', r"\1<remaining>", text)
    text = re.sub(r"\b[0-9a-f]{16}\b", lambda m: lease(int(m.group(0), 16)), text)
    return text.replace(prefix, "<p>/")


REVISION_KEYS = ("revision", "create_revision", "mod_revision", "CompactRevision")


def _normalise_json(line: str, prefix: str, base: int, lease: Callable[[int], str]) -> str:
    if not line.startswith("{"):
        return line
    try:
        data = json.loads(line)
    except ValueError:
        return line

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k in REVISION_KEYS and isinstance(v, int) and v:
                    v = v - base
                elif k in ("ID", "id", "lease") and isinstance(v, int):
                    v = lease(v)
                elif k == "key" and isinstance(v, str):
                    v = _key(v, prefix)
                elif k == "keys" and isinstance(v, list):
                    v = [_key(key, prefix) for key in v]
                out[k] = walk(v)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return json.dumps(walk(data))


def _key(encoded: str, prefix: str) -> str:
    """A base64 key as text, with the tool's prefix replaced."""
    return base64.b64decode(encoded).decode(errors="replace").replace(prefix, "<p>/")


@dataclass
class Scenario:
    """Steps run by one tool under its own prefix; ``{p}`` in arguments is that prefix."""

    endpoint: str
    prefix: str
    ours: bool
    base: int = 0
    transcript: list[str] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # lease id -> <leaseN>
    client_options: dict[str, Any] = field(default_factory=dict)  # TLS, auth: for start()

    def start(self) -> Scenario:
        with Client(self.endpoint, **self.client_options) as client:
            self.base = client.put(self.prefix + "base", "").header.revision
        return self

    def normalise(self, text: str) -> str:
        return normalise_cli(text, self.prefix, self.base, self.names)

    def expand(self, text: str) -> str:
        text = text.replace("{p}", self.prefix)
        return re.sub(r"\{rev\+(\d+)\}", lambda m: str(self.base + int(m.group(1))), text)

    def run(self, *args: str, stdin: bytes | None = None) -> Run:
        template = " ".join(args)  # {p} and {rev+N} read the same for both tools
        args = tuple(self.expand(a) for a in args)
        if stdin is not None:
            stdin = self.expand(stdin.decode("utf-8", "surrogateescape")).encode(
                "utf-8", "surrogateescape"
            )
        runner = run_ours if self.ours else run_etcdctl
        result = runner(self.endpoint, args, stdin)
        out = self.normalise(result.stdout.decode(errors="backslashreplace"))
        err = self.normalise(drop_client_logs(result.stderr))
        command = self.normalise(template)
        self.transcript.append(f"$ {command}\n{out}\n[stderr]\n{err}[rc={result.code}]")
        return result


def prefixes(prefix: bytes) -> tuple[str, str]:
    """Two prefixes of the same length under the test's own: etcdctl's and ours."""
    base = prefix.decode()
    return base + "ctl/", base + "our/"


OUR_COMMAND = [str(Path(sys.executable).parent / "etcd3py")]


class Streaming:
    """A long-running command (watch) as a process: its output read as it comes."""

    def __init__(
        self,
        ours: bool,
        endpoint: str,
        args: Sequence[str],
        stdin: bool = False,
        env: dict[str, str] | None = None,
    ):
        program = OUR_COMMAND if ours else [str(etcd_bin_dir() / "etcdctl")]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")} | (env or {})
        self.proc = subprocess.Popen(
            [*program, f"--endpoints={endpoint}", *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.out = b""

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def wait_for(self, marker: bytes, timeout: float = TIMEOUT) -> None:
        """Read until ``marker`` has been printed (``count`` times)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while marker not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {marker!r} in {self.out!r}")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = self.proc.stdout.read()
                if chunk == b"":
                    raise AssertionError(f"output ended without {marker!r}: {self.out!r}")
                self.out += chunk or b""

    def finish(self, signal_number: int | None = signal.SIGINT) -> Run:
        """Send the signal (Ctrl-C by default), or close stdin; wait for the end."""
        if signal_number is not None:
            self.proc.send_signal(signal_number)
        elif self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        assert self.proc.stdout is not None and self.proc.stderr is not None
        os.set_blocking(self.proc.stdout.fileno(), True)
        self.out += self.proc.stdout.read()
        err = self.proc.stderr.read().decode(errors="replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        return Run(self.out, err, self.proc.returncode)
