"""Signed frames for Thespian's TCP transport.

Thespian pickles every frame it sends and unpickles every frame it receives,
so anyone who reaches a cluster port can run code in it. Each process of a
cluster that shares a secret replaces the transport's ``serializer`` with a
:class:`FrameAuth`, which signs every frame on the way out and verifies it
*before* anything is unpickled on the way in::

    auth = FrameAuth(load_secret("/etc/omega/cluster.secret"))
    frame = auth.dumps(message)        # MAGIC | ts_ms | nonce | tag | pickle
    assert auth.loads(frame) == message

What it protects: the integrity and authenticity of each frame, for holders of
the secret (HMAC-SHA256 over magic, timestamp, nonce and payload), and against
replay within ``window`` seconds (a timestamp check plus a cache of nonces).

What passes the signature is rebuilt by :class:`~.frame_types.MessageUnpickler`,
which admits message types and refuses any other global (a function, a class
whose construction does something): a second line against a holder of the
key gone wrong.

What it does not: confidentiality (frames travel in clear: use a private
network or a tunnel for that), nor anything against a holder of the secret,
who is a member of the cluster by definition. The clocks of the cluster must
agree within ``window``.

Thespian sends its ``ACK`` / ``ACK+DATAERR`` replies pre-pickled, bypassing
the serializer; those two exact byte strings are let through by comparison,
never by unpickling. The replay cache holds at most
:data:`REPLAY_CACHE_LIMIT` nonces: past that, the oldest are forgotten before
their frame goes stale, so at more than that many frames per window a replay
of one of them becomes possible. That trade bounds memory under a flood.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import secrets
import stat
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

from ..errors import SpecError
from .frame_types import Admission, MessageUnpickler

MIN_SECRET_BYTES = 32
REPLAY_CACHE_LIMIT = 100_000
MAGIC = b"OMG1"

_TIMESTAMP = struct.Struct(">Q")
_NONCE_BYTES = 16
_TAG_BYTES = 32
_SIGNED_HEAD_BYTES = len(MAGIC) + _TIMESTAMP.size + _NONCE_BYTES
_HEADER_BYTES = _SIGNED_HEAD_BYTES + _TAG_BYTES
# Thespian's streamBuffer pickles these with pickle's default protocol.
_CONTROL = {pickle.dumps(text): text for text in ("ACK", "ACK+DATAERR")}
# The same strings in another protocol (a peer on another Python): refused,
# but with their own reason so an operator can tell them from an attack.
_FOREIGN_CONTROL = {
    pickle.dumps(text, protocol=p) for text in _CONTROL.values() for p in range(pickle.HIGHEST_PROTOCOL + 1)
} - _CONTROL.keys()


class AuthError(ValueError):
    """A frame was refused; the message is the reason (it never holds the secret)."""


class FrameAuth:
    """A drop-in for Thespian's ``serializer`` (``dumps``/``loads``) that signs frames.

    ``rejected`` counts refused frames; ``on_reject(reason)`` hears each one.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        window: float = 120.0,
        clock: Callable[[], float] = time.time,
        on_reject: Callable[[str], None] | None = None,
        admission: Admission | None = None,
    ) -> None:
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"secret must be at least {MIN_SECRET_BYTES} bytes")
        if not (isinstance(window, (int, float)) and 0 < window < float("inf")):
            raise ValueError(f"window must be a positive number of seconds; got {window!r}")
        self._secret = secret
        self._window = float(window)
        self._clock = clock
        self._on_reject = on_reject
        self._admission = admission or Admission()
        self._seen: dict[bytes, float] = {}  # nonce -> expiry, in arrival order
        self._lock = threading.Lock()
        self.rejected = 0

    def dumps(self, obj: Any) -> bytes:
        payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        head = MAGIC + _TIMESTAMP.pack(int(self._clock() * 1000)) + secrets.token_bytes(_NONCE_BYTES)
        return head + self._tag(head, payload) + payload

    def loads(self, data: bytes) -> Any:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            self.refuse("not a signed frame")
        data = bytes(data)
        if data in _CONTROL:
            return _CONTROL[data]
        if data in _FOREIGN_CONTROL:
            self.refuse("control frame")
        if len(data) < _HEADER_BYTES or not data.startswith(MAGIC):
            self.refuse("not a signed frame")
        head, payload = data[:_SIGNED_HEAD_BYTES], data[_HEADER_BYTES:]
        if not hmac.compare_digest(data[_SIGNED_HEAD_BYTES:_HEADER_BYTES], self._tag(head, payload)):
            self.refuse("bad signature")
        self._admit(head)
        try:
            return MessageUnpickler(payload, self._admission).load()
        except pickle.UnpicklingError as exc:  # a global that is not a message type: refused, never called
            self.refuse(f"refused type: {exc}")

    def _tag(self, head: bytes, payload: bytes) -> bytes:
        return hmac.new(self._secret, head + payload, hashlib.sha256).digest()

    def _admit(self, head: bytes) -> None:
        """Check freshness and record the nonce; only called on a good signature,
        so strangers cannot fill the cache."""
        (millis,) = _TIMESTAMP.unpack_from(head, len(MAGIC))
        nonce = head[len(MAGIC) + _TIMESTAMP.size :]
        with self._lock:
            now = self._clock()
            self._forget_expired(now)
            if abs(now - millis / 1000) > self._window:
                reason = "stale timestamp"
            elif nonce in self._seen:
                reason = "replayed frame"
            else:
                # Once the frame itself is stale, a replay fails the timestamp check.
                self._seen[nonce] = millis / 1000 + self._window
                while len(self._seen) > REPLAY_CACHE_LIMIT:
                    del self._seen[next(iter(self._seen))]
                return
        self.refuse(reason)

    def _forget_expired(self, now: float) -> None:
        # Pruned from the oldest arrival on: amortised O(1). An entry that
        # expires before older ones (a skewed sender) lingers a little: memory, not safety.
        while self._seen:
            nonce, expiry = next(iter(self._seen.items()))
            if expiry >= now:
                return
            del self._seen[nonce]

    def refuse(self, reason: str) -> NoReturn:
        """Count a refused frame, report it, and raise :class:`AuthError`."""
        with self._lock:
            self.rejected += 1
        if self._on_reject is not None:
            self._on_reject(reason)
        raise AuthError(reason)


def ensure_secret(path: str) -> bytes:
    """The secret in ``path``, made first if there is none: 32 random bytes, hex, in a file only its owner reads.

    The file appears whole or not at all (written aside, then linked into
    place), and two processes starting at once make it once: the second link
    fails, and that process reads the first one's.
    """
    folder = os.path.dirname(path) or "."
    if not os.path.exists(path):
        try:
            os.makedirs(folder, exist_ok=True)
            _link_new_secret(path, folder)
        except FileExistsError:
            pass
        except OSError as exc:
            raise _secret_error(path, f"the file cannot be made ({exc.strerror or exc})") from None
    return load_secret(path)


def _link_new_secret(path: str, folder: str) -> None:
    scratch = os.path.join(folder, f".secret-{os.getpid()}-{secrets.token_hex(4)}")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(secrets.token_hex(MIN_SECRET_BYTES).encode())
            file.flush()
            os.fsync(file.fileno())
        os.link(scratch, path)  # atomic, and fails if another process linked first
    finally:
        os.unlink(scratch)


def load_secret(path: str) -> bytes:
    """The secret in ``path``, trailing whitespace stripped; the file must be private to its owner."""
    try:
        mode = os.stat(path).st_mode
        if mode & 0o077:
            raise _secret_error(path, f"the file is readable by group or others (mode {oct(stat.S_IMODE(mode))}); run: chmod 600 {path}")
        with open(path, "rb") as file:
            secret = file.read().rstrip()
    except FileNotFoundError:
        raise _secret_error(path, "the file does not exist") from None
    except OSError as exc:
        raise _secret_error(path, f"the file cannot be read ({exc.strerror or exc})") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise _secret_error(path, f"the secret is {len(secret)} bytes; expected at least {MIN_SECRET_BYTES}")
    return secret


def _secret_error(path: str, problem: str) -> SpecError:
    return SpecError(problem, file=path, key="secret_file")
