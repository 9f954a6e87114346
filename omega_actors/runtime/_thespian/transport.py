"""Thespian's TCP transport, made safe to leave running: bind, sign, close.

Thespian 4.0.1's TCP transport binds ``''`` (every interface), unpickles
whatever arrives, and leaks the sockets of every endpoint it closes. Three
patches, installed by :func:`configure` before a tcp system starts, and
inherited by every actor process forked from this one:

- :func:`_install_bind_patch`: every endpoint (admin, actors, external
  clients) binds the configured host, 127.0.0.1 unless an operator says
  otherwise.
- :func:`_install_frame_auth`: every frame is signed (:mod:`..frame_auth`)
  and checked before it is unpickled, rebuilt by an unpickler that admits
  message types only (:mod:`..frame_types`), and a frame that announces an
  absurd size is refused before it is buffered. Only ``[cluster] signing =
  false`` leaves Thespian's plain pickle in place.
- :func:`_install_close_patch`: closing a transport closes its sockets.

The patches are process-wide, as Thespian's transport is: a process's
transport follows the system it last started or connected to.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from thespian.system.transport import IPBase
from thespian.system.transport import TCPTransport as tcp_module
from thespian.system.transport.TCPTransport import TCPTransport

from .. import logs
from ..frame_auth import FrameAuth
from ..frame_types import Admission

MAX_CHECKPOINT_BYTES = 16 * 1024 * 1024
MAX_FRAME_BYTES = 2 * MAX_CHECKPOINT_BYTES + (1 << 20)  # the largest checkpoint travels in an Init, with room

_bind_host = "127.0.0.1"
_installed: tuple[bytes | None, tuple[str, ...]] = (None, ())
_PLAIN = (tcp_module.serializer, tcp_module.ReceiveBuffer)  # Thespian's own: pickle, unbounded


def configure(bind: str, secret: bytes | None, trusted_modules: tuple[str, ...] = ()) -> None:
    """Bind endpoints to ``bind``, and sign and check frames with ``secret`` (None: plain pickle).

    ``trusted_modules``: packages beyond the application's own code whose message types frames may carry.
    """
    global _bind_host
    _bind_host = bind
    _install_bind_patch()
    _install_close_patch()
    _install_frame_auth(secret, tuple(trusted_modules))
    if bind != "0.0.0.0":
        os.environ["THESPIAN_BASE_IPADDR"] = bind


def _install_bind_patch() -> None:
    """Make Thespian's IP endpoints bind ``_bind_host`` instead of every interface."""
    original = IPBase.IPActorAddress.__init__
    if getattr(original, "_omega_patched", False):
        return

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.bindname[0] == "" and _bind_host != "0.0.0.0":
            self.bindname = (_bind_host, self.bindname[1])

    init._omega_patched = True  # type: ignore[attr-defined]
    IPBase.IPActorAddress.__init__ = init


def _install_frame_auth(secret: bytes | None, trusted_modules: tuple[str, ...]) -> None:
    """Sign every frame this process sends and verify every frame before unpickling it.

    Thespian's TCP transport reads its serializer from a module global each
    time it builds a send or receive buffer, so replacing that global covers
    messages, convention traffic and acks alike, in this process and in every
    actor process forked from it. A frame that fails the check raises inside
    Thespian's receive path, which answers with its data-error ack and closes
    the connection: the message is never unpickled, never delivered.
    """
    global _installed
    if (secret, trusted_modules) == _installed:
        return
    if secret is None:  # this process now talks to a system that signs nothing (signing = false)
        tcp_module.serializer, tcp_module.ReceiveBuffer = _PLAIN
    else:
        tcp_module.serializer = FrameAuth(secret, on_reject=_rejected_frame, admission=Admission(trusted_modules))
        tcp_module.ReceiveBuffer = _GuardedReceiveBuffer
    _installed = (secret, trusted_modules)


class _GuardedReceiveBuffer(tcp_module.ReceiveBuffer):  # type: ignore[misc,name-defined]
    """Thespian's receive buffer, for signed frames.

    - A frame whose announced size is absurd is refused before it is buffered:
      the signature is checked only once a frame is whole, and a stranger
      could otherwise stream gigabytes.
    - A whole frame is verified and unpickled once. Thespian asks a buffer for
      its frame twice when a message arrives on a socket that waits for an ack
      (``_check_XMIT_4_done`` then ``_addedDataToIncoming``); with plain pickle
      that is harmless, but the second check would refuse the frame as a replay.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._frame: Any = None

    def addMore(self, buf: bytes) -> None:
        super().addMore(buf)
        if self._size is not None and self._size > MAX_FRAME_BYTES:
            refusal = f"a frame of {self._size} bytes announced; at most {MAX_FRAME_BYTES} are accepted"
            serializer = tcp_module.serializer
            if isinstance(serializer, FrameAuth):
                serializer.refuse(refusal)  # counted and logged like any other refused frame
            raise ValueError(refusal)

    def completed(self) -> Any:
        if self._frame is None:
            self._frame = super().completed()
        return self._frame


def _rejected_frame(reason: str) -> None:
    # Every refusal is counted (FrameAuth.rejected); the log gets the first ten, then the
    # 16th, 32nd, ...: a stranger sending garbage must not be able to fill the disk.
    seen = frames_rejected()  # this refusal included
    if seen <= 10 or seen & (seen - 1) == 0:
        logs.emit(logging.WARNING, "frame_rejected", "", reason=reason, pid=os.getpid(), rejected=seen)


def frames_rejected() -> int:
    """How many frames this process has refused (a count per process, as Thespian's transport is)."""
    current = tcp_module.serializer
    return current.rejected if isinstance(current, FrameAuth) else 0


def _install_close_patch() -> None:
    """Make TCPTransport.close() close the sockets it holds.

    Thespian 4.0.1 keeps idle outgoing connections for reuse and forgets them
    on close, and its static ``_safeSocketShutdown`` tests
    ``isinstance(socket.error, Exception)`` (a class, never an instance), so
    it never closes the listening socket either: every external context, one
    per ask, left both to the garbage collector.
    """
    original = TCPTransport.close
    if getattr(original, "_omega_patched", False):
        return

    def close(self: Any) -> None:
        idle = getattr(self, "_openSockets", None)
        if idle:
            self.close_oldest_idle_sockets(len(idle))
        listening = getattr(self, "socket", None)
        original(self)
        if listening is not None:
            listening.close()

    close._omega_patched = True  # type: ignore[attr-defined]
    TCPTransport.close = close
