"""Settings from config tables: a frozen dataclass per table, and the one unknown-key check.

The runtime reads its own sections of ``config/*.toml`` (``[system]``,
``[cluster]``, ``[tree]``) with :func:`check_keys`; every other top-level
table belongs to the application, which reads it as a frozen dataclass that
validates itself::

    @dataclass(frozen=True)
    class LibrarySettings:
        max_loans: int = 3                       # the default, declared once

        def __post_init__(self) -> None:
            if isinstance(self.max_loans, bool) or not isinstance(self.max_loans, int) or self.max_loans < 1:
                raise ConfigError(f"expected a whole number >= 1; got {self.max_loans!r}", key="max_loans")

    settings = load_config("config").section("library", LibrarySettings)

Errors say where, what, and what is accepted::

    config/library.toml: library.max_loan: unknown key 'max_loan' (did you mean 'max_loans'?);
    expected one of: max_loans
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from typing import Any, TypeVar

from ..errors import ConfigError

T = TypeVar("T")

HINT_CUTOFF = 0.6  # difflib's own default: how alike a name must be to be offered as "did you mean"


def check_keys(table: Mapping[str, Any], accepted: Iterable[str], *, prefix: str = "") -> None:
    """Refuse a key of ``table`` that is not in ``accepted``.

    Raises a :class:`~omega_actors.errors.ConfigError` whose ``key`` is
    ``prefix + key`` and whose message names the closest accepted key and
    lists them all (see :func:`unknown_name`).
    """
    allowed = tuple(accepted)
    for key in table:
        if key not in allowed:
            raise ConfigError(unknown_name(key, allowed), key=prefix + key)


def unknown_name(name: str, accepted: Sequence[str], what: str = "key") -> str:
    """``unknown key 'bse' (did you mean 'base'?); expected one of: base, bind, ...``."""
    guess = closest(name, accepted)
    hint = f" (did you mean {guess!r}?)" if guess else ""
    return f"unknown {what} {name!r}{hint}; expected one of: {', '.join(accepted)}"


def closest(name: str, candidates: Sequence[str], cutoff: float = HINT_CUTOFF) -> str | None:
    """The candidate that ``name`` most likely misspells, if any is at least ``cutoff`` alike."""
    guesses = difflib.get_close_matches(name, candidates, n=1, cutoff=cutoff)
    return guesses[0] if guesses else None


def settings_from_table(cls: type[T], table: Mapping[str, Any], *, section: str, file: str | None = None) -> T:
    """``cls(**table)`` for a dataclass ``cls``, with every error located as ``section.key`` in ``file``.

    Unknown keys are refused by :func:`check_keys`; a ``ConfigError`` that
    ``cls`` raises while validating itself (give it ``key=`` the field) is
    re-raised with the file and the full key.
    """
    try:
        check_keys(table, [f.name for f in fields(cls)])  # type: ignore[arg-type]
        return cls(**dict(table))
    except ConfigError as exc:
        if exc.file is not None:
            raise
        key = f"{section}.{exc.key}" if exc.key else section
        raise ConfigError(exc.detail, file=file, key=key) from None
