#!/usr/bin/env python3
"""Regenerate etcd3py/_proto/*_pb2*.py from our .proto transcriptions.

The generator is pinned (GRPCIO_TOOLS) because the generated code decides which
protobuf/grpcio runtimes can import it: code from grpcio-tools 1.62 (protoc 25)
carries no runtime version gate, so it imports under protobuf 4.25 through 7.x and
any grpcio >= 1.62. Newer generators pin the runtime to their own version. When the
running interpreter lacks that exact version, a private virtualenv in .cache/ is used.

    python scripts/gen_protos.py           # rewrite the generated files
    python scripts/gen_protos.py --check   # exit 1 when they are stale
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

GRPCIO_TOOLS = "1.62.3"
ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "etcd3py" / "_proto"
CACHE_VENV = ROOT / ".cache" / f"grpcio-tools-{GRPCIO_TOOLS}"


def _tools_python() -> str:
    """Return an interpreter that has the pinned grpcio-tools."""
    probe = "import grpc_tools, importlib.metadata as m; print(m.version('grpcio-tools'))"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if found.returncode == 0 and found.stdout.strip() == GRPCIO_TOOLS:
        return sys.executable
    python = CACHE_VENV / "bin" / "python"
    if not python.exists():
        venv.create(CACHE_VENV, with_pip=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"grpcio-tools=={GRPCIO_TOOLS}"],
            check=True,
        )
    return str(python)


def _generate(out_dir: Path) -> list[str]:
    protos = sorted(p.relative_to(ROOT).as_posix() for p in PROTO_DIR.glob("*.proto"))
    cmd = [
        _tools_python(),
        "-m",
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *protos,
    ]
    subprocess.run(cmd, check=True, cwd=ROOT)
    generated = out_dir / "etcd3py" / "_proto"
    return sorted(p.name for p in generated.iterdir() if p.name.endswith((".py", ".pyi")))


def _checked_in() -> list[str]:
    return sorted(
        p.name for p in PROTO_DIR.iterdir() if "_pb2" in p.name and p.name.endswith((".py", ".pyi"))
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        names = _generate(out)
        fresh = out / "etcd3py" / "_proto"
        if args.check:
            stale = [
                n
                for n in names
                if not (PROTO_DIR / n).exists()
                or not filecmp.cmp(fresh / n, PROTO_DIR / n, shallow=False)
            ]
            extra = sorted(set(_checked_in()) - set(names))
            if stale or extra:
                print("stale generated protobuf code:", *stale, *extra)
                return 1
            print(f"generated protobuf code is up to date ({len(names)} files)")
            return 0
        for name in _checked_in():
            (PROTO_DIR / name).unlink()
        for name in names:
            shutil.copyfile(fresh / name, PROTO_DIR / name)
        print(f"wrote {len(names)} files to {PROTO_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
