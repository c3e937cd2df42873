"""Every exception the SDK can raise is public, named as users import it, and says what failed."""

from __future__ import annotations

import pickle

import pytest

import etcd3py
import etcd3py.recipes
from etcd3py import _etcd_errors, errors
from etcd3py.errors import EtcdError, error_class_for, from_rpc_error
from tests.unit.test_error_registry import FakeRpcError


def every_error_class() -> list[type[EtcdError]]:
    """EtcdError and all its subclasses, wherever they are defined."""
    found: list[type[EtcdError]] = []
    todo: list[type[EtcdError]] = [EtcdError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_the_walk_finds_the_registry_and_the_client_side_classes() -> None:
    classes = set(every_error_class())
    assert {error_class_for(spec) for spec in _etcd_errors.ALL} <= classes
    assert set(errors._BY_CODE.values()) <= classes
    assert set(errors._BY_UNKNOWN_MESSAGE.values()) <= classes
    assert {errors.ArgumentTypeError, errors.EventLoopError, errors.STMConflictError} <= classes


@pytest.mark.parametrize("cls", every_error_class(), ids=lambda c: c.__name__)
def test_every_error_is_public(cls: type[EtcdError]) -> None:
    assert cls.__name__ in errors.__all__
    assert cls.__name__ in etcd3py.__all__
    assert getattr(etcd3py, cls.__name__) is cls
    assert getattr(errors, cls.__name__) is cls
    assert cls.__module__ == "etcd3py"  # as users import it, in reprs and tracebacks
    assert cls.__doc__, f"{cls.__name__} has no docstring"


def test_public_classes_report_the_package() -> None:
    assert repr(etcd3py.Client) == "<class 'etcd3py.Client'>"
    assert etcd3py.AsyncClient.__module__ == "etcd3py"
    assert etcd3py.recipes.Mutex.__module__ == "etcd3py.recipes"
    assert etcd3py.recipes.Queue.__mro__[1].__name__ == "_QueueBase"  # no Async in sync help()
    # the recipes' errors live in etcd3py.errors, and the recipes still export them
    assert etcd3py.recipes.STMConflictError is errors.STMConflictError


def test_a_server_error_names_the_operation_the_key_and_the_endpoint() -> None:
    spec = _etcd_errors.NO_SPACE
    error = from_rpc_error(
        FakeRpcError(spec.code, spec.message), "10.0.0.1:2379", operation="put", key=b"config/x"
    )
    assert str(error) == (
        "put 'config/x': etcdserver: mvcc: database space exceeded (endpoint 10.0.0.1:2379)"
    )
    assert (error.operation, error.key, error.endpoint) == ("put", b"config/x", "10.0.0.1:2379")
    assert error.details == spec.message  # etcd's own text, for matching


def test_compacted_error_shows_both_revisions() -> None:
    spec = _etcd_errors.COMPACTED
    read = from_rpc_error(FakeRpcError(spec.code, spec.message), operation="get", revision=3)
    assert isinstance(read, errors.CompactedError) and read.revision == 3
    assert "revision 3 asked for" in str(read)
    watched = errors.CompactedError(compact_revision=9, revision=4)
    assert "revision 4 asked for; compacted up to revision 9" in str(watched)


def test_argument_errors_are_value_and_type_errors_naming_the_argument() -> None:
    wrong_type = errors.ArgumentTypeError("ttl", "5", "an int")
    assert isinstance(wrong_type, TypeError) and isinstance(wrong_type, ValueError)
    assert str(wrong_type) == "ttl must be an int, not str '5'"
    assert (wrong_type.argument, wrong_type.value) == ("ttl", "5")
    out_of_range = errors.ArgumentError("ttl", 0, "at least 1")
    assert isinstance(out_of_range, ValueError) and not isinstance(out_of_range, TypeError)


def test_connection_failed_lists_the_endpoints_tried() -> None:
    error = errors.ConnectionFailedError("refused", operation="get", endpoints=["a:1", "b:2"])
    assert str(error) == "get: refused (endpoints tried: a:1, b:2)"
    assert error.endpoints == ("a:1", "b:2")


def test_errors_pickle_by_their_public_name() -> None:
    error = errors.NoSpaceError("etcdserver: mvcc: database space exceeded")
    assert type(pickle.loads(pickle.dumps(error))) is errors.NoSpaceError
