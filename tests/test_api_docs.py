"""Every public class, method, property and function has a docstring of its own.

The public API is what the three packages export in ``__all__``; the API reference
(mkdocs.yml, docs/reference/) is generated from these docstrings.
"""

from __future__ import annotations

import enum
import importlib
import inspect
from collections.abc import Iterator
from typing import Any

PUBLIC_PACKAGES = ["etcd3py", "etcd3py.recipes", "etcd3py.server_ref", "etcd3py.testing"]


def own_docstring(obj: Any) -> str | None:
    """The object's own docstring (not inherited), or None when it has none."""
    doc = obj.__doc__ if isinstance(obj, type | property) else getattr(obj, "__doc__", None)
    return doc.strip() if isinstance(doc, str) and doc.strip() else None


def class_docstring(cls: type) -> str | None:
    doc = vars(cls).get("__doc__")
    if not isinstance(doc, str) or not doc.strip():
        return None
    # what dataclasses and Enum write when the class has none
    if doc.startswith(f"{cls.__name__}(") or doc == "An enumeration.":
        return None
    return doc


def own_members(cls: type) -> Iterator[tuple[str, Any]]:
    """Public methods and properties that our code defines on ``cls`` or its bases."""
    for name in dir(cls):
        if name.startswith("_"):
            continue
        owner = next(k for k in cls.__mro__ if name in vars(k))
        if not owner.__module__.startswith("etcd3py"):
            continue  # object's, Exception's, Mapping's, Enum's: documented upstream
        raw = vars(owner)[name]
        if isinstance(raw, staticmethod | classmethod):
            raw = raw.__func__
        if isinstance(raw, property) or inspect.isfunction(raw):
            yield name, raw


def undocumented() -> Iterator[str]:
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            where = f"{package}.{name}"
            if inspect.isclass(obj):
                if class_docstring(obj) is None:
                    yield where
                if issubclass(obj, enum.Enum):
                    continue
                for member, raw in own_members(obj):
                    if own_docstring(raw) is None:
                        yield f"{where}.{member}"
            elif callable(obj) and own_docstring(obj) is None:
                yield where


def test_every_public_name_has_a_docstring() -> None:
    missing = sorted(set(undocumented()))
    assert not missing, f"{len(missing)} public names lack a docstring:\n" + "\n".join(missing)


def test_the_walk_sees_what_it_should() -> None:
    """The check cannot pass by looking at nothing."""
    import etcd3py

    walked = dict(own_members(etcd3py.Client))
    assert {"get", "put", "delete", "member_list", "user_add"} <= set(walked)
    assert "count" in dict(own_members(etcd3py.GetResponse))  # a property
    assert "__init__" not in walked and "with_traceback" not in dict(own_members(etcd3py.EtcdError))

    class Bare:
        def method(self) -> None:
            pass

    Bare.__module__ = "etcd3py.fake"
    assert [name for name, raw in own_members(Bare) if own_docstring(raw) is None] == ["method"]
