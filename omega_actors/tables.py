"""Frozen settings dataclasses built from one TOML table, with errors that say where.

Layers other than the runtime own their own tables (``[reload]``, the
brain's settings); each builds its dataclass through :func:`settings_from_table`
so an unknown key or a bad value names the file and ``section.key``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

from omega_actors.errors import ConfigError

T = TypeVar("T")


def settings_from_table(cls: type[T], table: Mapping[str, Any], *, section: str, file: str | None = None) -> T:
    """``cls(**table)``; unknown keys and the dataclass's own ConfigErrors are located as ``section.key``."""
    accepted = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    try:
        for key in table:
            if key not in accepted:
                raise ConfigError(f"unknown key {key!r}; expected one of: {', '.join(accepted)}", key=key)
        return cls(**dict(table))
    except ConfigError as exc:
        raise ConfigError(exc.detail, file=file, key=f"{section}.{exc.key}") from None
