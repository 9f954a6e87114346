"""L2's configured rules over the normalised task, with the shipped rules."""

from __future__ import annotations

import pytest

from omega_actors.router.features import normalise
from omega_actors.router.rules import Rules
from omega_actors.router.settings import Rule
from tests.router.shipped import shipped_settings


def shipped() -> Rules:
    return Rules(shipped_settings().rules)


@pytest.mark.parametrize(
    ("text", "name", "answer"),
    [
        ("volume up", "volume", "action: volume up"),
        ("Turn the volume DOWN!", "volume", "action: volume down"),
        ("mute", "mute", "action: mute"),
        ("Switch to channel 7.", "channel", "action: channel 7"),
        ("pause the movie", "playback", "action: pause"),
        ("Subtitles on", "subtitles", "action: subtitles on"),
        ("sleep in 30 minutes", "sleep", "action: sleep 30 min"),
    ],
)
def test_the_shipped_rules_answer_their_commands_from_the_normalised_task(text: str, name: str, answer: str) -> None:
    rules = shipped()

    assert rules.match(normalise(text)) == name
    assert rules.answer(normalise(text)) == (name, answer)


@pytest.mark.parametrize("text", ["volume up please", "what channel is the match on", "channel 12345", "pause the song", "play something"])
def test_the_shipped_rules_leave_everything_else_to_the_models(text: str) -> None:
    rules = shipped()

    assert rules.match(normalise(text)) is None
    assert rules.answer(normalise(text)) is None


def test_the_first_matching_rule_wins() -> None:
    rules = Rules([Rule("first", "^stop", "first"), Rule("second", "^stop$", "second")])

    assert rules.answer("stop") == ("first", "first")


def test_a_group_that_did_not_take_part_is_answered_as_empty() -> None:
    rules = Rules([Rule("go", r"^go(?: to (\w+))?$", "action: go [{1}]")])

    assert rules.answer("go to kitchen") == ("go", "action: go [kitchen]")
    assert rules.answer("go") == ("go", "action: go []")


def test_no_rules_match_nothing() -> None:
    assert Rules([]).match("volume up") is None
    assert Rules([]).answer("volume up") is None
