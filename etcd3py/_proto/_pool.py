"""The descriptor pool of etcd3py's generated protobuf modules, kept out of protobuf's default.

Other etcd clients (aetcd, etcd3aio, python-etcd3 ...) register etcd's messages
(``mvccpb.KeyValue``, ``etcdserverpb.RangeRequest`` ...) in protobuf's process-wide
default pool, which refuses a second definition of a name from another file. Our
generated modules (rewritten by scripts/gen_protos.py) add their files to POOL instead,
one pool for all of them because rpc.proto imports kv.proto and auth.proto, and build
their classes with build_module(), which fills a module the way protobuf's generated-code
builder does but without registering in the default symbol database: under the
pure-Python backend that registration writes into the default pool and clashes too.
Names and wire bytes are etcd's either way; only the registry differs.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message

POOL = descriptor_pool.DescriptorPool()


def build_module(file: FileDescriptor, module_name: str, namespace: dict[str, Any]) -> None:
    """Define in ``namespace`` what a generated ``_pb2`` module exposes for ``file``.

    Message classes (nested ones as class attributes), top-level enums as wrappers
    with their values as constants, and the ``_UPPER`` descriptor globals that the
    generated module's pure-Python branch annotates.
    """
    for name, enum in file.enum_types_by_name.items():
        namespace[f"_{name.upper()}"] = enum
        namespace[name] = EnumTypeWrapper(enum)
        for value in enum.values:
            namespace[value.name] = value.number
    for name, service in file.services_by_name.items():
        namespace[f"_{name.upper()}"] = service
    for name, message in file.message_types_by_name.items():
        _name_descriptors(namespace, message, f"_{name.upper()}")
        namespace[name] = _message_class(message, module_name, name)


def _name_descriptors(namespace: dict[str, Any], message: Descriptor, global_name: str) -> None:
    namespace[global_name] = message
    for enum in message.enum_types:
        namespace[f"{global_name}_{enum.name.upper()}"] = enum
    for nested in message.nested_types:
        _name_descriptors(namespace, nested, f"{global_name}_{nested.name.upper()}")


def _message_class(message: Descriptor, module_name: str, qualname: str) -> type[Message]:
    cls = message_factory.GetMessageClass(message)
    # named after the module that exposes it, for repr, pickling and the type stubs
    cls.__module__ = module_name
    cls.__qualname__ = qualname
    for nested in message.nested_types:
        setattr(cls, nested.name, _message_class(nested, module_name, f"{qualname}.{nested.name}"))
    return cls
