"""Frames a process without the secret might send to any port of a system: what the security tests throw."""

from __future__ import annotations

import pickle
import socket
from pathlib import Path


def raw_frame(marker: Path) -> bytes:
    """What a Thespian peer sends, holding a pickle that creates ``marker`` when it is loaded."""

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str, str]]:
            return (open, (str(marker), "w"))

    data = pickle.dumps(Payload())
    return f"{len(data)}>".encode() + data


def send_raw(port: int, frame: bytes, wait: bool = True) -> None:
    """Send ``frame`` on a connection of its own; with ``wait``, until the peer answers or closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(frame)
        if not wait:
            return
        try:
            connection.recv(64)  # Thespian answers every whole frame (ack or data error), or closes
        except OSError:
            pass
