"""Genesis: risky changes tried in isolated sandboxes, graded from outside, then merged or rolled back.

Plain code, no actors (the actors are in :mod:`omega_actors.actors.genesis`):

- :mod:`.request`: what an experiment request holds, checked field by field;
- :mod:`.sandbox`: ``sandboxes/<id>/``, hardlinks into a read-only export of the base commit;
- :mod:`.database`: the experiment's own SQLite file or ``genesis_<id>`` PostgreSQL database;
- :mod:`.process`: the command's own process, limits, scrubbed environment;
- :mod:`.grading`: baseline twice, quarantine, PASS_TO_PASS, metrics and the threshold;
- :mod:`.experiment`: the steps, and merge on a branch or rollback;
- :mod:`.records`: Genesis' own database of requests and outcomes;
- :mod:`.replay`: the brain's experiment command (episodes in, rankings out);
- :mod:`.improvement`: local (type 1) and global (type 2) improvements of the brain's ranking.

May import the other plain-code packages (brain, evaluation, reload, storage),
the runtime and ``omega_actors.errors``; never actors, app, sim, benchmarks or cli.
"""

from .experiment import Experiment, admit, commit_on_branch
from .records import Records
from .request import (
    METRICS,
    ConfigChange,
    ExperimentRequest,
    PatchChange,
    Validation,
    parse_request,
)
from .sandbox import Sandbox, Sandboxes, new_experiment_id

__all__ = [
    "METRICS", "ConfigChange", "Experiment", "ExperimentRequest", "PatchChange", "Records", "Sandbox", "Sandboxes",
    "Validation", "admit", "commit_on_branch", "new_experiment_id", "parse_request",
]
