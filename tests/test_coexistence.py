"""etcd3py and another etcd client in one process, imported in either order.

Other clients register etcd's messages in protobuf's default descriptor pool; ours live
in a pool of their own (etcd3py/_proto/_pool.py), so both import and both work, and the
wire stays etcd's. Each case runs in a fresh interpreter (tests/support/coexist_probe.py),
since the clash only shows at import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.support.backends import Backend

ROOT = Path(__file__).resolve().parent.parent
PROBE = "tests.support.coexist_probe"


def environment(client: str) -> dict[str, str]:
    env = dict(os.environ)
    if client == "etcd3":
        # python-etcd3 0.12's generated code predates protobuf 4 and imports only under
        # the pure-Python backend, which so gets a test here too
        env["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
    return env


@cache
def why_not_importable(client: str) -> str | None:
    """None when ``client`` imports on its own here; else the error it raises."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {client}"],
        env=environment(client),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode == 0:
        return None
    return (result.stderr.strip().splitlines() or ["(no message)"])[-1]


@pytest.mark.parametrize("order", ["theirs-first", "ours-first"])
@pytest.mark.parametrize("client", ["aetcd", "etcd3aio", "etcd3"])
def test_another_client_in_the_same_process(
    backend: Backend, prefix: bytes, client: str, order: str
) -> None:
    reason = why_not_importable(client)
    if reason is not None:
        # aetcd's and etcd3aio's generated code needs protobuf >= 5.27 / 6.31
        pytest.skip(f"{client} does not import here even alone: {reason}")
    result = subprocess.run(
        [sys.executable, "-m", PROBE, client, order, backend.endpoint, prefix.decode()],
        cwd=ROOT,
        env=environment(client),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen == {
        "theirs_read_ours": "written by etcd3py",
        "ours_read_theirs": f"written by {client}",
        "same_bytes": True,
        "they_parse_ours": True,
        "full_names": ["etcdserverpb.RangeResponse", "etcdserverpb.RangeResponse"],
        "our_file_in_default_pool": False,
    }
