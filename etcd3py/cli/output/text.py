"""Go's ways of writing bytes as text, which etcdctl's formats use."""

from __future__ import annotations

import unicodedata

_ESCAPES = {
    7: "\\a",
    8: "\\b",
    12: "\\f",
    10: "\\n",
    13: "\\r",
    9: "\\t",
    11: "\\v",
    92: "\\\\",
    34: '\\"',
}


def go_quote(data: bytes) -> str:
    """Go's ``%q`` of a string (strconv.Quote): printable runes as they are, escapes
    otherwise, ``\\xHH`` for bytes that are not UTF-8."""
    out = ['"']
    i = 0
    while i < len(data):
        rune, size = _decode_rune(data, i)
        if rune is None:
            out.append(f"\\x{data[i]:02x}")
        elif rune in _ESCAPES:
            out.append(_ESCAPES[rune])
        elif _is_print(rune):
            out.append(chr(rune))
        elif rune < 0x20:
            out.append(f"\\x{rune:02x}")
        elif rune < 0x10000:
            out.append(f"\\u{rune:04x}")
        else:
            out.append(f"\\U{rune:08x}")
        i += size
    out.append('"')
    return "".join(out)


def _decode_rune(data: bytes, i: int) -> tuple[int | None, int]:
    """The UTF-8 rune at ``i`` and its length; (None, 1) for an invalid byte."""
    first = data[i]
    if first < 0x80:
        return first, 1
    for size in (2, 3, 4):
        chunk = data[i : i + size]
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if len(text) == 1:
            return ord(text), size
    return None, 1


def _is_print(rune: int) -> bool:
    """Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space."""
    if rune == 0x20:
        return True
    return unicodedata.category(chr(rune))[0] in "LMNPS"


def hex_escaped(data: bytes) -> bytes:
    """``--hex``: every byte as ``\\xHH``."""
    return "".join(f"\\x{b:02x}" for b in data).encode()
