"""Replay recorded episodes through TV brains and write their rankings: the brain's experiment command.

::

    python -m omega_actors.genesis.replay --config DIR --episodes FILE --catalogue FILE --out FILE

Each user of ``--episodes`` (written by :func:`write_inputs`) becomes one
brain with the ranking settings of the ``[brain]`` table in ``--config``;
its training episodes are observed in time order, then it ranks its whole
catalogue minus what it played, and ``--out`` maps each user to its top 10.
The held-out episodes are not in the file: the evaluator keeps them and
grades the rankings (:mod:`.grading`), so a sandbox cannot see, or report,
its own score.

:func:`replay` also runs in-process, for an instance that proves a change on
its own recorded episodes before it applies it (type 1:
:func:`omega_actors.genesis.improvement.proven_recall`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..brain import BrainSettings, MediaItem
from ..brain.ranking import daypart_of
from ..errors import ConfigError
from ..evaluation.fleet import FleetWorker, ViewIn, load_catalogue, save_catalogue
from ..evaluation.movielens import Split, load, split


def episodes_of(dataset: str | Path, users: int) -> Split:
    """The first ``users`` users of a MovieLens-format directory, split by the fixed protocol."""
    data = split(load(dataset))
    return Split(data.items, data.users[:users])


def write_inputs(data: Split, episodes: Path, catalogue: Path, vectors: np.ndarray) -> None:
    """The training episodes (never the held-out ones) and the embedded catalogue, for the command."""
    train = {user.user: [[r.media_id, r.rating, r.timestamp] for r in user.train] for user in data.users}
    episodes.write_text(json.dumps({"version": 1, "users": train}))
    save_catalogue(catalogue, data.items, vectors)


def replay(users: Mapping[str, Sequence[Sequence[Any]]], items: Sequence[MediaItem], vectors: np.ndarray,
           settings: BrainSettings, n: int = 10) -> dict[str, list[str]]:
    """Each user's top ``n`` after observing their episodes, one brain per user in a scratch directory."""
    names = {user: f"u{index}" for index, user in enumerate(users)}
    # A row is (media, rating 0-5, timestamp) or, from a brain's own episodes, (media, rating, time, daypart).
    views = sorted(((float(row[2]), user, position, str(row[0]), float(row[1]), str(row[3]) if len(row) > 3 else daypart_of(row[2]))
                    for user, rows in users.items() for position, row in enumerate(rows)),
                   key=lambda view: (view[0], view[1], view[2]))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="omega-replay-") as scratch:
        worker = FleetWorker(scratch, list(names.values()), items, vectors, brain=settings)
        try:
            worker.play((ViewIn(names[user], position, media, min(rating / 5.0, 1.0), daypart)
                         for _, user, position, media, rating, daypart in views), recommend=False)  # fmt: skip
            ranked = worker.rank(list(names.values()), n)
        finally:
            worker.close()
    return {user: ranked[name] for user, name in names.items()}


def brain_settings(config_dir: Path) -> BrainSettings:
    """The ``[brain]`` table of a config directory (defaults without one); errors name the file and key.

    Only that table is read: the rest of the configuration (a tree whose actors
    this process need not import) is the config apply path's to check.
    """
    for path in sorted(Path(config_dir).glob("*.toml")):
        try:
            table = tomllib.loads(path.read_text()).get("brain")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read: {exc}", file=str(path)) from None
        if table is not None:
            if not isinstance(table, dict):
                raise ConfigError("expected a table", file=str(path), key="brain")
            return BrainSettings.from_table(table, file=str(path))
    return BrainSettings()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m omega_actors.genesis.replay", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="a config directory; its [brain] table is used")
    parser.add_argument("--episodes", type=Path, required=True)
    parser.add_argument("--catalogue", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = brain_settings(args.config)
    users = json.loads(args.episodes.read_text())["users"]
    items, vectors = load_catalogue(args.catalogue)
    rankings = replay(users, items, np.asarray(vectors, dtype=np.float32), settings)
    args.out.write_text(json.dumps(rankings))
    print(f"ranked {len(rankings)} users with {args.config}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
