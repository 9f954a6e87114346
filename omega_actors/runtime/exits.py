"""Exit reasons: why an actor instance ended.

An instance ends in exactly one of four ways, and the reason decides what its
supervisor does (see :mod:`omega_actors.runtime.child_spec` for restart types):

``Normal``
    The actor asked to stop (``self.stop()``). Not restarted if transient.
``Shutdown(detail)``
    Its supervisor stopped it, or a supervisor gave up (``detail`` says why,
    e.g. ``"reached_max_restart_intensity"``). Like OTP's ``shutdown`` and
    ``{shutdown, Term}``: not restarted if transient.
``Crash(report)``
    A handler or a lifecycle hook raised. ``report`` is a :class:`CrashReport`.
``Killed(detail)``
    The instance vanished without a word: ``kill -9``, ``os._exit``, a lost
    process. The supervisor only saw the process end.

``Crash`` and ``Killed`` are abnormal: a transient child is restarted after
them, and only after them.
"""

from __future__ import annotations

import traceback as _traceback
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CrashReport:
    """What a supervisor learns when a child crashes.

    Structured like OTP's error reports (supervisor, context, reason,
    offender): it is formatted only when shown.
    """

    actor: str
    exc_type: str
    exc_text: str
    traceback: str
    message_type: str | None
    phase: str
    pid: int

    @classmethod
    def from_exception(
        cls, actor: str, exc: BaseException, message: object | None, phase: str, pid: int
    ) -> CrashReport:
        kind = type(exc)
        return cls(
            actor=actor,
            exc_type=f"{kind.__module__}.{kind.__qualname__}",
            exc_text=str(exc),
            traceback="".join(_traceback.format_exception(exc)),
            message_type=None if message is None else _type_name(message),
            phase=phase,
            pid=pid,
        )

    def summary(self) -> str:
        """One line: what raised, and while handling what."""
        short = self.exc_type.rpartition(".")[2].removeprefix("builtins.")
        cause = f"handling {self.message_type}" if self.message_type else f"in {self.phase}"
        text = f": {self.exc_text}" if self.exc_text else ""
        return f"{short}{text} ({cause})"


def _type_name(message: object) -> str:
    kind = type(message)
    return f"{kind.__module__}.{kind.__qualname__}"


class ExitReason:
    """Base of the four exit reasons."""

    __slots__ = ()

    @property
    def abnormal(self) -> bool:
        """True for ``Crash`` and ``Killed``: a transient child restarts."""
        return False

    def summary(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Normal(ExitReason):
    def summary(self) -> str:
        return "normal"


@dataclass(frozen=True, slots=True)
class Shutdown(ExitReason):
    detail: str = ""

    def summary(self) -> str:
        return f"shutdown: {self.detail}" if self.detail else "shutdown"


@dataclass(frozen=True, slots=True)
class Crash(ExitReason):
    report: CrashReport

    @property
    def abnormal(self) -> bool:
        return True

    def summary(self) -> str:
        return f"crash: {self.report.summary()}"


@dataclass(frozen=True, slots=True)
class Killed(ExitReason):
    detail: str = "the process ended without reporting a reason"

    @property
    def abnormal(self) -> bool:
        return True

    def summary(self) -> str:
        return f"killed: {self.detail}"
