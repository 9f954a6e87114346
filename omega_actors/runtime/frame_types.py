"""What a signed frame may rebuild: message types, and never a function or an arbitrary class.

The signature (:mod:`.frame_auth`) says a frame comes from a holder of the
secret. This is the second line, for a frame that passes it and still must
not run code (a stolen key, a member gone wrong): pickle rebuilds an object
by calling whatever *global* the frame names, so ``os.system`` or
``subprocess.Popen`` in a frame is code execution. :class:`MessageUnpickler`
admits a global only when it is

- data pickle cannot spell without one, from a short list (numpy arrays and
  dtypes, paths, a few standard types, Thespian's log records), or
- a class of Thespian's own (its messages and addresses), or
- a *message type* of omega_actors or of the application: a dataclass, an
  enum or a named tuple, or a class marked with :func:`travels`.

The application is the code that is neither the standard library nor an
installed distribution (a checkout's packages, ``tests``), plus the packages
named in ``[cluster] trusted_modules`` (an application installed with pip).
A function is never admitted, nor is a class that is not a message type: a
frame could otherwise call ``StateRepository(path)`` or ``Brain.open``.
Decisions are cached per global, so a frame pays one dictionary lookup per
class it names.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import importlib.util
import io
import pickle
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T", bound=type)

_ENGINE = ("omega_actors", "thespian")
_DATA = {
    ("builtins", name) for name in ("set", "frozenset", "bytearray", "complex", "range", "slice")
} | {
    ("collections", "OrderedDict"), ("collections", "deque"), ("collections", "Counter"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"), ("datetime", "timedelta"),
    ("datetime", "timezone"), ("decimal", "Decimal"), ("fractions", "Fraction"), ("uuid", "UUID"),
    ("pathlib", "PosixPath"), ("pathlib", "PurePosixPath"),
    ("socket", "AddressFamily"), ("socket", "SocketKind"),  # inside Thespian's addresses
    ("logging", "LogRecord"),  # Thespian forwards actors' log records to its logger process
    ("copyreg", "_reconstructor"),
    ("numpy", "dtype"), ("numpy", "ndarray"),
    ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
}  # fmt: skip
_MARK = "_omega_travels"


def travels(cls: T) -> T:
    """Mark a class that is not a dataclass, enum or named tuple as safe to rebuild from a frame.

    Only for classes whose construction has no effect beyond the object
    itself (a clock, a table of values): a frame may call the class.
    """
    setattr(cls, _MARK, True)
    return cls


class Admission:
    """Which globals frames may name in this process; decisions are cached."""

    def __init__(self, trusted_modules: Iterable[str] = ()) -> None:
        self.trusted = frozenset(trusted_modules)
        self._decided: dict[tuple[str, str], str | None] = {}
        self._applications: dict[str, bool] = {}

    def refusal(self, module: str, name: str) -> str | None:
        """Why ``module.name`` may not be rebuilt from a frame, or None when it may."""
        key = (module, name)
        if key not in self._decided:
            self._decided[key] = self._decide(module, name)
        return self._decided[key]

    def _decide(self, module: str, name: str) -> str | None:
        if (module, name) in _DATA:
            return None
        top = module.partition(".")[0]
        if top not in _ENGINE and not self._application(top):
            return f"{module}.{name}: not a type of omega_actors, Thespian or the application"
        try:
            found: Any = importlib.import_module(module)
            for part in name.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError) as exc:
            return f"{module}.{name}: cannot be found ({type(exc).__name__})"
        if not isinstance(found, type):
            return f"{module}.{name}: not a class (a frame may name message types only)"
        if top == "thespian" or _is_message_type(found):
            return None
        return f"{module}.{name}: not a message type (a dataclass, an enum, a named tuple, or marked with travels)"

    def _application(self, top: str) -> bool:
        """Code of this application: trusted by name, or found outside the standard library and site-packages."""
        if top in self.trusted:
            return True
        if top not in self._applications:
            self._applications[top] = _outside_installed_code(top)
        return self._applications[top]


def _is_message_type(cls: type) -> bool:
    named_tuple = issubclass(cls, tuple) and hasattr(cls, "_fields")
    return dataclasses.is_dataclass(cls) or issubclass(cls, enum.Enum) or named_tuple or bool(getattr(cls, _MARK, False))


def _outside_installed_code(top: str) -> bool:
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    places = [spec.origin] if spec.origin not in (None, "namespace", "built-in", "frozen") else list(spec.submodule_search_locations or [])
    if not places:
        return False  # built into the interpreter: the standard library
    installed = {Path(path).resolve() for key, path in sysconfig.get_paths().items() if key in _INSTALLED}
    return not any(directory in Path(place).resolve().parents for place in places for directory in installed)  # type: ignore[arg-type]


_INSTALLED = ("stdlib", "platstdlib", "purelib", "platlib")


class MessageUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds what :class:`Admission` admits and refuses any other global."""

    def __init__(self, data: bytes, admission: Admission) -> None:
        super().__init__(io.BytesIO(data))
        self._admission = admission

    def find_class(self, module: str, name: str) -> Any:
        refusal = self._admission.refusal(module, name)
        if refusal is not None:
            raise pickle.UnpicklingError(refusal)
        return super().find_class(module, name)
