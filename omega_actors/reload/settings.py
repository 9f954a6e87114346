"""The ``[reload]`` table: how a configuration change is watched and where it is kept.

::

    [reload]
    health_window = 5.0     # seconds a change is watched before it is committed
    crash_limit = 3         # restarts inside the window that make a crash loop
    probe_timeout = 2.0     # seconds an actor has to answer its health probe
    lock_timeout = 60.0     # seconds to wait for another writer of the state repository
    state_dir = ""          # the state repository; "" means <data_dir>/state
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..runtime import Config


@dataclass(frozen=True, slots=True)
class ReloadSettings:
    health_window: float = 5.0
    crash_limit: int = 3
    probe_timeout: float = 2.0
    lock_timeout: float = 60.0
    state_dir: str = ""

    def __post_init__(self) -> None:
        for key in ("probe_timeout", "lock_timeout"):
            _seconds(key, getattr(self, key), allow_zero=False)
        _seconds("health_window", self.health_window, allow_zero=True)
        limit = self.crash_limit
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"expected a whole number of restarts >= 1; got {limit!r}", key="crash_limit")
        if not isinstance(self.state_dir, str):
            raise ConfigError(f"expected a directory path, or \"\" for <data_dir>/state; got {self.state_dir!r}", key="state_dir")


def _seconds(key: str, value: object, allow_zero: bool) -> None:
    low = 0 if allow_zero else math.ulp(0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (low <= value < math.inf):
        accepted = "a number of seconds >= 0" if allow_zero else "a positive number of seconds"
        raise ConfigError(f"expected {accepted}; got {value!r}", key=key)


def reload_settings(config: Config) -> ReloadSettings:
    """The ``[reload]`` table of ``config``, checked; an error names the file and key."""
    return config.section("reload", ReloadSettings)


def state_path(config: Config, settings: ReloadSettings) -> Path:
    return Path(settings.state_dir) if settings.state_dir else Path(config.system.data_dir) / "state"
