"""L7: majority voting over normalised answers, and a judge that must reply with one number."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omega_actors.errors import MalformedResponse, ProviderError
from omega_actors.router.consensus import judge_prompt, majority, parse_judgement
from omega_actors.router.features import normalise


def test_case_and_punctuation_do_not_split_a_vote() -> None:
    winner, share = majority(["Paris.", "paris", "Lyon"], asked=3)

    assert winner == "Paris."  # the first wording of the winning answer
    assert share == pytest.approx(2 / 3)


def test_the_share_is_over_the_members_asked_not_the_answers_received() -> None:
    assert majority(["Paris"], asked=3) == ("Paris", pytest.approx(1 / 3))
    assert majority(["Paris", "PARIS!"], asked=3) == ("Paris", pytest.approx(2 / 3))
    assert majority(["Paris", "Paris", "Paris"], asked=3) == ("Paris", 1.0)


def test_the_share_never_exceeds_one_when_more_answers_arrive_than_were_asked() -> None:
    assert majority(["a", "a", "a"], asked=2) == ("a", 1.0)


def test_a_tie_goes_to_the_answer_given_first() -> None:
    assert majority(["Lyon", "Paris", "paris", "LYON"], asked=4) == ("Lyon", 0.5)
    assert majority(["Paris", "Lyon"], asked=2) == ("Paris", 0.5)


def test_the_majority_of_no_answers_is_an_error() -> None:
    with pytest.raises(ValueError, match="no answers"):
        majority([], asked=3)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["Paris", "paris!", "PARIS", "Lyon", "lyon.", "Nice", "nice?"]), min_size=1, max_size=9), st.integers(0, 12))
def test_the_winner_has_the_most_votes_and_is_the_first_of_its_kind(answers: list[str], asked: int) -> None:
    winner, share = majority(answers, asked)

    votes = Counter(normalise(answer) for answer in answers)
    top = max(votes.values())
    assert votes[normalise(winner)] == top
    assert winner == next(answer for answer in answers if votes[normalise(answer)] == top)
    assert share == top / max(asked, len(answers))
    assert 0.0 < share <= 1.0


@pytest.mark.parametrize(("reply", "index"), [("2", 1), ("2.", 1), (" 3 \n", 2), ("1 .", 0), ("\t1", 0)])
def test_a_judgement_is_one_number_from_one_to_the_count(reply: str, index: int) -> None:
    assert parse_judgement(reply, 3, "L6 large") == index


@pytest.mark.parametrize("reply", ["two", "0", "4", "-1", "", "2 or 3", "answer 2", "2!", "1.5", "#2"])
def test_anything_else_is_a_malformed_judgement_naming_where_it_came_from(reply: str) -> None:
    with pytest.raises(MalformedResponse) as caught:
        parse_judgement(reply, 3, "L6 large (judge)")

    message = str(caught.value)
    assert message.startswith("L6 large (judge): ")
    assert "one number from 1 to 3" in message and repr(reply) in message
    assert isinstance(caught.value, ProviderError)


def test_a_long_malformed_judgement_is_quoted_only_in_part() -> None:
    with pytest.raises(MalformedResponse) as caught:
        parse_judgement("I think " + "x" * 500, 2, "judge")

    assert len(str(caught.value)) < 200


def test_the_judge_prompt_numbers_the_answers_from_one() -> None:
    prompt = judge_prompt("capital of France?", ["Paris", "Lyon"])

    assert "Task: capital of France?" in prompt
    assert "1. Paris\n2. Lyon" in prompt
    assert prompt.endswith("Reply with only the number of the best answer.")


def test_empty_answers_are_no_votes() -> None:
    assert majority(["", "?", "Paris"], 3) == ("Paris", pytest.approx(1 / 3))
    assert majority(["", " ... "], 3)[1] == 0.0
