"""Normalisation and the complexity estimator: the lowest layer that can do a task, its kind, and whether it is private."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.router.features import (
    REASONING_MIN_WORDS,
    TV_MAX_WORDS,
    estimate,
    normalise,
)
from omega_actors.router.layers import Layer
from omega_actors.router.rules import Rules
from omega_actors.router.settings import Rule
from tests.router.shipped import shipped_settings


def estimated(text: str, rules: Rules | None = None):  # type: ignore[no-untyped-def]
    rules = rules or Rules(shipped_settings().rules)
    return estimate(normalise(text), rules.match)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise(text)

    assert normalise(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_normalised_text_is_lower_case_single_spaced_and_without_punctuation(text: str) -> None:
    folded = normalise(text)

    assert folded == folded.strip()
    assert "  " not in folded and "\n" not in folded and "\t" not in folded
    assert folded == folded.casefold()
    # Combining marks stay with the letter they follow ("नमस्ते" keeps its vowel signs), never on their own.
    assert all(char.isalnum() or char in " _" or unicodedata.category(char).startswith("M") for char in folded)
    assert all(not unicodedata.category(word[0]).startswith("M") for word in folded.split())


def test_combining_marks_stay_in_their_word() -> None:
    assert normalise("नमस्ते, İstanbul!") == "नमस्ते i\u0307stanbul"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(categories=("Ll", "Lu", "Nd"), max_codepoint=0x7F), min_size=1, max_size=8), min_size=1, max_size=6), st.sampled_from(["", "?", "!", "...", " ?!"]))
def test_case_punctuation_and_spacing_do_not_change_the_key(words: list[str], ending: str) -> None:
    plain = " ".join(words)

    assert normalise(f"  {plain.upper()}{ending}  ") == normalise(plain)
    assert normalise("\t".join(words) + ending) == normalise(plain)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("What should I watch NOW?", "what should i watch now"),
        ("  Turn   the volume\tDOWN!! ", "turn the volume down"),
        ("Ｖｏｌｕｍｅ ｕｐ", "volume up"),  # full-width forms fold to ASCII
        ("Straße", "strasse"),
        ("rock'n'roll, please", "rock n roll please"),
        ("?!...", ""),
    ],
)
def test_normalise_folds_case_compatibility_forms_punctuation_and_spacing(text: str, folded: str) -> None:
    assert normalise(text) == folded


@pytest.mark.parametrize(
    ("text", "layer", "kind", "private"),
    [
        ("what should I watch now?", Layer.TINY, "tv", True),
        ("Something like that thriller, but funnier", Layer.TINY, "tv", True),
        ("volume up", Layer.RULES, "command", False),
        ("Turn the volume DOWN!", Layer.RULES, "command", False),
        ("channel 42", Layer.RULES, "command", False),
        ("Should I claim this on my taxes?", Layer.CONSENSUS, "critical", False),
        ("What dosage of ibuprofen is safe for a child?", Layer.CONSENSUS, "critical", False),
        ("write a python function that reverses a list", Layer.LARGE, "code", False),
        ("explain why the sky is blue", Layer.MEDIUM, "reasoning", False),
        ("who wrote hamlet", Layer.SMALL, "question", False),
        ("I watched Alien yesterday, who directed it?", Layer.TINY, "tv", True),
    ],
)
def test_the_issues_examples_are_estimated_as_the_design_says(text: str, layer: Layer, kind: str, private: bool) -> None:
    found = estimated(text)

    assert (found.layer, found.kind, found.private) == (layer, kind, private)
    assert found.reason


def test_a_rule_outranks_every_other_kind() -> None:
    rules = Rules([Rule("tax", r"^what s my tax code$", "action: show tax code")])

    found = estimated("What's my tax code?", rules)

    assert (found.layer, found.kind) == (Layer.RULES, "command")
    assert found.reason == "rule 'tax' matches"


def test_critical_outranks_code_and_code_outranks_tv() -> None:
    assert estimated("is it legal to watch this python tutorial").kind == "critical"
    assert estimated("write python code to list the shows I recorded").kind == "code"


@pytest.mark.parametrize(
    "text",
    [
        "I've seen it; is this contract legal?",
        "my history of watching: explain why I keep picking thrillers " + "again " * REASONING_MIN_WORDS,
        "we watched it together, write a python script to log it",
    ],
)
def test_first_person_viewing_makes_any_kind_of_task_private(text: str) -> None:
    found = estimated(text)

    assert found.kind != "tv"
    assert found.private


def test_a_task_that_reveals_no_viewing_is_not_private() -> None:
    assert not estimated("compare the french and american revolutions").private


def test_a_viewing_task_longer_than_tv_max_words_is_not_left_to_l3() -> None:
    words = ["movie"] + ["really"] * TV_MAX_WORDS

    found = estimated(" ".join(words))

    assert found.kind != "tv" and found.layer > Layer.TINY


LONG_VIEWING_REQUEST = (
    "Recommend a movie for tonight: something like the thriller we saw last week but funnier, "
    "not too long, with subtitles, that both the kids and their grandparents would enjoy"
)


def test_a_long_viewing_request_is_still_private() -> None:
    found = estimated(LONG_VIEWING_REQUEST)

    assert len(normalise(LONG_VIEWING_REQUEST).split()) > TV_MAX_WORDS
    assert found.private  # it is about what this household watches, whatever its length


def test_a_viewing_task_of_exactly_tv_max_words_is_still_tv() -> None:
    found = estimated(" ".join(["movie"] + ["really"] * (TV_MAX_WORDS - 1)))

    assert found.kind == "tv"


def test_a_long_plain_question_is_reasoning_by_its_length() -> None:
    short = estimated(" ".join(["word"] * (REASONING_MIN_WORDS - 1)))
    long = estimated(" ".join(["word"] * REASONING_MIN_WORDS))

    assert (short.kind, long.kind) == ("question", "reasoning")
    assert long.reason == f"{REASONING_MIN_WORDS} words: reasoning needs a medium model"


def test_keywords_match_whole_words_only() -> None:
    assert estimated("who was the defender in the final").kind == "question"  # "def" inside "defender"
    assert estimated("syntax of latin poetry").kind == "question"  # "tax" inside "syntax"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_every_estimate_is_one_of_the_six_kinds_at_its_layer(text: str) -> None:
    found = estimated(text)

    layers = {"command": Layer.RULES, "tv": Layer.TINY, "question": Layer.SMALL, "reasoning": Layer.MEDIUM, "code": Layer.LARGE, "critical": Layer.CONSENSUS}
    assert layers[found.kind] == found.layer
    assert found.kind != "tv" or found.private
