"""NATS-style subjects: validation, ``matches`` and ``SubscriptionTrie``.

Matching is checked against a reference written here from the rules in the
module docstring (``*`` is exactly one token, ``>`` is one or more trailing
tokens), as a regular expression over the raw strings.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from omega_actors.errors import OmegaError
from omega_actors.runtime.subjects import (
    MAX_SUBJECT_LENGTH,
    SubjectError,
    SubscriptionTrie,
    matches,
    validate_pattern,
    validate_subject,
)

# --- reference ---------------------------------------------------------------

_ONE_TOKEN = r"[^.]+"


def reference_matches(pattern: str, subject: str) -> bool:
    """Translate the pattern to a regex over the whole subject string."""
    pieces = []
    for token in pattern.split("."):
        if token == "*":
            pieces.append(_ONE_TOKEN)
        elif token == ">":
            pieces.append(rf"{_ONE_TOKEN}(?:\.{_ONE_TOKEN})*")
        else:
            pieces.append(re.escape(token))
    return re.fullmatch(r"\.".join(pieces), subject) is not None


# --- strategies --------------------------------------------------------------

# A small alphabet so that random patterns and subjects often share tokens.
literal_tokens = st.one_of(
    st.sampled_from(["a", "b", "c", "tv-42", "genesis"]),
    st.text(alphabet="abxyz-_019", min_size=1, max_size=3),
)
subject_token_lists = st.lists(literal_tokens, min_size=1, max_size=6)
subjects = subject_token_lists.map(".".join)


@st.composite
def patterns(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(st.one_of(literal_tokens, st.just("*")), min_size=0, max_size=5))
    if draw(st.booleans()) or not tokens:
        tokens.append(">")
    return ".".join(tokens)


@st.composite
def pattern_for(draw: st.DrawFn, subject_tokens: list[str]) -> str:
    """A pattern built from a subject, so that it usually (not always) matches it."""
    tokens = [draw(st.sampled_from([token, "*", token + "x"])) for token in subject_tokens]
    cut = draw(st.integers(0, len(tokens)))
    if cut < len(tokens) and draw(st.booleans()):
        tokens = tokens[:cut] + [">"]
    elif draw(st.booleans()):
        tokens = tokens + [draw(st.sampled_from(["*", ">", "extra"]))]
    return ".".join(tokens)


@st.composite
def subject_for(draw: st.DrawFn, pattern: str) -> str:
    """A subject that the pattern matches, by the module docstring's rules."""
    tokens: list[str] = []
    for token in pattern.split("."):
        if token == "*":
            tokens.append(draw(literal_tokens))
        elif token == ">":
            tokens.extend(draw(st.lists(literal_tokens, min_size=1, max_size=3)))
        else:
            tokens.append(token)
    return ".".join(tokens)


# --- the reference itself ----------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.>", "a", False),
        ("a.>", "a.b.c", True),
        (">", "a", True),
        ("a.b", "a.b", True),
        ("a.b", "a.bb", False),
    ],
)
def test_the_reference_matcher_follows_the_documented_rules(pattern: str, subject: str, expected: bool) -> None:
    assert reference_matches(pattern, subject) is expected


# --- validation --------------------------------------------------------------


def test_a_subject_splits_into_its_tokens() -> None:
    assert validate_subject("genesis.experiment.request.tv-42") == ("genesis", "experiment", "request", "tv-42")


def test_a_pattern_splits_into_its_tokens_wildcards_included() -> None:
    assert validate_pattern("improvement.local.*.>") == ("improvement", "local", "*", ">")


@pytest.mark.parametrize("subject", ["a.*", "*", "a.>", ">", "a.b*", "a.>b"])
def test_a_published_subject_may_not_hold_wildcards(subject: str) -> None:
    with pytest.raises(SubjectError, match="no wildcards"):
        validate_subject(subject)


@pytest.mark.parametrize("text", ["", ".a", "a.", "a..b", "."])
def test_empty_tokens_are_refused_in_subjects_and_patterns(text: str) -> None:
    with pytest.raises(SubjectError):
        validate_subject(text)
    with pytest.raises(SubjectError):
        validate_pattern(text)


@pytest.mark.parametrize("text", ["a b", "a\tb", "a\nb", "a\rb", "a\fb", "a\vb", "a. b"])
def test_whitespace_is_refused_inside_a_token(text: str) -> None:
    with pytest.raises(SubjectError):
        validate_subject(text)
    with pytest.raises(SubjectError):
        validate_pattern(text)


@pytest.mark.parametrize("pattern", [">.a", "a.>.b", ">.>"])
def test_a_tail_wildcard_may_only_stand_last(pattern: str) -> None:
    with pytest.raises(SubjectError, match="only be the last token"):
        validate_pattern(pattern)


@pytest.mark.parametrize("pattern", ["a*", "*a", "a.b*.c", "a>", ">a", "**"])
def test_wildcards_must_be_whole_tokens(pattern: str) -> None:
    with pytest.raises(SubjectError, match="only as whole tokens"):
        validate_pattern(pattern)


@pytest.mark.parametrize("value", [None, 42, b"a.b", ["a", "b"]])
def test_a_subject_or_pattern_must_be_a_string(value: object) -> None:
    with pytest.raises(SubjectError, match=type(value).__name__):
        validate_subject(value)
    with pytest.raises(SubjectError, match=type(value).__name__):
        validate_pattern(value)


def test_the_longest_subject_allowed_is_accepted_and_one_more_character_is_refused() -> None:
    head = ".".join(["a" * 9] * 100)  # 999 characters
    longest = head + "." + "b" * (MAX_SUBJECT_LENGTH - len(head) - 1)
    assert len(longest) == MAX_SUBJECT_LENGTH
    assert validate_subject(longest)[-1] == "b" * 24
    with pytest.raises(SubjectError, match=str(MAX_SUBJECT_LENGTH + 1)):
        validate_subject(longest + "c")
    with pytest.raises(SubjectError, match=str(MAX_SUBJECT_LENGTH + 1)):
        validate_pattern(longest + "c")


def test_a_subject_error_is_both_an_omega_error_and_a_value_error() -> None:
    with pytest.raises(OmegaError):
        validate_subject("")
    with pytest.raises(ValueError):
        validate_subject("")


@given(st.lists(literal_tokens, min_size=1, max_size=8))
def test_any_dot_joined_list_of_plain_tokens_is_a_valid_subject(tokens: list[str]) -> None:
    assert validate_subject(".".join(tokens)) == tuple(tokens)


# --- matches -----------------------------------------------------------------


def test_a_star_matches_exactly_one_token() -> None:
    assert matches("improvement.local.*.tv-42", "improvement.local.gpu.tv-42")
    assert not matches("improvement.local.*.tv-42", "improvement.local.tv-42")
    assert not matches("improvement.local.*.tv-42", "improvement.local.a.b.tv-42")


def test_a_tail_wildcard_matches_one_or_more_trailing_tokens_but_not_none() -> None:
    assert matches("genesis.experiment.>", "genesis.experiment.request")
    assert matches("genesis.experiment.>", "genesis.experiment.request.tv-42")
    assert not matches("genesis.experiment.>", "genesis.experiment")
    assert not matches("genesis.experiment.>", "genesis.other.request")


def test_a_literal_pattern_matches_only_the_identical_subject() -> None:
    assert matches("a.b.c", "a.b.c")
    assert not matches("a.b.c", "a.b")
    assert not matches("a.b", "a.b.c")
    assert not matches("a.b.c", "a.b.cc")


def test_matches_validates_both_its_arguments() -> None:
    with pytest.raises(SubjectError):
        matches("a.>.b", "a.x.b")
    with pytest.raises(SubjectError):
        matches("a.*", "a.*")


@given(patterns(), subjects)
def test_matches_agrees_with_the_reference_on_random_patterns(pattern: str, subject: str) -> None:
    assert matches(pattern, subject) is reference_matches(pattern, subject)


@given(st.data())
def test_matches_agrees_with_the_reference_on_patterns_built_from_the_subject(data: st.DataObject) -> None:
    tokens = data.draw(subject_token_lists)
    pattern = data.draw(pattern_for(tokens))
    subject = ".".join(tokens)
    assert matches(pattern, subject) is reference_matches(pattern, subject)


@given(st.data())
def test_every_subject_made_from_a_pattern_is_matched_by_it(data: st.DataObject) -> None:
    pattern = data.draw(patterns())
    subject = data.draw(subject_for(pattern))
    assert matches(pattern, subject)


# --- SubscriptionTrie: examples ----------------------------------------------


def test_an_empty_trie_matches_nothing() -> None:
    trie: SubscriptionTrie[str] = SubscriptionTrie()
    assert trie.match("a.b") == set()
    assert len(trie) == 0
    assert list(trie.keys()) == []


def test_the_trie_finds_every_key_whose_pattern_matches() -> None:
    trie: SubscriptionTrie[str] = SubscriptionTrie()
    trie.add("genesis.experiment.>", "all-experiments")
    trie.add("genesis.*.request.*", "all-requests")
    trie.add("genesis.experiment.request.tv-42", "exact")
    trie.add("genesis.experiment.request", "too-short")
    trie.add(">", "everything")
    assert trie.match("genesis.experiment.request.tv-42") == {"all-experiments", "all-requests", "exact", "everything"}
    assert trie.match("genesis.experiment.request") == {"all-experiments", "too-short", "everything"}
    assert trie.match("genesis.experiment") == {"everything"}


def test_a_key_with_several_matching_patterns_is_found_once() -> None:
    trie: SubscriptionTrie[int] = SubscriptionTrie()
    trie.add("a.b", 1)
    trie.add("a.*", 1)
    trie.add("a.>", 1)
    assert trie.match("a.b") == {1}
    assert len(trie) == 3
    assert trie.patterns(1) == frozenset({"a.b", "a.*", "a.>"})


def test_adding_the_same_subscription_twice_keeps_one() -> None:
    trie: SubscriptionTrie[str] = SubscriptionTrie()
    trie.add("a.*", "k")
    trie.add("a.*", "k")
    assert len(trie) == 1
    assert trie.remove("a.*", "k") is True
    assert trie.match("a.b") == set()


def test_remove_forgets_one_subscription_and_says_whether_it_was_there() -> None:
    trie: SubscriptionTrie[str] = SubscriptionTrie()
    trie.add("a.*", "k")
    trie.add("a.>", "k")
    assert trie.remove("a.*", "other") is False
    assert trie.remove("b.*", "k") is False
    assert trie.remove("a.*", "k") is True
    assert trie.remove("a.*", "k") is False
    assert trie.match("a.b") == {"k"}
    assert trie.patterns("k") == frozenset({"a.>"})


def test_remove_key_forgets_every_subscription_of_that_key_only() -> None:
    trie: SubscriptionTrie[str] = SubscriptionTrie()
    trie.add("a.*", "k")
    trie.add("a.>", "k")
    trie.add("a.*", "other")
    assert trie.remove_key("k") == 2
    assert trie.remove_key("k") == 0
    assert trie.match("a.b") == {"other"}
    assert trie.patterns("k") == frozenset()
    assert list(trie.keys()) == ["other"]


def test_a_bad_pattern_is_refused_and_leaves_the_trie_unchanged() -> None:
    trie: SubscriptionTrie[str] = SubscriptionTrie()
    trie.add("a.*", "k")
    with pytest.raises(SubjectError):
        trie.add("a.>.b", "k")
    with pytest.raises(SubjectError):
        trie.add("a..b", "j")
    assert len(trie) == 1
    assert list(trie.keys()) == ["k"]
    assert trie.match("a.b") == {"k"}


def test_matching_a_subject_with_wildcards_is_refused() -> None:
    trie: SubscriptionTrie[str] = SubscriptionTrie()
    trie.add(">", "k")
    with pytest.raises(SubjectError):
        trie.match("a.*")


def test_removing_a_pattern_keeps_a_longer_pattern_that_shares_its_path() -> None:
    trie: SubscriptionTrie[str] = SubscriptionTrie()
    trie.add("a.b", "short")
    trie.add("a.b.c", "long")
    trie.add("a.b.>", "tail")
    assert trie.remove("a.b", "short")
    assert trie.match("a.b.c") == {"long", "tail"}
    assert trie.remove("a.b.c", "long")
    assert trie.match("a.b.c") == {"tail"}
    assert trie.match("a.b") == set()


def test_removing_every_subscription_leaves_no_nodes_behind() -> None:
    trie: SubscriptionTrie[str] = SubscriptionTrie()
    for pattern in ["a.b.c.d", "a.*.c", "a.>", "x.y.>", ">"]:
        trie.add(pattern, "k")
    trie.add("a.b.c.d", "j")
    assert trie.remove("a.b.c.d", "j")
    assert trie.remove_key("k") == 5
    assert _node_paths(trie) == set()


# --- SubscriptionTrie: against a model ---------------------------------------


def _node_paths(trie: SubscriptionTrie[str]) -> set[tuple[str, ...]]:
    """Every node below the root, as its token path (white box: checks pruning)."""
    found: set[tuple[str, ...]] = set()
    stack = [((), trie._root)]
    while stack:
        path, node = stack.pop()
        for token, child in node.children.items():
            found.add(path + (token,))
            stack.append((path + (token,), child))
    return found


KEYS = ["k0", "k1", "k2", "k3"]


class TrieAgainstAList(RuleBasedStateMachine):
    """The trie must behave like a plain list of distinct (pattern, key) pairs."""

    def __init__(self) -> None:
        super().__init__()
        self.trie: SubscriptionTrie[str] = SubscriptionTrie()
        self.model: list[tuple[str, str]] = []

    @rule(pattern=patterns(), key=st.sampled_from(KEYS))
    def add(self, pattern: str, key: str) -> None:
        self.trie.add(pattern, key)
        if (pattern, key) not in self.model:
            self.model.append((pattern, key))

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def remove_present(self, data: st.DataObject) -> None:
        pattern, key = data.draw(st.sampled_from(self.model))
        assert self.trie.remove(pattern, key) is True
        self.model.remove((pattern, key))

    @rule(pattern=patterns(), key=st.sampled_from(KEYS))
    def remove_any(self, pattern: str, key: str) -> None:
        expected = (pattern, key) in self.model
        assert self.trie.remove(pattern, key) is expected
        if expected:
            self.model.remove((pattern, key))

    @rule(key=st.sampled_from(KEYS))
    def remove_key(self, key: str) -> None:
        expected = sum(1 for _, k in self.model if k == key)
        assert self.trie.remove_key(key) == expected
        self.model = [(p, k) for p, k in self.model if k != key]

    @rule(subject=subjects)
    def match_random_subject(self, subject: str) -> None:
        self._check_match(subject)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def match_subject_made_from_a_subscribed_pattern(self, data: st.DataObject) -> None:
        pattern, _ = data.draw(st.sampled_from(self.model))
        self._check_match(data.draw(subject_for(pattern)))

    def _check_match(self, subject: str) -> None:
        expected = {key for pattern, key in self.model if reference_matches(pattern, subject)}
        assert self.trie.match(subject) == expected

    @invariant()
    def size_keys_and_patterns_agree(self) -> None:
        assert len(self.trie) == len(self.model)
        assert set(self.trie.keys()) == {key for _, key in self.model}
        for key in KEYS:
            assert self.trie.patterns(key) == frozenset(p for p, k in self.model if k == key)

    @invariant()
    def only_nodes_on_a_subscribed_path_remain(self) -> None:
        expected: set[tuple[str, ...]] = set()
        for pattern, _ in self.model:
            tokens = tuple(pattern.split("."))
            walked = tokens[:-1] if tokens[-1] == ">" else tokens
            expected.update(walked[:depth] for depth in range(1, len(walked) + 1))
        assert _node_paths(self.trie) == expected


TestTheTrieBehavesLikeAListOfSubscriptions = TrieAgainstAList.TestCase
TestTheTrieBehavesLikeAListOfSubscriptions.settings = settings(max_examples=200, stateful_step_count=40)
