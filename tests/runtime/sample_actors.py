"""Small actor classes for spec tests; only their signatures and class defaults matter."""

from __future__ import annotations

from dataclasses import dataclass

from omega_actors.runtime.actor import Actor, handler
from omega_actors.runtime.child_spec import BRUTAL_KILL, Restart


@dataclass(frozen=True)
class Add:
    n: int


@dataclass(frozen=True)
class Ping:
    text: str = ""


class Counter(Actor):
    """One optional argument."""

    def __init__(self, start: int = 0) -> None:
        self.total = start

    @handler
    def add(self, message: Add) -> int:
        self.total += message.n
        return self.total


class Greeter(Actor):
    """A required positional argument and a keyword-only one."""

    def __init__(self, greeting: str, *, punctuation: str = "!") -> None:
        self.greeting = greeting
        self.punctuation = punctuation

    @handler
    def greet(self, message: Ping) -> str:
        return f"{self.greeting} {message.text}{self.punctuation}"


class Echo(Actor):
    """No __init__ at all: takes no arguments."""

    @handler
    def echo(self, message: Ping) -> Ping:
        return message


class TransientWorker(Actor):
    """Class-level child spec defaults that differ from Actor's."""

    restart = Restart.TRANSIENT
    shutdown = BRUTAL_KILL

    @handler
    def ping(self, message: Ping) -> str:
        return "pong"


class Outer:
    """Holds an actor class whose qualified name has a dot."""

    class Inner(Actor):
        @handler
        def ping(self, message: Ping) -> str:
            return "inner"


class NotAnActor:
    """A class that is not an Actor, to be refused as a start target."""

    def __init__(self, value: int = 0) -> None:
        self.value = value


def not_a_class() -> None:
    """A function, to be refused as a start target."""
