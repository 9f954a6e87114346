"""The runtime's fixtures, for tests of application actors."""

from tests.runtime.conftest import start_runtime  # noqa: F401  (a fixture)
