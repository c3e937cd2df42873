"""Public classes report the name users import them by.

Classes live in underscore modules (``etcd3py._sync._client``), but users import
them from the package; reprs, tracebacks, ``help()`` and the docs should say
``etcd3py.Client``, not where the class happens to be written. Pickle finds them
by that name too, since the package exports them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def publish(namespace: Mapping[str, object], names: Iterable[str]) -> None:
    """Set ``__module__`` of the package's own classes in ``names`` to the package."""
    package = str(namespace["__name__"])
    for name in names:
        obj = namespace.get(name)
        if isinstance(obj, type) and obj.__module__.startswith(package + "."):
            obj.__module__ = package
