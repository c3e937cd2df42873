"""Bad cluster flags: etcd 3.5.1 and server_ref both refuse to start, and say why.

The texts differ in details (docs/cluster.md, "Where it differs"); each case checks what
both name, and each binary's exit status as probed.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import EtcdProcess, RefProcess, free_port


@dataclass
class Case:
    name: str
    initial_cluster: str
    state: str
    says: str  # a pattern both binaries' output matches
    status: dict[str, int]  # each binary's exit status


def cases(peer: str) -> list[Case]:
    return [
        Case(
            "m9",
            f"m0={peer}",
            "new",
            r"couldn't find local name \\?[\"']m9\\?[\"'] in the initial cluster configuration",
            {"etcd": 1, "server_ref": 1},
        ),
        Case(
            "m0",
            f"m0={peer}",
            "bogus",
            r"(?=.*bogus)(?=.*initial-cluster-state)",  # the value and the flag, in any order
            {"etcd": 2, "server_ref": 2},
        ),
        Case(
            "m0",
            "m0=http://127.0.0.1:1",
            "new",
            r"--initial-cluster has m0=http://127\.0\.0\.1:1 but missing from "
            r"--initial-advertise-peer-urls=" + re.escape(peer),
            {"etcd": 1, "server_ref": 1},
        ),
        Case(
            "m0",
            "m0",
            "new",
            r"initial[ -]cluster",  # etcd: a URL scheme; server_ref: a name=URL entry
            {"etcd": 1, "server_ref": 2},
        ),
    ]


@pytest.mark.parametrize("case", range(4), ids=["name", "state", "peer-url", "entry"])
@pytest.mark.parametrize("binary", ["etcd", "server_ref"])
def test_bad_cluster_flags_refused(binary: str, case: int, tmp_path: Path) -> None:
    peer_port = free_port()
    bad = cases(f"http://127.0.0.1:{peer_port}")[case]
    member_class = EtcdProcess if binary == "etcd" else RefProcess
    member = member_class(
        tmp_path / "data",
        name=bad.name,
        peer_port=peer_port,
        initial_cluster=bad.initial_cluster,
        cluster_state=bad.state,
    )
    run = subprocess.run(member.command(), capture_output=True, text=True, timeout=30, cwd=tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == bad.status[binary], output[-2000:]
    assert re.search(bad.says, output), output[-2000:]
