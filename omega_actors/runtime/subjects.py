"""NATS-style subjects and wildcard subscriptions, as pure code.

A subject is a dot-separated list of tokens: ``genesis.experiment.request.tv-42``.
Tokens are non-empty and hold no ASCII whitespace, ``.``, ``*`` or ``>`` (as
in NATS, other Unicode is allowed).

A pattern may also use two wildcards, as in NATS:

- ``*`` matches exactly one token: ``improvement.local.*.tv-42``;
- ``>`` matches one or more tokens and only stands last: ``genesis.experiment.>``.

:class:`SubscriptionTrie` indexes patterns by token so that matching a subject
costs the depth of the subject, not the number of subscriptions.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

from ..errors import OmegaError

K = TypeVar("K", bound=Hashable)

_FORBIDDEN_IN_TOKEN = frozenset(" \t\r\n\f\v.*>")
MAX_SUBJECT_LENGTH = 1024


class SubjectError(OmegaError, ValueError):
    """A subject or pattern broke the subject rules."""


def validate_subject(subject: object) -> tuple[str, ...]:
    """The tokens of a publishable subject (no wildcards)."""
    tokens = _tokens(subject, "subject")
    for token in tokens:
        _check_token(subject, token, wildcards=False)
    return tokens


def validate_pattern(pattern: object) -> tuple[str, ...]:
    """The tokens of a subscription pattern (wildcards allowed)."""
    tokens = _tokens(pattern, "pattern")
    for index, token in enumerate(tokens):
        if token == ">" and index != len(tokens) - 1:
            raise SubjectError(f"pattern {pattern!r}: '>' may only be the last token")
        if token not in ("*", ">"):
            _check_token(pattern, token, wildcards=True)
    return tokens


def matches(pattern: str, subject: str) -> bool:
    """Whether ``subject`` is matched by ``pattern`` (both validated)."""
    ptoks = validate_pattern(pattern)
    stoks = validate_subject(subject)
    for index, ptok in enumerate(ptoks):
        if ptok == ">":
            return len(stoks) > index
        if index >= len(stoks) or (ptok != "*" and ptok != stoks[index]):
            return False
    return len(ptoks) == len(stoks)


def _tokens(text: object, what: str) -> tuple[str, ...]:
    if not isinstance(text, str):
        raise SubjectError(f"a {what} must be a string; got {type(text).__name__}")
    if not text or len(text) > MAX_SUBJECT_LENGTH:
        raise SubjectError(f"a {what} must hold 1 to {MAX_SUBJECT_LENGTH} characters; got {len(text)}")
    tokens = tuple(text.split("."))
    if "" in tokens:
        raise SubjectError(f"{what} {text!r}: tokens must not be empty (no leading, trailing or double dots)")
    return tokens


def _check_token(text: object, token: str, *, wildcards: bool) -> None:
    bad = _FORBIDDEN_IN_TOKEN.intersection(token)
    if bad:
        allowed = "'*' and '>' only as whole tokens" if wildcards else "no wildcards in a published subject"
        raise SubjectError(f"{text!r}: token {token!r} holds {''.join(sorted(bad))!r} ({allowed})")


class _Node(Generic[K]):
    __slots__ = ("children", "keys", "tail_keys")

    def __init__(self) -> None:
        self.children: dict[str, _Node[K]] = {}
        self.keys: set[K] = set()  # patterns that end at this node
        self.tail_keys: set[K] = set()  # patterns that end with '>' below this node

    def empty(self) -> bool:
        return not (self.children or self.keys or self.tail_keys)


class SubscriptionTrie(Generic[K]):
    """Maps patterns to subscriber keys; ``match`` finds the keys for a subject."""

    def __init__(self) -> None:
        self._root: _Node[K] = _Node()
        self._by_key: dict[K, set[str]] = {}

    def add(self, pattern: str, key: K) -> None:
        tokens = validate_pattern(pattern)
        node = self._root
        for token in tokens[:-1] if tokens[-1] == ">" else tokens:
            node = node.children.setdefault(token, _Node())
        (node.tail_keys if tokens[-1] == ">" else node.keys).add(key)
        self._by_key.setdefault(key, set()).add(pattern)

    def remove(self, pattern: str, key: K) -> bool:
        """Forget one subscription; False if it was not there."""
        patterns = self._by_key.get(key)
        if not patterns or pattern not in patterns:
            return False
        patterns.discard(pattern)
        if not patterns:
            del self._by_key[key]
        self._remove_path(validate_pattern(pattern), key)
        return True

    def remove_key(self, key: K) -> int:
        """Forget every subscription of ``key``; returns how many there were."""
        patterns = self._by_key.pop(key, set())
        for pattern in patterns:
            self._remove_path(validate_pattern(pattern), key)
        return len(patterns)

    def _remove_path(self, tokens: tuple[str, ...], key: K) -> None:
        tail = tokens[-1] == ">"
        path = [self._root]
        for token in tokens[:-1] if tail else tokens:
            path.append(path[-1].children[token])
        (path[-1].tail_keys if tail else path[-1].keys).discard(key)
        # Prune nodes left empty, deepest first, so the trie does not grow forever.
        walked = tokens[:-1] if tail else tokens
        for depth in range(len(walked), 0, -1):
            if not path[depth].empty():
                break
            del path[depth - 1].children[walked[depth - 1]]

    def match(self, subject: str) -> set[K]:
        tokens = validate_subject(subject)
        found: set[K] = set()
        self._collect(self._root, tokens, 0, found)
        return found

    def _collect(self, node: _Node[K], tokens: tuple[str, ...], index: int, found: set[K]) -> None:
        if index == len(tokens):
            found.update(node.keys)
            return
        if node.tail_keys:
            found.update(node.tail_keys)
        for token in (tokens[index], "*"):
            child = node.children.get(token)
            if child is not None:
                self._collect(child, tokens, index + 1, found)

    def patterns(self, key: K) -> frozenset[str]:
        return frozenset(self._by_key.get(key, ()))

    def keys(self) -> Iterator[K]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return sum(len(patterns) for patterns in self._by_key.values())
