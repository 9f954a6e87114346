"""The Omega system's own sections of ``config/``: which layer reads each, checked together.

The runtime reads ``[system]``, ``[cluster]`` and ``[tree]``; every other
table belongs to an application. These are the Omega system's, each read
(and refused, with its file, key and value) by the layer it configures:

``[reload]``  how ``config apply`` watches a change (:mod:`omega_actors.reload.settings`)
``[router]``  the router's layers, energy policy, learning (:mod:`omega_actors.router.settings`)
``[brain]``   the TV brain's index, thresholds and ranking weights (:mod:`omega_actors.brain.settings`)

A table none of them reads is left to the application that declared it:
:func:`check_sections` names it, so that a misspelt ``[rooter]`` does not
pass unseen.
"""

from __future__ import annotations

from collections.abc import Callable

from ..brain import BrainSettings
from ..reload import reload_settings
from ..runtime import Config
from .router import router_table

SECTIONS: dict[str, Callable[[Config], object]] = {
    "reload": reload_settings,
    "router": router_table,
    "brain": lambda config: config.section("brain", BrainSettings),
}


def check_sections(config: Config) -> list[str]:
    """Check every Omega section ``config`` has; the names of the tables that no Omega layer reads."""
    for name, read in SECTIONS.items():
        if name in config.tables:
            read(config)
    return sorted(name for name in config.tables if name not in SECTIONS)
