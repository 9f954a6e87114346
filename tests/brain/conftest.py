"""One embedder for the whole session: loading the model takes about 100 ms and 60 MB."""

from __future__ import annotations

import pytest

from omega_actors.brain import Embedder, shared_embedder


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return shared_embedder()
