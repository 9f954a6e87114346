"""Hot reload: apply a new supervision config to a running system, or roll it back.

See :mod:`.apply` for the procedure, :mod:`.health` for what decides a
rollback, :mod:`.settings` for the ``[reload]`` table, :mod:`.sections` for
the Omega system's sections checked before a configuration runs, and
:mod:`omega_actors.storage.state_repository` for where applied configs live.

Plain code over a running system: may import the runtime, storage, the
brain's and the router's settings, and ``omega_actors.errors``; never actors, app, sim, benchmarks or cli.
"""

from .apply import ChangeOutcome, ChangeStatus, Reloader
from .sections import check_sections
from .settings import ReloadSettings, reload_settings, state_path

__all__ = ["ChangeOutcome", "ChangeStatus", "check_sections", "ReloadSettings", "Reloader", "reload_settings", "state_path"]
