"""Our generated protobuf modules stay out of protobuf's default pool (etcd3py/_proto/_pool.py)."""

from __future__ import annotations

import pickle
import sys
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, text_format

from etcd3py._proto import _pool, auth_pb2, kv_pb2, rpc_pb2, v3election_pb2, v3lock_pb2

MODULES = [auth_pb2, kv_pb2, rpc_pb2, v3election_pb2, v3lock_pb2]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_generated_files_live_in_our_pool_only(module: Any) -> None:
    assert module.DESCRIPTOR.pool is _pool.POOL
    with pytest.raises(KeyError):
        descriptor_pool.Default().FindFileByName(module.DESCRIPTOR.name)


def test_classes_are_named_after_their_module_and_behave_as_generated() -> None:
    response = rpc_pb2.RangeResponse(count=1)
    response.kvs.add(key=b"k", value=b"v")
    assert type(response).__module__ == "etcd3py._proto.rpc_pb2"
    assert pickle.loads(pickle.dumps(response)) == response
    assert json_format.ParseDict(json_format.MessageToDict(response), rpc_pb2.RangeResponse()) == (
        response
    )
    assert text_format.Parse(str(response), rpc_pb2.RangeResponse()) == response
    assert rpc_pb2.AlarmType.Name(rpc_pb2.NOSPACE) == "NOSPACE"
    assert rpc_pb2.RangeRequest.SortOrder.Value("DESCEND") == rpc_pb2.RangeRequest.DESCEND == 2


def test_nested_messages_become_class_attributes() -> None:
    """etcd's protos have nested enums only; build_module also handles nested messages."""
    proto = descriptor_pb2.FileDescriptorProto(name="probe/nested.proto", package="probe")
    outer = proto.message_type.add(name="Outer")
    inner = outer.nested_type.add(name="Inner")
    inner.field.add(name="n", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64)
    outer.field.add(
        name="inner",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
        type_name=".probe.Outer.Inner",
    )
    file = descriptor_pool.DescriptorPool().AddSerializedFile(proto.SerializeToString())
    module = ModuleType("probe_nested_pb2")
    _pool.build_module(file, module.__name__, vars(module))
    sys.modules[module.__name__] = module
    try:
        message = module.Outer(inner=module.Outer.Inner(n=3))
        assert module.Outer.Inner.__qualname__ == "Outer.Inner"
        assert module._OUTER_INNER is module.Outer.Inner.DESCRIPTOR
        assert type(message.inner) is module.Outer.Inner
        assert pickle.loads(pickle.dumps(message)) == message
    finally:
        del sys.modules[module.__name__]
