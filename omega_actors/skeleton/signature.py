"""Signatures as text: ``(a, /, b: int = 1, *args, c, **kw) -> str``, from stored parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .extract import KEYWORD_ONLY, POSITIONAL_ONLY, VAR_KEYWORD, VAR_POSITIONAL


def format_signature(parameters: Sequence[Sequence[Any]], returns: str | None = None) -> str:
    """``parameters`` as stored: [name, kind, annotation, default] each."""
    parts: list[str] = []
    kinds = [parameter[1] for parameter in parameters]
    for index, (name, kind, annotation, default) in enumerate(parameters):
        if kind == KEYWORD_ONLY and VAR_POSITIONAL not in kinds and (index == 0 or kinds[index - 1] != KEYWORD_ONLY):
            parts.append("*")
        parts.append(_parameter(name, kind, annotation, default))
        if kind == POSITIONAL_ONLY and (index + 1 == len(kinds) or kinds[index + 1] != POSITIONAL_ONLY):
            parts.append("/")
    text = f"({', '.join(parts)})"
    return f"{text} -> {returns}" if returns else text


def _parameter(name: str, kind: str, annotation: str | None, default: str | None) -> str:
    star = "*" if kind == VAR_POSITIONAL else "**" if kind == VAR_KEYWORD else ""
    text = f"{star}{name}: {annotation}" if annotation else f"{star}{name}"
    if default is not None:
        text += f" = {default}" if annotation else f"={default}"
    return text
