"""The event bus: publish/subscribe on NATS-style subjects.

Subjects are dot-separated tokens; patterns may use ``*`` (one token) and
``>`` (one or more trailing tokens), as in NATS (see :mod:`.subjects`)::

    self.subscribe("genesis.experiment.request.*")
    self.publish("genesis.experiment.request.tv-42", request)

    @handler
    def on_event(self, event: Event) -> None: ...

Each matching subscriber gets one :class:`Event` per publish, however many of
its patterns match. Subscriptions belong to an instance: when it ends, its
supervisor tells the bus (``ActorDown``) and they are dropped, so a restarted
actor subscribes again in ``started()``.

Supervisors publish their own lifecycle here under ``omega.child.>`` and
``omega.supervisor.>`` (see :mod:`.supervisor`).

A bad subject or pattern is answered with ``Refused`` and never breaks the
bus; a subscriber may hold at most ``max_patterns`` patterns.
"""

from __future__ import annotations

from .actor import Actor, handler
from .messages import (
    ActorDown,
    Address,
    CountSubscriptions,
    Done,
    Event,
    Publish,
    Refused,
    Subscribe,
    Unsubscribe,
    address_key,
)
from .subjects import SubjectError, SubscriptionTrie, validate_subject

DEFAULT_MAX_PATTERNS = 1000

__all__ = ["ActorDown", "CountSubscriptions", "Event", "EventBus", "Publish", "Subscribe", "Unsubscribe"]


class EventBus(Actor):
    def __init__(self, max_patterns: int = DEFAULT_MAX_PATTERNS) -> None:
        self.max_patterns = max_patterns
        self.trie: SubscriptionTrie[str] = SubscriptionTrie()  # keyed by address_key
        self.addresses: dict[str, Address] = {}

    @handler
    def on_subscribe(self, message: Subscribe) -> Done | Refused | None:
        key = address_key(self.sender)
        if len(self.trie.patterns(key)) >= self.max_patterns:
            return Refused("subscribe", f"a subscriber may hold at most {self.max_patterns} patterns")
        try:
            self.trie.add(message.pattern, key)
        except SubjectError as exc:
            return Refused("subscribe", str(exc))
        self.addresses[key] = self.sender
        return Done() if message.ack else None

    @handler
    def on_unsubscribe(self, message: Unsubscribe) -> None:
        key = address_key(self.sender)
        self.trie.remove(message.pattern, key)
        if not self.trie.patterns(key):
            self.addresses.pop(key, None)

    @handler
    def on_publish(self, message: Publish) -> Refused | None:
        try:
            validate_subject(message.subject)
        except SubjectError as exc:
            return Refused("publish", str(exc))
        event = Event(message.subject, message.payload)
        for key in self.trie.match(message.subject):
            self.send(self.addresses[key], event)
        return None

    @handler
    def on_actor_down(self, message: ActorDown) -> None:
        key = address_key(message.address)
        self.trie.remove_key(key)
        self.addresses.pop(key, None)

    @handler
    def on_count(self, message: CountSubscriptions) -> tuple[int, int]:
        """(subscribers, patterns)."""
        return len(self.addresses), len(self.trie)
