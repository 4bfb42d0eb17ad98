"""Server-Sent Events in BinderHub's format: ``data: {"phase": ..., "message": ...}``."""

from __future__ import annotations

import json
from typing import Any

KEEPALIVE = b": keepalive\n\n"


def sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()
