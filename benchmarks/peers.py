"""The clients compared, and the virtualenvs the peer clients run in.

etcd3py and the raw stubs run under the interpreter running the benchmarks. Each
peer gets its own virtualenv under ``.cache/bench-venvs/`` (created on first use,
re-created when its requirements change), so its protobuf never meets ours:
python-etcd3's generated code needs protobuf 3.x.

protobuf 3.20.3, the last 3.x, has binary wheels up to Python 3.10 only: under
Python 3.11 pip installs its pure-Python implementation, several times slower.
python-etcd3 is therefore measured twice: on this interpreter (what a Python 3.11
user gets) and on Python 3.10 with protobuf's C++ implementation (its best case).
"""

from __future__ import annotations

import glob
import importlib.metadata
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_ROOT = ROOT / ".cache" / "bench-venvs"
PIP_TIMEOUT = 600


class Unavailable(Exception):
    """A client that cannot be measured here; the message says why."""


@dataclass(frozen=True)
class PeerEnv:
    """A virtualenv for one peer: where, made by which interpreter, holding what."""

    name: str
    python: tuple[str, ...]  # interpreter candidates (globs), the first found is used
    requirements: tuple[str, ...]
    imports: str  # the module the worker needs, imported once to check the install

    @property
    def path(self) -> Path:
        return VENV_ROOT / self.name


@dataclass(frozen=True)
class ClientSpec:
    key: str
    label: str
    kind: str  # "sync" or "async": which floor it is compared with
    module: str  # the worker, run as ``python -m``
    env: PeerEnv | None = None  # None: this interpreter, with etcd3py installed
    floor: bool = False
    # workloads this client's API cannot do, with the reason (reported, not run)
    unsupported: tuple[tuple[str, str], ...] = ()

    def cannot(self, workload: str) -> str | None:
        """Why this client cannot run ``workload``, or None when it can."""
        return dict(self.unsupported).get(workload)


def _same_grpcio() -> str:
    """grpcio pinned to our version, so peers differ from us in their code only."""
    return f"grpcio=={importlib.metadata.version('grpcio')}"


def clients() -> list[ClientSpec]:
    this_python = (sys.executable,)
    # python-etcd3's lock breaks with tenacity >= 7 (kragniz/python-etcd3#1543); its
    # metadata asks for >= 6.1.0 only, so pip would install one that breaks it.
    etcd3_reqs = ("etcd3==0.12.0", "protobuf==3.20.3", "tenacity==6.3.1", _same_grpcio())
    aetcd_reqs = (
        "aetcd==1.0.0",
        f"protobuf=={importlib.metadata.version('protobuf')}",
        _same_grpcio(),
    )
    etcd3aio_reqs = (
        "etcd3aio==0.3.0",
        f"protobuf=={importlib.metadata.version('protobuf')}",
        _same_grpcio(),
    )
    # a Rust client (the etcd-client crate, through PyO3): no grpcio, no protobuf
    etcd_client_py_reqs = ("etcd-client-py==0.5.1",)
    py310 = ("/root/.pyenv/versions/3.10*/bin/python3", "/usr/bin/python3.10", "python3.10")
    w = "benchmarks.workers."
    return [
        ClientSpec("raw_sync", "raw sync stub", "sync", w + "raw_sync", floor=True),
        ClientSpec("raw_aio", "raw grpc.aio stub", "async", w + "raw_aio", floor=True),
        ClientSpec("etcd3py", "etcd3py Client", "sync", w + "etcd3py_sync"),
        ClientSpec("etcd3py_async", "etcd3py AsyncClient", "async", w + "etcd3py_async"),
        ClientSpec(
            "python_etcd3",
            "python-etcd3 (py3.11, pure-Python protobuf)",
            "sync",
            w + "peer_etcd3",
            PeerEnv("etcd3", this_python, etcd3_reqs, "etcd3"),
        ),
        ClientSpec(
            "python_etcd3_py310",
            "python-etcd3 (py3.10, C++ protobuf)",
            "sync",
            w + "peer_etcd3",
            PeerEnv("etcd3-py310", py310, etcd3_reqs, "etcd3"),
        ),
        ClientSpec(
            "aetcd",
            "aetcd",
            "async",
            w + "peer_aetcd",
            PeerEnv("aetcd", this_python, aetcd_reqs, "aetcd"),
        ),
        ClientSpec(
            "etcd3aio",
            "etcd3aio",
            "async",
            w + "peer_etcd3aio",
            PeerEnv("etcd3aio", this_python, etcd3aio_reqs, "etcd3aio"),
        ),
        ClientSpec(
            "etcd_client_py",
            "etcd-client-py (Rust, PyO3)",
            "async",
            w + "peer_etcd_client_py",
            PeerEnv("etcd-client-py", this_python, etcd_client_py_reqs, "etcd_client"),
            unsupported=(
                (
                    "leases",
                    "lease_grant() returns () in 0.5.1, no lease id: a lease it grants "
                    "cannot be kept alive or looked up",
                ),
            ),
        ),
    ]


def _find_python(candidates: tuple[str, ...]) -> str:
    for candidate in candidates:
        if "/" not in candidate:
            found = shutil.which(candidate)
            if found:
                return found
            continue
        matches = sorted(glob.glob(candidate))
        if matches:
            return matches[-1]
    raise Unavailable(f"no interpreter found among {', '.join(candidates)}")


def interpreter(spec: ClientSpec, log: Path) -> str:
    """The python that runs ``spec``'s worker, creating its virtualenv if needed."""
    if spec.env is None:
        return sys.executable
    env = spec.env
    python = env.path / "bin" / "python"
    marker = env.path / "bench-requirements.txt"
    wanted = "\n".join(env.requirements) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return str(python)
    base = _find_python(env.python)
    shutil.rmtree(env.path, ignore_errors=True)
    env.path.parent.mkdir(parents=True, exist_ok=True)
    print(f"creating {env.path} ({base}): {' '.join(env.requirements)}", file=sys.stderr)
    steps = [
        [base, "-m", "venv", str(env.path)],
        [str(python), "-m", "pip", "install", "-q", *env.requirements],
        [str(python), "-c", f"import {env.imports}"],
    ]
    with open(log, "a") as out:
        for step in steps:
            out.write(f"$ {' '.join(step)}\n")
            out.flush()
            try:
                done = subprocess.run(
                    step, stdout=out, stderr=subprocess.STDOUT, timeout=PIP_TIMEOUT, check=False
                )
            except subprocess.TimeoutExpired:
                raise Unavailable(f"`{' '.join(step)}` took over {PIP_TIMEOUT}s") from None
            if done.returncode != 0:
                out.flush()
                raise Unavailable(
                    f"`{' '.join(step)}` failed (exit {done.returncode}): {_tail(log)}"
                )
    marker.write_text(wanted)
    return str(python)


def _tail(log: Path, lines: int = 3) -> str:
    """The last lines of a pip log worth showing (pip's mirror warnings left out)."""
    text = log.read_text(errors="replace").splitlines()
    kept = [t.strip() for t in text if t.strip() and not t.startswith("$ ")]
    kept = [t for t in kept if "is ignored" not in t]
    return " | ".join(kept[-lines:])
