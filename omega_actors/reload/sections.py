"""The operated system's own sections of ``config/``: which layer reads each, checked before a configuration runs.

The runtime reads ``[system]``, ``[cluster]`` and ``[tree]`` (and refuses a
table one typo away from them). The Omega system's own sections are read by
the layers they configure:

``[reload]``  how ``config apply`` watches a change (:mod:`.settings`)
``[router]``  the router's layers, energy policy, learning (:mod:`omega_actors.router.settings`)
``[brain]``   the TV brain's index, thresholds and ranking weights (:mod:`omega_actors.brain.settings`)

:func:`check_sections` checks every one a configuration has, with its file,
key and value, and refuses a table one typo away from one of them (a
``[brian]`` would otherwise hold settings that nothing reads). Any other
table is an application's own, left to the application. It runs wherever a
configuration is about to run: ``config check``, ``run``, the first ``start``,
``config apply`` and rollback, and Genesis' check of a config change.
"""

from __future__ import annotations

from collections.abc import Callable

from ..brain.settings import BrainSettings
from ..errors import ConfigError
from ..router.settings import RouterSettings
from ..runtime import Config
from ..settings import near_miss
from .settings import reload_settings


def _router(config: Config) -> object:
    return RouterSettings.from_table(config.tables.get("router", {}), file=config.sources.get("router"))


SECTIONS: dict[str, Callable[[Config], object]] = {
    "reload": reload_settings,
    "router": _router,
    "brain": lambda config: config.section("brain", BrainSettings),
}


def check_sections(config: Config) -> list[str]:
    """Check the Omega sections ``config`` has; the names of its other tables, which are the application's."""
    others = sorted(name for name in config.tables if name not in SECTIONS)
    for name in others:
        guess = near_miss(name, tuple(SECTIONS))
        if guess is not None:
            raise ConfigError(f"[{name}] is one typo away from [{guess}], which the Omega system reads: did you mean "
                              f"[{guess}]? Name an application's own section further from {', '.join(SECTIONS)}",
                              file=config.sources[name], key=name)  # fmt: skip
    for name, read in SECTIONS.items():
        if name in config.tables:
            read(config)
    return others
