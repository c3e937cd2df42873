"""What the fixtures cost a test, measured the way users pay it: setup + call +
teardown of 50 tests each, in a pytester run."""

from __future__ import annotations

import json
import statistics

import pytest

RUNS = 50
TIMING_CONFTEST = """
import json, pytest

TIMES = {}

def pytest_runtest_logreport(report):
    TIMES.setdefault(report.nodeid, {})[report.when] = report.duration

def pytest_sessionfinish(session):
    with open("times.json", "w") as f:
        json.dump(TIMES, f)
"""
USER_TESTS = f"""
import pytest

@pytest.mark.parametrize("i", range({RUNS}))
def test_empty(i):
    pass

@pytest.mark.parametrize("i", range({RUNS}))
def test_client(i, etcd_client):
    pass

def test_cluster(etcd_cluster):
    pass
"""


def _total_ms(phases: dict[str, float]) -> float:
    return 1000 * sum(phases.values())


@pytest.mark.slow
def test_a_test_with_etcd_client_costs_under_20_ms_more(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(TIMING_CONFTEST)
    pytester.makepyfile(test_cost=USER_TESTS)
    pytester.runpytest().assert_outcomes(passed=2 * RUNS + 1)
    times = json.loads((pytester.path / "times.json").read_text())
    empty = statistics.median(_total_ms(t) for n, t in times.items() if "test_empty" in n)
    client = statistics.median(_total_ms(t) for n, t in times.items() if "test_client" in n)
    (cluster,) = (t for n, t in times.items() if "test_cluster" in n)
    print(
        f"\nper test, median of {RUNS}: empty {empty:.2f} ms, with etcd_client {client:.2f} ms "
        f"(+{client - empty:.2f} ms); etcd_cluster setup {1000 * cluster['setup']:.0f} ms, "
        f"teardown {1000 * cluster['teardown']:.0f} ms"
    )
    assert client - empty < 20.0
