"""Compute providers: one supervised actor per configured layer of the router.

::

    providers (one_for_one, restart backoff)
      rules       RulesProvider      L2: the configured rules
      tiny        TinyProvider       L3: MiniLM nearest-centroid intents (the brain's ONNX model)
      small       ChatProvider       L4 \
      medium      ChatProvider       L5  } an OpenAI-compatible chat-completions endpoint each
      large       ChatProvider       L6 /
      consensus   ConsensusProvider  L7: fan-out to the chat layers, then majority or a judge

Each answers :class:`Call` with :class:`Answer` or :class:`Failed`. A provider
owns a circuit breaker: after ``breaker.failures`` failures in a row it
refuses calls at once for ``breaker.reset_after`` seconds, so the router
escalates instead of waiting out timeouts. The breaker's state is
checkpointed, as if each call will fail until it has not, so a restarted
provider keeps its circuit open and a call that crashed the provider counts
as a failure. A call whose deadline passed while it waited is not made.

A provider error (unreachable, too slow, a malformed answer) is a
:class:`Failed` reply, not a crash. Anything else raised in a provider is a
bug or a broken library: the instance crashes, the router sees
``ActorFailed`` and escalates, and the supervisor restarts the provider
after its backoff.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import (
    BrainInputError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from ..router.breaker import OPEN, CircuitBreaker
from ..router.chat import ChatEndpoint, ChatReply, complete
from ..router.consensus import judge_prompt, majority, parse_judgement
from ..router.features import normalise
from ..router.intents import IntentClassifier
from ..router.layers import CHAT_LAYERS, Layer
from ..router.rules import Rules
from ..router.settings import LayerSettings, RouterSettings
from ..runtime import Actor, Refused, handler

SYSTEM_PROMPT = "Answer briefly and directly."


@dataclass(frozen=True, slots=True)
class Call:
    request: int
    attempt: int
    text: str
    deadline: float   # time.time() after which the router has moved on: the answer would be wasted


@dataclass(frozen=True, slots=True)
class Answer:
    request: int
    attempt: int
    layer: int
    text: str
    confidence: float
    usage: tuple[tuple[int, int], ...]   # (layer, tokens) per model used
    latency_s: float


@dataclass(frozen=True, slots=True)
class Failed:
    request: int
    attempt: int
    layer: int
    error: str
    unavailable: bool = False   # the layer cannot serve now (unreachable, circuit open): skip it for retry_in
    retry_in: float = 0.0


@dataclass(frozen=True, slots=True)
class Work:
    """What one provider call produced; ``text is None`` means "not a task this layer can do"."""

    text: str | None
    confidence: float = 1.0
    usage: tuple[tuple[int, int], ...] = ()
    why_not: str = ""


class Provider(Actor):
    def __init__(self, layer: str, settings: Mapping[str, Any] | None = None) -> None:
        self.layer = Layer.parse(layer)
        self.settings = RouterSettings.from_table(dict(settings or {}))
        self.own: LayerSettings = self.settings.layer(self.layer)
        self.breaker = CircuitBreaker(self.settings.breaker)

    def restore(self, state: dict[str, Any]) -> None:
        self.breaker.restore(state)

    def work(self, text: str, timeout: float) -> Work:
        """Answer ``text`` within ``timeout`` seconds, or raise a ProviderError."""
        raise NotImplementedError

    @handler
    def call(self, message: Call) -> Answer | Failed | Refused:
        bad = _malformed(message, self.settings.max_input_chars)
        if bad:
            self.increment("refused")
            return Refused("Call", bad)
        remaining = message.deadline - time.time()
        if remaining <= 0:  # it waited behind slower calls until the router gave up on it
            return Failed(message.request, message.attempt, int(self.layer), f"{self.layer.label}: expired before it was taken")
        if not self.breaker.allow():
            why = f"{self.layer.label}: circuit open after {self.breaker.failures} failures; retry in {self.breaker.retry_in():.1f} s"
            return Failed(message.request, message.attempt, int(self.layer), why, True, self.breaker.retry_in())
        started = time.monotonic()
        # Checkpoint as if this call will fail: if it crashes the instance instead, the next one
        # counts the crash, so an endpoint that crashes its client opens the circuit too.
        self.checkpoint(_after_failure(self.breaker))
        try:
            done = self.work(message.text, remaining)
        except ProviderError as exc:
            self.breaker.failed()
            self.checkpoint(self.breaker.to_dict())
            unavailable = isinstance(exc, ProviderUnavailable) or self.breaker.state == OPEN
            return Failed(message.request, message.attempt, int(self.layer), str(exc), unavailable, self.breaker.retry_in())
        self.breaker.succeeded()
        self.checkpoint(self.breaker.to_dict())
        if done.text is None:
            return Failed(message.request, message.attempt, int(self.layer), f"{self.layer.label}: {done.why_not}")
        return Answer(message.request, message.attempt, int(self.layer), done.text, done.confidence, done.usage, time.monotonic() - started)



def _after_failure(breaker: CircuitBreaker) -> dict[str, Any]:
    pessimist = CircuitBreaker(breaker.settings, breaker.clock)
    pessimist.restore(breaker.to_dict())
    pessimist.state = breaker.state  # restore() reopens a half-open circuit; this copy must not
    pessimist.failed()
    return pessimist.to_dict()


def _malformed(message: Call, limit: int) -> str:
    for key in ("request", "attempt"):
        value = getattr(message, key, None)
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{key} must be an integer; got {value!r}"
    deadline = getattr(message, "deadline", None)
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or deadline != deadline:
        return f"deadline must be a time in seconds; got {deadline!r}"
    text = getattr(message, "text", None)
    if not isinstance(text, str) or not text.strip() or len(text) > limit:
        return f"text must be a non-empty string of at most {limit} characters"
    return ""


class RulesProvider(Provider):
    def __init__(self, layer: str = "rules", settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(layer, settings)
        self.rules = Rules(self.settings.rules)

    def work(self, text: str, timeout: float) -> Work:
        found = self.rules.answer(normalise(text))
        if found is None:
            return Work(None, why_not="no rule matches")
        return Work(found[1], 1.0, ((int(Layer.RULES), 0),))


class TinyProvider(Provider):
    def __init__(self, layer: str = "tiny", settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(layer, settings)
        self.classifier: IntentClassifier | None = None

    def started(self) -> None:
        # The model stack (the ONNX runtime, the tokenizer) loads here, in the provider's own process, not in
        # every process that merely builds the router's tree.
        from ..brain.embedder import shared_embedder

        self.embedder = shared_embedder()
        self.classifier = IntentClassifier(self.embedder.embed_many, self.settings.intents)

    def work(self, text: str, timeout: float) -> Work:
        assert self.classifier is not None
        try:
            vector = self.embedder.embed(text)
        except BrainInputError as exc:
            return Work(None, why_not=f"the tiny model cannot take this task ({exc})")
        intent, confidence = self.classifier.classify(vector)
        return Work(f"intent: {intent}", confidence, ((int(Layer.TINY), 0),))


def endpoint(settings: LayerSettings, timeout: float | None = None) -> ChatEndpoint:
    """The layer's endpoint; ``timeout`` (what is left of the router's patience) shortens its own."""
    seconds = settings.timeout if timeout is None else max(0.001, min(settings.timeout, timeout))
    return ChatEndpoint(settings.base_url, settings.model, seconds, settings.max_tokens, settings.api_key_env)


def _chat_work(layer: Layer, reply: ChatReply) -> Work:
    text = reply.text.strip()
    tokens = reply.prompt_tokens + reply.completion_tokens
    return Work(text, 1.0 if text else 0.0, ((int(layer), tokens),))


class ChatProvider(Provider):
    def __init__(self, layer: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(layer, settings)
        self.endpoint = endpoint(self.own)

    def work(self, text: str, timeout: float) -> Work:
        return _chat_work(self.layer, complete(endpoint(self.own, timeout), text, system=SYSTEM_PROMPT))


class ConsensusProvider(Provider):
    def __init__(self, layer: str = "consensus", settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(layer, settings)
        self.members = consensus_members(self.settings)
        self.judge = Layer.parse(self.own.judge)

    def work(self, text: str, timeout: float) -> Work:
        deadline = time.monotonic() + timeout
        with ThreadPoolExecutor(max_workers=len(self.members)) as pool:
            futures = [
                (layer, pool.submit(complete, endpoint(self.settings.layer(layer), timeout), text, system=SYSTEM_PROMPT))
                for layer in self.members
            ]
            replies, errors = [], []
            for layer, future in futures:
                try:
                    replies.append((layer, future.result()))
                except ProviderError as exc:
                    errors.append(str(exc))
        if not replies:
            raise ProviderUnavailable(f"{self.layer.label}: no member answered: " + "; ".join(errors))
        usage = tuple((int(layer), r.prompt_tokens + r.completion_tokens) for layer, r in replies)
        answers = [r.text.strip() for _, r in replies]
        if self.own.mode == "majority":
            winner, share = majority(answers, len(self.members))
            return Work(winner, share, usage)
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProviderTimeout(f"{self.layer.label}: no time left for the judge {self.judge.label}")
        verdict = complete(endpoint(self.settings.layer(self.judge), left), judge_prompt(text, answers), system=SYSTEM_PROMPT)
        chosen = parse_judgement(verdict.text, len(answers), f"{self.layer.label} judge {self.judge.label}")
        return Work(answers[chosen], 1.0, usage + ((int(self.judge), verdict.prompt_tokens + verdict.completion_tokens),))


def consensus_members(settings: RouterSettings) -> tuple[Layer, ...]:
    """The configured chat layers a consensus asks."""
    members = (Layer.parse(m) for m in settings.layer(Layer.CONSENSUS).members)
    return tuple(m for m in members if settings.layer(m).enabled and settings.layer(m).configured)


def running_layers(settings: RouterSettings) -> tuple[Layer, ...]:
    """The layers that get a provider: enabled, and configured enough to answer anything."""
    layers = []
    for layer in Layer:
        own = settings.layer(layer)
        if not own.enabled:
            continue
        if layer == Layer.TINY and not settings.intents:
            continue
        if layer in CHAT_LAYERS and not own.configured:
            continue
        if layer == Layer.CONSENSUS:
            judge_ready = own.mode != "judge" or settings.layer(Layer.parse(own.judge)).configured
            if len(consensus_members(settings)) < 2 or not judge_ready:
                continue
        layers.append(layer)
    return tuple(layers)


PROVIDER_CLASSES: dict[Layer, type[Provider]] = {
    Layer.RULES: RulesProvider, Layer.TINY: TinyProvider, Layer.SMALL: ChatProvider, Layer.MEDIUM: ChatProvider,
    Layer.LARGE: ChatProvider, Layer.CONSENSUS: ConsensusProvider,
}  # fmt: skip
