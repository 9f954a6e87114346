"""Task features and the complexity estimator: the lowest layer that can do a task, and why.

The estimator runs on every task, before anything else, so it is a handful
of precompiled regular expressions over the normalised text: no model, no
allocation beyond the result (the router's decision budget is 50 µs).

Kinds, checked in this order:

- ``command``: a configured rule matches: L2;
- ``critical``: medical, legal or money decisions, or "must be correct":
  L7, a consensus of several models;
- ``code``: code or a stack trace: L6;
- ``tv``: what to watch, something like a title, a genre or a mood: L3,
  and **private**: it is about what this household watches, so it never
  goes to a layer that is not local;
- ``reasoning``: why, explain, compare, plan, step by step, or long: L5;
- ``question``: anything else: L4.

First-person viewing ("I watched", "my history", or a viewing word with
"I", "we", "my" or "recommend") makes a task of any kind and length private.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from .layers import Layer


def _mark_ranges() -> str:
    """Combining marks of the BMP as a character-class body: they belong to their word (Devanagari vowel signs,
    the dot of a Turkish i), though ``\\w`` does not match them."""
    ranges: list[tuple[int, int]] = []
    for point in range(0x10000):
        if unicodedata.category(chr(point)).startswith("M"):
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1] = (ranges[-1][0], point)
            else:
                ranges.append((point, point))
    return "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges)


_MARKS = _mark_ranges()
_PUNCTUATION = re.compile(r"[^\w\s" + _MARKS + r"]+")
_LOOSE_MARKS = re.compile(r"(?:^|(?<=\s))[" + _MARKS + r"]+")  # a mark with no letter before it marks nothing
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Case, accents' compatibility forms, punctuation and spacing folded: the key repeats are counted by."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    spaced = _SPACE.sub(" ", _PUNCTUATION.sub(" ", folded)).strip()
    return _SPACE.sub(" ", _LOOSE_MARKS.sub("", spaced)).strip()


def _words(*phrases: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(phrases) + r")\b")


_CRITICAL = _words(
    r"medical", r"diagnos\w*", r"symptoms?", r"dosage", r"prescription", r"legal(?:ly)?", r"lawsuit", r"contract",
    r"tax(?:es)?", r"invest\w*", r"mortgage", r"must be correct", r"double check", r"safety critical",
)
_CODE = _words(
    r"python", r"javascript", r"typescript", r"sql", r"regex", r"function", r"stack ?trace", r"traceback", r"compile\w*",
    r"bug", r"refactor", r"def", r"class", r"api", r"code",
)
_TV = _words(
    r"watch\w*", r"show", r"shows", r"movies?", r"films?", r"episodes?", r"series", r"season", r"channel", r"tv",
    r"documentar\w+", r"thrillers?", r"comed\w+", r"drama", r"horror", r"cartoons?", r"anime", r"sitcoms?",
    r"recommend\w*", r"funnier", r"scarier", r"something like", r"similar to", r"tonight", r"subtitles?", r"trailer",
)
_REASONING = _words(
    r"why", r"explain\w*", r"how does", r"how do", r"compare\w*", r"prove", r"plan", r"step by step",
    r"analy[sz]e\w*", r"pros and cons", r"derive", r"calculate", r"strategy", r"summari[sz]e\w*", r"difference between",
)
_PRIVATE = _words(r"i watched", r"i ve watched", r"i have watched", r"i ve seen", r"my history", r"my viewing", r"we watched")
_FIRST_PERSON = _words(r"i", r"me", r"my", r"we", r"us", r"our", r"recommend\w*")

TV_MAX_WORDS = 25
REASONING_MIN_WORDS = 40


@dataclass(frozen=True, slots=True)
class Estimate:
    layer: Layer      # the lowest layer that can do the task
    kind: str         # the class learned routing statistics are kept for
    private: bool     # local layers only
    reason: str


def estimate(normalised: str, rule_matches: Callable[[str], str | None]) -> Estimate:
    """The lowest capable layer for an already-normalised task; ``rule_matches`` names a matching L2 rule."""
    viewing = _TV.search(normalised)
    # Viewing words said by the household about itself are private at any length.
    private = _PRIVATE.search(normalised) is not None or (viewing is not None and _FIRST_PERSON.search(normalised) is not None)
    rule = rule_matches(normalised)
    if rule is not None:
        return Estimate(Layer.RULES, "command", private, f"rule {rule!r} matches")
    found = _CRITICAL.search(normalised)
    if found:
        return Estimate(Layer.CONSENSUS, "critical", private, f"{found.group()!r}: a decision that needs consensus")
    found = _CODE.search(normalised)
    if found:
        return Estimate(Layer.LARGE, "code", private, f"{found.group()!r}: code needs a large model")
    words = normalised.count(" ") + 1
    if viewing and words <= TV_MAX_WORDS:
        return Estimate(Layer.TINY, "tv", True, f"{viewing.group()!r}: a viewing intent, private to this TV")
    found = _REASONING.search(normalised)
    if found or words >= REASONING_MIN_WORDS:
        why = f"{found.group()!r}" if found else f"{words} words"
        return Estimate(Layer.MEDIUM, "reasoning", private, f"{why}: reasoning needs a medium model")
    return Estimate(Layer.SMALL, "question", private, "an open question: a small model")
