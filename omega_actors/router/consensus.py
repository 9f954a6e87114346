"""L7: several models answer, and the answer is the majority's, or the one a judge picks.

Majority voting compares answers as :func:`~.features.normalise` leaves
them (case and punctuation do not split a vote), and an answer with no
words in it is no vote. The confidence is the
winning share of the members *asked*, so a member that could not answer
counts against agreement: two of three agreeing is 0.67, one answer out of
three is 0.33 however sure it sounds.

A judge gets the numbered answers and must reply with one number; anything
else is a malformed judgement, not a guess.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from ..errors import MalformedResponse
from .features import normalise


def majority(answers: Sequence[str], asked: int) -> tuple[str, float]:
    """(the most common answer, its share of ``asked``); ties go to the answer given first."""
    if not answers:
        raise ValueError("majority of no answers")
    votes = Counter(key for key in map(normalise, answers) if key)  # an empty answer is no vote
    if not votes:
        return answers[0], 0.0
    top = max(votes.values())
    winner = next(answer for answer in answers if votes[normalise(answer)] == top and normalise(answer))
    return winner, top / max(asked, len(answers))


def judge_prompt(task: str, answers: Sequence[str]) -> str:
    numbered = "\n".join(f"{index}. {answer}" for index, answer in enumerate(answers, 1))
    return f"Task: {task}\n\nCandidate answers:\n{numbered}\n\nReply with only the number of the best answer."


_NUMBER = re.compile(r"^\s*(\d+)\s*\.?\s*$")


def parse_judgement(reply: str, count: int, where: str) -> int:
    """The 0-based index the judge chose; MalformedResponse unless it replied with one valid number."""
    found = _NUMBER.match(reply)
    if found is None or not 1 <= int(found.group(1)) <= count:
        raise MalformedResponse(f"{where}: a judge must reply with one number from 1 to {count}; got {reply[:80]!r}")
    return int(found.group(1)) - 1
