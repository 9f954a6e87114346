"""Actors for hot-reload tests: a tag to see which spec runs, and two ways to be bad."""

from __future__ import annotations

from dataclasses import dataclass

from omega_actors.runtime import Actor, handler


@dataclass(frozen=True)
class GetTag:
    pass


class Worker(Actor):
    def __init__(self, tag: str = "", sick: bool = False, refuse: bool = False) -> None:
        self.tag = tag
        self.sick = sick  # crashes when its health is asked: a crash loop that only a probe reveals
        self.refuse = refuse  # fails to start

    def started(self) -> None:
        if self.refuse:
            raise RuntimeError("refusing to start")

    def health(self) -> bool | str:
        if self.sick:
            raise RuntimeError("sick")
        return True

    @handler
    def tell_tag(self, message: GetTag) -> str:
        return self.tag
