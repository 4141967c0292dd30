"""Which build of trainlint is running: what the result cache and the rule catalog are keyed by.

Its own module because both use it: the registry (rule catalog) must not import the cache.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

try:  # what hashlib.blake2b is, without hashlib's OpenSSL import (~2.5 ms of a warm run)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b


@lru_cache(maxsize=1)
def tool_fingerprint() -> str:
    """The version plus the size and mtime of every source file of trainlint and its rules."""
    import importlib.util

    import trainlint

    folders = [Path(trainlint.__file__).parent]
    spec = importlib.util.find_spec("trainlint.rules")
    if spec is not None and spec.submodule_search_locations:
        folders.extend(Path(p) for p in spec.submodule_search_locations)
    h = blake2b(digest_size=16)
    h.update(getattr(trainlint, "__version__", "0").encode())
    seen = set()
    for folder in folders:
        for directory, _dirs, files in os.walk(folder):
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    if path in seen:
                        continue
                    seen.add(path)
                    st = os.stat(path)
                    h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
