"""watch through etcdctl 3.5.1 and ``etcd3py``: events in every format, the command run
per event, -i, Ctrl-C, a compacted start revision and bad arguments.

A streaming watch never ends by itself: those run as processes (``Streaming``), replaying
history from a revision, stopped by SIGINT once the last event is printed.
"""

from __future__ import annotations

import pytest

from tests.cli.conftest import Differ
from tests.support.cli_diff import Run, Scenario, Streaming, prefixes

# the last event's last line: etcdctl writes line by line, and stopping it mid-event
# would cut its output at a random place
MARKERS = {"simple": b"\nend\n", "json": b"ZW5k", "fields": b'"Value" : "end"\n"Lease" : 0\n'}


def history(s: Scenario) -> None:
    s.run("put", "{p}a", "1")
    s.run("put", "{p}a", "2")
    s.run("put", "{p}b", "x")
    s.run("del", "{p}a")
    s.run("put", "{p}z", "end")


def streamed(
    differ: Differ,
    args: list[str],
    marker: bytes,
    *,
    stdin: list[bytes] = (),
    env: dict[str, str] | None = None,
) -> None:
    """``history`` then a streaming watch from its first revision, per tool; the same output."""
    transcripts = []
    for ours, prefix in zip((False, True), prefixes(differ.prefix), strict=True):
        s = Scenario(differ.endpoint, prefix, ours=ours).start()
        history(s)
        expanded = {k: s.expand(v) for k, v in (env or {}).items()}
        argv = [s.expand(a) for a in args]
        stream = Streaming(ours, differ.endpoint, argv, stdin=bool(stdin), env=expanded)
        for line in stdin:
            stream.send(s.expand(line.decode()).encode())
        stream.wait_for(marker)
        result: Run = stream.finish()
        out = s.normalise(result.stdout.decode(errors="replace"))
        err = s.normalise(result.stderr)
        transcripts.append(f"{out}\n[stderr]\n{err}[rc={result.code}]")
    assert transcripts[1] == transcripts[0]


@pytest.mark.parametrize("fmt", ["simple", "json", "fields"])
def test_watch_prefix_with_prev_kv_then_ctrl_c(differ: Differ, fmt: str) -> None:
    args = ["watch", "{p}", "--prefix", "--rev={rev+1}", "--prev-kv", "-w", fmt]
    streamed(differ, args, MARKERS[fmt])


def test_watch_runs_the_command_per_event(differ: Differ) -> None:
    script = 'echo "ETCD_REV=$ETCD_WATCH_REVISION $ETCD_WATCH_EVENT_TYPE" $ETCD_WATCH_KEY'
    script += ' "$ETCD_WATCH_VALUE"'
    args = ["watch", "--rev={rev+1}", "{p}a", "{p}zz", "--", "sh", "-c", script]
    streamed(differ, args, b'"end"')


def test_watch_interactive(differ: Differ) -> None:
    lines = [
        b"bogus\n",
        b"watch\n",
        b"watch {p}a {p}b --prefix\n",
        b"watch {p} --prefix --rev={rev+1}\n",
    ]
    streamed(differ, ["watch", "-i"], b"\nend\n", stdin=lines)


def test_watch_failing_command_ends_the_watch(differ: Differ) -> None:
    def steps(s: Scenario) -> None:
        s.run("put", "{p}k", "v")
        s.run("watch", "{p}k", "--rev={rev+1}", "--", "false")
        s.run("watch", "{p}k", "--rev={rev+1}", "--", "/no/such/command")

    differ.scenario(steps)


@pytest.mark.parametrize("fmt", ["simple", "json", "fields"])
def test_watch_from_a_compacted_revision(differ: Differ, fmt: str) -> None:
    def steps(s: Scenario) -> None:
        s.run("put", "{p}k", "1")
        s.run("put", "{p}k", "2")
        s.run("compaction", "{rev+2}")
        s.run("watch", "{p}k", "--rev={rev+1}", "-w", fmt)

    differ.scenario(steps)


@pytest.mark.parametrize(
    "args",
    [
        ["watch"],
        ["watch", "k", "--"],
        ["watch", "a", "b", "--prefix"],
        ["watch", "--rev=x", "k"],
        ["watch", "k", "--bogus"],
        ["watch", "--prefix"],
    ],
    ids=" ".join,
)
def test_watch_bad_arguments(differ: Differ, args: list[str]) -> None:
    differ.scenario(lambda s: s.run(*args))


def test_watch_progress_notify(differ: Differ) -> None:
    # the test servers notify progress every second (tests/support/servers.py); json
    # shows both etcdctl's "progress notify: N" line and the response
    args = ["watch", "{p}quiet", "--progress-notify", "-w", "json"]
    streamed(differ, args, b'"Created":false}')


@pytest.mark.parametrize(
    ("env", "args"),
    [
        ({"ETCDCTL_WATCH_RANGE_END": "z"}, ["watch"]),
        ({"ETCDCTL_WATCH_KEY": "a"}, ["watch", "b"]),
        ({"ETCDCTL_WATCH_KEY": "a"}, ["watch", "b", "--", "echo"]),
    ],
    ids=["range-end-alone", "key-twice", "key-twice-with-command"],
)
def test_watch_key_from_the_environment_conflicts(
    offline: Differ, env: dict[str, str], args: list[str]
) -> None:
    offline.same(*args, env=env)


def test_watch_key_and_range_end_from_the_environment(differ: Differ) -> None:
    env = {"ETCDCTL_WATCH_KEY": "{p}b", "ETCDCTL_WATCH_RANGE_END": "{p}zz"}
    streamed(differ, ["watch", "--rev={rev+1}"], b"\nend\n", env=env)
