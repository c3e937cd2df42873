"""The client's metrics cost nothing until an application installs a meter provider."""

from __future__ import annotations

import subprocess
import sys


def test_without_a_meter_provider_nothing_is_measured() -> None:
    """In a fresh interpreter: off until an application installs a provider."""
    script = (
        "from opentelemetry import metrics\n"
        "from opentelemetry.sdk.metrics import MeterProvider\n"
        "from etcd3py import _metrics\n"
        "assert not _metrics.enabled()\n"
        "metrics.set_meter_provider(MeterProvider())\n"
        "assert _metrics.enabled()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
