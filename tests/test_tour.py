"""The README's first command: the tour runs, tells its story, and is quick."""

from __future__ import annotations

import subprocess
import sys
import time


def test_the_tour() -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "etcd3py.tour"], capture_output=True, text=True, timeout=120
    )
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "discovered: ['10.0.0.5:8080', '10.0.0.6:8080']" in out
    assert "within its TTL: ['10.0.0.5:8080']" in out  # the crashed instance vanished
    assert "worker-2 holds the lock" in out and "worker-1 holds the lock" in out
    assert "node-2 won the election" in out and "observer sees: b'node-2'" in out
    assert "changed: {'mode': b'green'}" in out
    assert sorted(line.split()[-1] for line in out.splitlines() if " took job-" in line) == [
        f"job-{n}" for n in range(1, 7)
    ]
    assert "leads now, elected" in out  # the cluster chapter: the leader's member killed
    assert "the client wrote after the failover: b'2'" in out
    assert "reads answered {b'1'}, 0 failed" in out
    assert took < 60, f"the tour took {took:.1f}s"
