"""The tests' port picker: ports outside the kernel's ephemeral range, a slice per
xdist worker, none given twice."""

from __future__ import annotations

import socket

import pytest

from tests.support import ports


def test_ports_are_outside_the_ephemeral_range_and_never_repeat() -> None:
    low, high = ports._ephemeral_range()
    picker = ports._Ports()
    got = [picker.take() for _ in range(200)]
    assert len(set(got)) == len(got)
    assert all(not low <= port <= high for port in got)


def test_a_bound_port_is_skipped() -> None:
    picker = ports._Ports()
    upcoming = picker.take()  # free now (this worker's own picker may use its neighbours)
    picker._next = picker._slice.index(upcoming)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", upcoming))
        busy.listen()
        assert picker.take() != upcoming


def test_each_worker_has_its_own_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    slices = []
    for index in range(4):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{index}")
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
        slices.append(set(ports._own_slice()))
    assert all(len(s) >= 1000 for s in slices)
    assert sum(len(s) for s in slices) == len(set().union(*slices))
