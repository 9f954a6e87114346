"""Shared fixtures: services, bases, and a runtime that is always shut down."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from omega_actors.storage.state_repository import StateRepository

REQUIRE_SERVICES = os.environ.get("OMEGA_REQUIRE_SERVICES") == "1"


def service_available(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip with a reason when a service is missing, or fail when CI requires it."""
    if service_available(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and OMEGA_REQUIRE_SERVICES=1 requires it")
    pytest.skip(message)


@pytest.fixture
def open_repo() -> Iterator[Callable[[Path], StateRepository]]:
    """Open state repositories; each is closed after the test (gitpython keeps git helpers running)."""
    opened: list[StateRepository] = []

    def open_(path: Path) -> StateRepository:
        repo = StateRepository(path)
        opened.append(repo)
        return repo

    yield open_
    for repo in opened:
        repo.close()
