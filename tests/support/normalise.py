"""One rule for comparing two servers' answers: what differs between servers by nature
(member and cluster ids, raft terms, absolute revisions) is taken out.

``normalised(data, base)`` walks a response turned into plain data
(``json_format.MessageToDict``): ids and terms dropped, revisions made relative to
``base``; ``bytes_fields`` (base64 in that form) decoded, so a failure reads as bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Collection
from typing import Any

SERVER_SPECIFIC = ("cluster_id", "member_id", "raft_term")
REVISIONS = ("revision", "create_revision", "mod_revision")


def normalised(data: Any, base: int, bytes_fields: Collection[str] = ()) -> Any:
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if k in SERVER_SPECIFIC:
                continue
            if k in REVISIONS:
                v = int(v) - base
            elif k in bytes_fields:
                v = base64.b64decode(v)
            out[k] = normalised(v, base, bytes_fields)
        return out
    if isinstance(data, (list, tuple)):
        return type(data)(normalised(v, base, bytes_fields) for v in data)
    return data
