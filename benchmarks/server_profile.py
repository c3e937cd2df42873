"""Where server_ref's time goes under the put load of ``server_compare.py --profile``.

Two samplers watch the server process in turn during one measured window:

- ``perf record -e cpu-clock -g`` (if perf is installed): CPU by shared object --
  the interpreter (libpython: our code, asyncio, grpc's Python layer), grpc's C core
  and Cython layer (cygrpc), protobuf's upb (_message), libc, the kernel -- and the
  kernel's share by system call (epoll, futex and eventfd wake-ups, TCP, fsync).
- ``py-spy record --idle --threads`` (if py-spy is installed; blocking mode: its
  ``--nonblocking`` mode was seen to lose most Python frames here): wall time of each
  thread, the event loop's split by the module of the innermost Python frame
  (waiting for events, server_ref's layers, asyncio, grpc.aio, protobuf), and the
  server_ref functions with the most time under them.

The raw files stay in the output directory; the report names the commands.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Kernel symbols (perf, inclusive of callees) worth naming, with what they mean here.
SYSCALLS = (
    ("__x64_sys_epoll_wait", "epoll_wait (waiting for events)"),
    ("__x64_sys_futex", "futex (threads waking each other)"),
    ("eventfd_write", "eventfd writes (waking a thread)"),
    ("unix_stream_sendmsg", "unix socket writes (grpc.aio poller waking the loop)"),
    ("tcp_sendmsg", "TCP send"),
    ("tcp_recvmsg", "TCP receive"),
    ("vfs_fsync_range", "fsync / fdatasync"),
    ("finish_task_switch.isra.0", "context switches (scheduler)"),
)
DSO_GROUPS = (
    ("[kernel", "kernel"),
    ("libpython", "interpreter (libpython: Python code of server_ref, asyncio, grpc.aio)"),
    ("cygrpc", "grpc C core + Cython layer (cygrpc)"),
    ("_message", "protobuf (upb _message)"),
    ("_upb", "protobuf (upb _message)"),
    ("libc.so", "libc"),
    ("_asyncio", "asyncio C accelerator (_asyncio)"),
)


def py_spy() -> str | None:
    """py-spy next to this interpreter (a venv's bin) or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class Profilers:
    """Runs the available samplers on a pid for a number of seconds."""

    out_dir: Path
    commands: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def perf_data(self) -> Path:
        return self.out_dir / "perf.data"

    @property
    def pyspy_raw(self) -> Path:
        return self.out_dir / "py-spy.txt"

    def __call__(self, pid: int, seconds: float) -> None:
        """perf for the first half of ``seconds``, then py-spy (it pauses the process)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        half = max(1, round(seconds / 2))
        perf, spy = shutil.which("perf"), py_spy()
        if perf is None:
            self.problems.append("perf not found: no CPU split by shared object")
        else:
            command = [perf, "record", "-e", "cpu-clock", "-F", "499", "-g", "-p", str(pid)]
            self._run("perf", [*command, "-o", str(self.perf_data), "--", "sleep", str(half)], pid)
        if spy is None:
            self.problems.append("py-spy not found (pip install py-spy): no Python-level split")
        else:
            command = [spy, "record", "--pid", str(pid), "--duration", str(half), "--rate", "100"]
            command += ["--idle", "--threads", "--format", "raw", "--output", str(self.pyspy_raw)]
            self._run("py-spy", command, pid)

    def _run(self, name: str, command: list[str], pid: int) -> None:
        self.commands.append(shlex.join(command).replace(f" {pid} ", " <server pid> "))
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            tail = done.stderr.strip()[-300:]
            self.problems.append(f"{name} failed (exit {done.returncode}): {tail}")


# ---- perf ----


def perf_by_dso(data: Path) -> list[tuple[str, float]]:
    """Percent of the CPU samples per group of shared objects (small others lumped)."""
    groups: dict[str, float] = {}
    for percent, dso in _perf_report(data, "--no-children", "--sort", "dso"):
        label = next((name for key, name in DSO_GROUPS if key in dso), f"other ({dso})")
        if label.startswith("other") and percent < 0.5:
            label = "other"
        groups[label] = groups.get(label, 0.0) + percent
    return sorted(groups.items(), key=lambda item: -item[1])


def perf_syscalls(data: Path) -> list[tuple[str, float]]:
    """Percent of the CPU samples under each kernel path named in ``SYSCALLS``."""
    found = dict((sym, pct) for pct, sym in _perf_report(data, "--children", "--sort", "sym"))
    return [(label, found.get(sym, 0.0)) for sym, label in SYSCALLS]


def _perf_report(data: Path, *args: str) -> list[tuple[float, str]]:
    command = ["perf", "report", "-i", str(data), "--stdio", "-g", "none", *args]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows: list[tuple[float, str]] = []
    for line in text.splitlines():
        # "    47.88%  [kernel.kallsyms]" or, with --children, "  45.68%  0.69%  [k] do_syscall_64"
        match = re.match(r"\s*([\d.]+)%\s+(?:[\d.]+%\s+)?(?:\[[k.]\]\s+)?(\S.*?)\s*$", line)
        if match:
            rows.append((float(match.group(1)), match.group(2)))
    return rows


# ---- py-spy ----


@dataclass
class ThreadTime:
    name: str
    samples: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)  # server_ref functions


def pyspy_threads(raw: Path) -> list[ThreadTime]:
    """Samples per thread; per category of the innermost Python frame; server_ref callers."""
    threads: dict[str, ThreadTime] = {}
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if not frames or not count_text.isdigit():
            continue
        count = int(count_text)
        name = frames[0].split(": ", 1)[-1] if frames[0].startswith("thread ") else "?"
        thread = threads.setdefault(frames[0], ThreadTime(name))
        thread.samples += count
        thread.categories[_category(frames[1:])] += count
        for function in {
            f.split(" (")[0] + " " + _file(f) for f in frames if "server_ref/" in _file(f)
        }:
            thread.inclusive[function] += count
    # the event loop first: it runs server_ref's code
    return sorted(threads.values(), key=lambda t: (t.name != "MainThread", -t.samples))


def _file(frame: str) -> str:
    """``"name (path/file.py:12)"`` -> ``"path/file.py"``."""
    inside = frame.rpartition(" (")[2].rstrip(")")
    return inside.rsplit(":", 1)[0]


def _category(frames: list[str]) -> str:
    if not frames:
        return "no Python frame (native thread)"
    leaf = frames[-1]
    path, function = _file(leaf), leaf.split(" (")[0]
    if path == "selectors.py" or function.endswith("select"):
        return "idle: waiting for events (selector)"
    match = re.search(r"server_ref/(\w+/|\w+\.py)", path)
    if match:
        return f"server_ref: {match.group(1)} (own Python code)"
    if path.startswith("grpc/"):
        return "grpc.aio Python layer (grpc/)"
    if path.startswith("google/"):
        return "protobuf Python layer (google/)"
    if path == "asyncio/events.py" and function == "Handle._run":
        return "in C under the loop's callback (task steps, grpc Cython, protobuf C)"
    if path.startswith("asyncio/"):
        return "asyncio event loop (Python)"
    return f"other Python ({path.split('/')[0]})"


# ---- the section ----


def render(profilers: Profilers, reproduce: str) -> str:
    out = ["## Where server_ref's time goes: puts at concurrency 64\n"]
    out.append(f"Reproduce: `{reproduce}` (the samplers ran as: "
               + "; ".join(f"`{c}`" for c in profilers.commands) + ").\n")  # fmt: skip
    out.extend(f"- {p}" for p in profilers.problems)
    if profilers.perf_data.exists():
        out.append("\n### CPU by shared object (perf, cpu-clock, % of the server's CPU samples)\n")
        out.append("| where | % |\n|---|---|")
        out.extend(f"| {label} | {pct:.1f} |" for label, pct in perf_by_dso(profilers.perf_data))
        out.append(
            "\n### Kernel paths (perf, % of the server's CPU samples, each with its callees: "
            "they overlap, e.g. a futex or epoll wait ends in a context switch)\n"
        )
        out.append("| path | % |\n|---|---|")
        out.extend(f"| {label} | {pct:.1f} |" for label, pct in perf_syscalls(profilers.perf_data))
    if profilers.pyspy_raw.exists():
        threads = pyspy_threads(profilers.pyspy_raw)
        out.append("\n### Threads (py-spy --idle, wall-time samples at 100 Hz)\n")
        out.append("| thread | samples | innermost frame | % of the thread |\n|---|---|---|---|")
        for t in threads:
            for i, (label, n) in enumerate(t.categories.most_common()):
                head = f"| {t.name} | {t.samples} |" if i == 0 else "|  |  |"
                out.append(f"{head} {label} | {100 * n / t.samples:.1f} |")
        main = threads[0] if threads else None  # MainThread, if sampled
        if main is not None and main.inclusive:
            out.append(f"\n### server_ref functions with the most time under them ({main.name}, "
                       "% of its wall-time samples)\n")  # fmt: skip
            out.append("| function | % |\n|---|---|")
            callers = [(f, n) for f, n in main.inclusive.most_common() if n < main.samples]
            for function, n in callers[:15]:  # less than all: not the entry point
                out.append(f"| `{function}` | {100 * n / main.samples:.1f} |")
    return "\n".join(out) + "\n"
