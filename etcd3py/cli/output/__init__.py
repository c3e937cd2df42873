"""One printer per ``-w/--write-out`` format, as etcdctl has one per format.

A command asks ``printer_for(config)`` for the printer and hands it the client's response
(``printer.get(response)``); a printer that has no form for a response raises etcdctl's
``<format> not supported as output format`` error (exit 4), as etcdctl's do.
"""

from __future__ import annotations

from ..errors import EXIT_BAD_FEATURE, CliError
from .base import Printer
from .fields import FieldsPrinter
from .json import JsonPrinter
from .protobuf import ProtobufPrinter
from .simple import SimplePrinter
from .table import TablePrinter

FORMATS: dict[str, type[Printer]] = {
    "simple": SimplePrinter,
    "fields": FieldsPrinter,
    "json": JsonPrinter,
    "protobuf": ProtobufPrinter,
    "table": TablePrinter,
}


def make_printer(write_out: str, is_hex: bool) -> Printer:
    """The printer for a ``--write-out`` value; etcdctl's error for an unknown one."""
    kind = FORMATS.get(write_out)
    if kind is None:
        raise CliError(EXIT_BAD_FEATURE, "unsupported output format")
    return kind(is_hex=is_hex)


__all__ = ["FORMATS", "Printer", "make_printer"]
