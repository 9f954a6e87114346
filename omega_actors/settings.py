"""Settings from config tables: a frozen dataclass per table, and the one unknown-key check.

A leaf, beside :mod:`omega_actors.errors`: it imports nothing else of
omega_actors, so plain code checks its settings without loading the runtime
(which re-exports :func:`check_keys` and :func:`settings_from_table` for
applications).

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
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T")

HINT_CUTOFF = 0.6  # difflib's own default: how alike a name must be to be offered as "did you mean"
NEAR_MISS = 0.8  # a section name this alike to a known one is taken for a typo of it, not a new section


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


def near_miss(name: str, known: Sequence[str]) -> str | None:
    """The known section that ``name`` is one typo away from, if any: ``[systen]`` is ``[system]`` misspelt."""
    return closest(name, known, cutoff=NEAR_MISS)


def settings_from_table(cls: type[T], table: Mapping[str, Any], *, section: str, file: str | None = None) -> T:
    """``cls(**table)`` for a dataclass ``cls``, with every error located as ``section.key`` in ``file``.

    Unknown keys are refused by :func:`check_keys`; a ``ConfigError`` that
    ``cls`` raises while validating itself (give it ``key=`` the field) is
    re-raised with the file and the full key.
    """
    with located(section, file):
        check_keys(table, [f.name for f in fields(cls)])  # type: ignore[arg-type]
        return cls(**dict(table))


@contextmanager
def located(section: str, file: str | None) -> Iterator[None]:
    """Re-raise a ConfigError that names no file as ``file: section.key``: where the table was read."""
    try:
        yield
    except ConfigError as exc:
        if exc.file is not None:
            raise
        key = f"{section}.{exc.key}" if exc.key else section
        raise ConfigError(exc.detail, file=file, key=key) from None


def finite_number(value: object) -> bool:
    """A real, finite number, and not a bool: checked before comparing, since a string would raise TypeError."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
