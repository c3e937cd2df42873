"""A raised NOSPACE alarm as etcdctl 3.5.1 and ``etcd3py`` show it (alarm list, endpoint
health and status) and disarm it, on a server of their own with a small quota."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import etcd3py
from tests.cli.ops_support import Pair, own_server
from tests.conftest import BACKENDS

QUOTA = 200_000


@pytest.fixture(scope="module", params=BACKENDS)
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    for endpoint in own_server(request.param, tmp_path_factory.mktemp("quota"), quota=QUOTA):
        yield Pair(endpoint)


def raise_nospace(pair: Pair) -> None:
    """Write until the quota is exceeded: the server raises NOSPACE."""
    with pair.client() as client:
        for i in range(QUOTA // 100):  # far more than the quota holds
            try:
                client.put(f"fill/{uuid.uuid4()}/{i}", bytes(4000))
            except etcd3py.NoSpaceError:
                break
        assert client.alarms(), "no alarm raised"


def test_a_raised_alarm(pair: Pair) -> None:
    raise_nospace(pair)
    for fmt in ["simple", "json", "fields", "protobuf", "table"]:
        pair.both("alarm", "list", "-w", fmt)
        pair.both("endpoint", "status", "-w", fmt)
    for fmt in ["simple", "json", "table"]:
        pair.both("endpoint", "health", "-w", fmt)


@pytest.mark.parametrize("fmt", ["simple", "json", "protobuf"])
def test_disarm(pair: Pair, fmt: str) -> None:
    runs = []
    for ours in (False, True):
        raise_nospace(pair)
        runs.append(pair.view(pair.run(ours, "alarm", "disarm", "-w", fmt)))
        with pair.client() as client:
            assert client.alarms() == []
    assert runs[1] == runs[0]
