"""L2's configured rules: regular expressions over the normalised task, with templated answers.

Patterns see the text as :func:`~.features.normalise` leaves it: lower case,
no punctuation, single spaces. An answer may name the pattern's groups::

    [[router.rules]]
    name = "channel"
    pattern = '^(?:go to |switch to )?channel (\\d+)$'
    answer = "action: channel {1}"
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .settings import Rule

_REF = re.compile(r"\{(\d+)\}")


class Rules:
    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = [(rule, re.compile(rule.pattern)) for rule in rules]

    def match(self, normalised: str) -> str | None:
        """The name of the first rule that matches, or None."""
        for rule, pattern in self._rules:
            if pattern.search(normalised):
                return rule.name
        return None

    def answer(self, normalised: str) -> tuple[str, str] | None:
        """(rule name, answer) of the first rule that matches, or None."""
        for rule, pattern in self._rules:
            found = pattern.search(normalised)
            if found:
                return rule.name, _REF.sub(lambda ref: found.group(int(ref.group(1))) or "", rule.answer)
        return None
