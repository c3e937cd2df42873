"""Every row of etcd's error table maps to its own typed class."""

from __future__ import annotations

import grpc
import pytest

from etcd3py import _etcd_errors
from etcd3py import errors as _errors
from etcd3py.errors import EtcdError, error_class_for, from_rpc_error


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize("spec", _etcd_errors.ALL, ids=lambda s: s.message)
def test_every_etcd_error_has_a_class(spec: _etcd_errors.ErrorSpec) -> None:
    rpc_error = FakeRpcError(spec.code, spec.message)
    error = from_rpc_error(rpc_error)
    assert type(error) is error_class_for(spec)
    assert isinstance(error, EtcdError) and error.code == spec.code
    assert error.__cause__ is rpc_error and str(error) == spec.message


def test_classes_are_distinct() -> None:
    classes = [error_class_for(spec) for spec in _etcd_errors.ALL]
    assert len(set(classes)) == len(classes)


def test_unknown_message_falls_back_to_its_code() -> None:
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "something new"))
    assert type(error) is _errors.InvalidArgumentError and isinstance(error, ValueError)
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "socket closed"), "host:1")
    assert type(error) is _errors.UnavailableError and "(endpoint host:1)" in str(error)


def test_message_with_another_code_is_not_trusted() -> None:
    # a message of etcd's table that arrives with another code gets that code's class
    code = grpc.StatusCode.INVALID_ARGUMENT
    error = from_rpc_error(FakeRpcError(code, _etcd_errors.COMPACTED.message))
    assert type(error) is _errors.InvalidArgumentError


def test_errors_relayed_by_the_lock_and_election_services() -> None:
    # they pass etcd's errors (and Go's concurrency package's) through as UNKNOWN
    unknown = grpc.StatusCode.UNKNOWN
    relayed = from_rpc_error(FakeRpcError(unknown, _etcd_errors.LEASE_NOT_FOUND.message))
    assert type(relayed) is _errors.LeaseNotFoundError and relayed.code == unknown
    for message, cls in [
        ("election: not leader", _errors.ElectionNotLeaderError),
        ("election: no leader", _errors.ElectionNoLeaderError),
        ("mutex: session is expired", _errors.LockNotHeldError),
        ("something new", _errors.UnknownError),
    ]:
        assert type(from_rpc_error(FakeRpcError(unknown, message))) is cls


def test_go_context_errors_are_deadlines_and_cancellations() -> None:
    unknown = grpc.StatusCode.UNKNOWN
    deadline = from_rpc_error(FakeRpcError(unknown, "context deadline exceeded"))
    assert type(deadline) is _errors.DeadlineExceededError and isinstance(deadline, TimeoutError)
    assert deadline.code == unknown  # what the server said stays visible
    assert type(from_rpc_error(FakeRpcError(unknown, "context canceled"))) is _errors.CancelledError


def test_server_side_cancellation_is_an_endpoint_failure() -> None:
    from etcd3py._methods import Retry
    from etcd3py._retry import endpoint_failed, may_retry

    by_server = FakeRpcError(grpc.StatusCode.CANCELLED, "CANCELLED")
    by_us = FakeRpcError(grpc.StatusCode.CANCELLED, "Locally cancelled by application!")
    assert endpoint_failed(by_server) and may_retry(by_server, Retry.SAFE)
    assert not may_retry(by_server, Retry.WRITE)  # a write may have been applied
    assert not endpoint_failed(by_us) and not may_retry(by_us, Retry.SAFE)


def test_a_dropped_proposal_is_repeated_even_as_a_write() -> None:
    """etcd's raft drops a proposal before logging it (during a leader transfer): the
    write was not applied, so repeating it is safe; a timeout is not."""
    from etcd3py._methods import Retry
    from etcd3py._retry import may_retry

    dropped = FakeRpcError(grpc.StatusCode.UNKNOWN, "raft proposal dropped")
    timed_out = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "etcdserver: request timed out")
    assert may_retry(dropped, Retry.WRITE) and may_retry(dropped, Retry.SAFE)
    assert not may_retry(dropped, Retry.NEVER)
    assert not may_retry(timed_out, Retry.WRITE)
    assert type(from_rpc_error(dropped)) is _errors.ProposalDroppedError
