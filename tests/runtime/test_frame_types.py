"""What a signed frame may rebuild: message types, never a function or a class whose construction does something."""

from __future__ import annotations

import enum
import os
import pickle
import subprocess
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis.internal.conjecture.data import Status

from omega_actors.runtime import ManualClock, Refused
from omega_actors.runtime.frame_auth import MIN_SECRET_BYTES, AuthError, FrameAuth
from omega_actors.runtime.frame_types import Admission, MessageUnpickler, travels
from omega_actors.storage.state_repository import StateRepository

SECRET = b"k" * MIN_SECRET_BYTES
RAN: list[str] = []


@dataclass(frozen=True)
class Reading:
    sensor: str
    values: np.ndarray


class Colour(enum.Enum):
    RED = "red"


class Pair(NamedTuple):
    left: int
    right: int


class Ordinary:
    """Not a message type: a frame may not call it."""

    def __init__(self, note: str = "") -> None:
        RAN.append(note)


@travels
class Marked(Ordinary):
    pass


class Calls:
    """A frame that calls ``target(*args)`` when it is rebuilt: how pickle runs code."""

    def __init__(self, target: object, *args: object) -> None:
        self.target, self.args = target, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.target, self.args


def rebuilt(obj: object, admission: Admission | None = None) -> object:
    return MessageUnpickler(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), admission or Admission()).load()


@pytest.mark.parametrize(
    "message",
    [Reading("t", np.arange(4, dtype=np.float32)), Colour.RED, Pair(1, 2), Refused("x", "why"), ManualClock(3.0),
     {"a": [1, (2, 3)], "b": {4, 5}, "c": frozenset({6})}, np.float32(1.5)],
    ids=["dataclass-with-array", "enum", "named-tuple", "runtime-reply", "marked-runtime-class", "containers", "numpy-scalar"],
)  # fmt: skip
def test_a_message_type_of_the_runtime_or_the_application_is_rebuilt_equal(message: object) -> None:
    again = rebuilt(message)
    if isinstance(message, Reading):
        assert isinstance(again, Reading) and np.array_equal(again.values, message.values)
    elif isinstance(message, ManualClock):
        assert isinstance(again, ManualClock) and again.now() == 3.0
    else:
        assert again == message


@pytest.mark.parametrize(
    ("call", "reason"),
    [(Calls(os.system, "true"), "not a type of omega_actors, Thespian or the application"),
     (Calls(eval, "1"), "not a type of omega_actors, Thespian or the application"),
     (Calls(subprocess.Popen, ["true"]), "not a type of omega_actors, Thespian or the application"),
     (Calls(StateRepository, "/tmp/omega-frame-test"), "not a message type"),
     (Calls(Ordinary, "ran"), "not a message type"),
     (Calls(RAN.append, "ran"), "not a type")],
    ids=["os.system", "eval", "Popen", "a-runtime-class-that-writes", "an-application-class", "a-bound-method"],
)  # fmt: skip
def test_a_frame_that_would_call_anything_else_is_refused_before_the_call(call: Calls, reason: str) -> None:
    with pytest.raises(pickle.UnpicklingError, match=reason):
        rebuilt(call)
    assert RAN == [] and not os.path.exists("/tmp/omega-frame-test")


def test_a_class_marked_with_travels_may_be_called_by_a_frame() -> None:
    rebuilt(Calls(Marked, "marked"))
    assert RAN.pop() == "marked"


def test_an_installed_packages_message_type_needs_its_package_in_trusted_modules() -> None:
    with pytest.raises(pickle.UnpicklingError, match="hypothesis.internal.conjecture.data.Status: not a type of"):
        rebuilt(Status.VALID)
    assert rebuilt(Status.VALID, Admission(trusted_modules=("hypothesis",))) is Status.VALID


def test_a_signed_frame_naming_a_function_is_refused_counted_and_reported_and_nothing_runs() -> None:
    heard: list[str] = []
    auth = FrameAuth(SECRET, on_reject=heard.append)
    with pytest.raises(AuthError, match="refused type: .*system"):
        auth.loads(auth.dumps(Calls(os.system, "touch /tmp/omega-frame-ran")))
    assert auth.rejected == 1 and heard and heard[0].startswith("refused type")
    assert not os.path.exists("/tmp/omega-frame-ran")
