"""The exceptions omega_actors raises.

One root, :class:`OmegaError`, and a few subclasses. Every message says what
was wrong, where (file, key, actor), and what is accepted.
"""

from __future__ import annotations


class OmegaError(Exception):
    """Root of every error omega_actors raises on purpose."""


class ConfigError(OmegaError):
    """A config file, key or value was rejected.

    ``file`` and ``key`` locate the problem; the message says what was found
    and what is accepted.
    """

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        self.detail = message
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class SpecError(ConfigError):
    """A child spec or supervisor spec is invalid (raised at construction)."""


class RuntimeStartError(OmegaError):
    """The actor system could not be started (port taken, stale admin, ...)."""


class DeliveryError(OmegaError):
    """A message could not be delivered or was rejected by its target."""


class AskTimeout(DeliveryError):
    """No reply arrived in time."""


class SupervisorError(OmegaError):
    """A supervisor refused a request (``start_child``, ``terminate_child``, ...)."""


class StateError(OmegaError):
    """The state repository refused an operation (busy, unknown revision, broken repository)."""


class BrainInputError(OmegaError):
    """The brain rejected an input: wrong vector shape, NaN, empty or over-long text, unknown media."""


class ModelError(OmegaError):
    """The embedding model's files are missing, altered or unreadable."""


class RouterInputError(OmegaError):
    """The router rejected a task: empty, over-long, or not text."""


class ProviderError(OmegaError):
    """A compute provider could not answer: unreachable, too slow, or its answer was unusable."""


class ProviderUnavailable(ProviderError):
    """The provider cannot be reached, or said it cannot serve now (connection refused, HTTP 429 or 5xx, circuit open)."""


class ProviderTimeout(ProviderError):
    """The provider did not answer within its deadline."""


class MalformedResponse(ProviderError):
    """The provider answered, but not in the protocol it is configured to speak."""


class StoreError(OmegaError):
    """A store cannot be opened or used as configured: a missing file, a file of another kind or schema
    version, an unreachable database, or a request it refuses."""


class BranchMoved(StateError):
    """A side branch of the state repository moved since the writer read it: another writer committed."""


class GenesisError(OmegaError):
    """Genesis refused an experiment request or could not prepare it (a missing field, an unknown metric,
    a patch that does not apply); ``key`` names the field."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        self.detail = message
        super().__init__(f"{key}: {message}" if key else message)
