"""Hot-path compilation: a task that keeps getting the same answer becomes L2 code.

The inversion principle of the compute-stack design: a repeated AI task is
compiled into a deterministic handler. Here a handler maps one normalised
task to the answer every model gave it. It is made when the same
normalised task got the same answer ``min_repeats`` times in a row from a
model layer (L3 and up; rule answers are code already).

A handler carries its evidence: the raw tasks and answers it was compiled
from. **Validation** replays that evidence through the handler, exactly as a
new task would arrive (normalise, look up, answer), and requires every
recorded answer back. It runs when a handler is made and whenever handlers
are loaded, so a handler that no longer reproduces its evidence (the
normaliser changed, the file was edited) is dropped, not served. Every
``audit_every``-th hit of a handler is routed normally instead; an answer
that differs from the handler's drops it.

Handlers and their evidence are versioned in git with the rest of the
router's learning (see :mod:`.store`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from .features import normalise
from .layers import Layer
from .settings import CompileSettings


@dataclass(frozen=True, slots=True)
class Handler:
    key: str
    answer: str
    kind: str
    source: Layer
    evidence: tuple[tuple[str, str], ...]   # (task as asked, answer recorded)


@dataclass(slots=True)
class _Candidate:
    answer: str
    source: Layer
    kind: str
    evidence: list[tuple[str, str]] = field(default_factory=list)


class Compiler:
    def __init__(self, settings: CompileSettings, handlers: dict[str, Handler] | None = None) -> None:
        self.settings = settings
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self._candidates: OrderedDict[str, _Candidate] = OrderedDict()
        self._hits: dict[str, int] = {}
        self.hits = 0

    def lookup(self, key: str) -> Handler | None:
        return self.handlers.get(key)

    def hit(self, key: str) -> bool:
        """Count a hit on ``key``'s handler; True when this one should be audited instead."""
        self.hits += 1
        count = self._hits.get(key, 0) + 1
        self._hits[key] = count
        return count % self.settings.audit_every == 0

    def observe(self, text: str, key: str, answer: str, layer: Layer, kind: str) -> str | None:
        """Learn from a model's answer; returns a sentence when a handler was made or dropped."""
        if layer == Layer.RULES or len(text) > self.settings.max_task_chars:
            return None
        handler = self.handlers.get(key)
        if handler is not None:
            if answer == handler.answer:
                return None
            del self.handlers[key]
            return f"dropped the handler for {key!r}: {layer.label} now answers {answer!r}, the handler said {handler.answer!r}"
        return self._count(text, key, answer, layer, kind)

    def _count(self, text: str, key: str, answer: str, layer: Layer, kind: str) -> str | None:
        candidate = self._candidates.get(key)
        if candidate is None or candidate.answer != answer:
            candidate = _Candidate(answer, layer, kind)  # a different answer starts the count again
            self._candidates[key] = candidate
        self._candidates.move_to_end(key)
        candidate.evidence.append((text, answer))
        del candidate.evidence[: -self.settings.min_repeats]  # the last min_repeats answers are the evidence; no more is kept
        while len(self._candidates) > self.settings.max_candidates:
            self._candidates.popitem(last=False)
        if len(candidate.evidence) < self.settings.min_repeats or len(self.handlers) >= self.settings.max_handlers:
            return None
        del self._candidates[key]
        handler = Handler(key, answer, candidate.kind, candidate.source, tuple(candidate.evidence))
        failure = validate(handler)
        if failure is not None:
            return f"did not compile {key!r}: {failure}"
        self.handlers[key] = handler
        return f"compiled {key!r} -> {answer!r} after {len(handler.evidence)} identical answers from {candidate.source.label}"

    def revalidate(self) -> list[str]:
        """Replay every handler's evidence; drop those that fail. Returns what was dropped and why."""
        dropped = []
        for key, handler in list(self.handlers.items()):
            failure = validate(handler)
            if failure is not None:
                del self.handlers[key]
                dropped.append(f"dropped the handler for {key!r}: {failure}")
        return dropped

    def to_dict(self) -> dict[str, Any]:
        return {key: {
            "answer": h.answer, "kind": h.kind, "source": int(h.source), "evidence": [list(pair) for pair in h.evidence],
        } for key, h in sorted(self.handlers.items())}  # fmt: skip

    @classmethod
    def from_dict(cls, settings: CompileSettings, data: dict[str, Any]) -> Compiler:
        handlers = {
            key: Handler(key, str(raw["answer"]), str(raw["kind"]), Layer(int(raw["source"])), tuple((str(t), str(a)) for t, a in raw["evidence"]))
            for key, raw in data.items()
        }
        return cls(settings, handlers)


def validate(handler: Handler) -> str | None:
    """Replay the evidence through the handler as live traffic would reach it; None when it all comes back."""
    if not handler.evidence:
        return "it has no evidence to replay"
    for text, recorded in handler.evidence:
        key = normalise(text)
        if key != handler.key:
            return f"{text!r} now normalises to {key!r}, not to the handler's key"
        if recorded != handler.answer:
            return f"{text!r} was answered {recorded!r}, the handler answers {handler.answer!r}"
    return None
