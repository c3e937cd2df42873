"""gRPC's C-core log lines stay off stderr unless the user asks for them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.servers import EtcdProcess

# A client whose keep-alive pings every second: etcd (--grpc-keepalive-min-time 5s)
# answers with GOAWAY too_many_pings, which gRPC's C core reports on stderr.
PROGRAM = """
import sys, time
from etcd3py import Client
with Client(sys.argv[1], keepalive_time=1, keepalive_timeout=1) as client:
    client.put("k", "v")
    watch = client.watch("k").start()
    time.sleep(7)
    print(client.get("k").value)
    watch.cancel()
"""


def run(endpoint: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GRPC_")}
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, endpoint],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environment, **env},
    )


@pytest.mark.slow
def test_grpc_core_lines_are_quiet_unless_asked_for(real_etcd: EtcdProcess) -> None:
    quiet = run(real_etcd.endpoint)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "b'v'"
    assert "chttp2_transport" not in quiet.stderr, quiet.stderr
    # the same program with the user's own setting: gRPC speaks (so the check above can fail)
    asked = run(real_etcd.endpoint, GRPC_VERBOSITY="INFO")
    assert "too_many_pings" in asked.stderr, asked.stderr
