"""When each env was last used (for `publish env list`): a small JSON file in the cache."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from publisher.paths import cache_root

_lock = threading.Lock()


def _path() -> Path:
    return cache_root() / "env-usage.json"


def load_usage() -> dict[str, float]:
    try:
        data = json.loads(_path().read_text())
        return {str(k): float(v) for k, v in data.items()}
    except (OSError, ValueError):
        return {}


def record_use(env_id: str) -> None:
    with _lock:
        data = load_usage()
        data[env_id] = time.time()
        path = _path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)
