"""Small files that must be whole or absent after a crash, and on disk when the call returns."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Write ``data`` to a temporary sibling, fsync it, then rename it over ``path``.

    ``mode`` is the new file's permission bits before the umask (0o600 for a secret).
    """
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
