"""The brain's memory, in one SQLite file per TV: the source of truth.

Everything the brain knows can be rebuilt from this file: the HNSW index is
a cache of the ``items`` table, and the in-memory profiles are read back on
open. Three memories share the connection (the seed's names):

- :class:`ReflexionMemory`: episodes. What was observed, what had been
  recommended, the outcome, and a one-line reflection on it.
- :class:`SkillLibrary`: learned patterns from a context (daypart, mood) to
  content (a genre), with trials and successes. These are what the sync
  agent shares, never the episodes.
- :class:`ReasoningBank`: consolidated approaches, rebuilt by
  :meth:`ReasoningBank.consolidate`: a taste vector and a one-line summary
  per daypart, per mood and overall; plus the consolidated patterns that
  arrive from the constellation.

Durability: WAL, and ``synchronous=NORMAL``. A transaction committed in WAL
mode survives the death of the process (``kill -9``) because the data is in
the operating system's page cache; only a power cut can lose the last
commits, which ``synchronous=FULL`` would also cover at several times the
cost per observation. Callers commit before they acknowledge.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omega_actors.brain.catalogue import MediaItem
from omega_actors.brain.embedder import DIMENSIONS

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    label INTEGER PRIMARY KEY AUTOINCREMENT,
    media_id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    genres TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS episodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    media_id TEXT NOT NULL,
    watch_fraction REAL NOT NULL,
    daypart TEXT NOT NULL,
    mood TEXT NOT NULL,
    recommended TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reflection TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS episodes_media ON episodes (media_id);
CREATE TABLE IF NOT EXISTS skills (
    context TEXT NOT NULL,
    genre TEXT NOT NULL,
    trials INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (context, genre)
);
CREATE TABLE IF NOT EXISTS profiles (
    key TEXT PRIMARY KEY,
    vector BLOB NOT NULL,
    weight REAL NOT NULL,
    summary TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS patterns (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (kind, key)
);
"""


class MemoryStore:
    """The connection, the schema, the items table, and the store's version counter."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        # The profiles and skills are cached in Python; a small page cache keeps a brain light.
        self.db.execute("PRAGMA cache_size=-256")
        self.db.executescript(_SCHEMA)
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('items_version', 0)")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One committed unit: everything or nothing, committed before this returns."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            # Also after a failed COMMIT (busy, disk full): never leave a transaction open.
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    # Items: the index is a cache of this table, checked by items_version.

    def items_version(self) -> int:
        return int(self.db.execute("SELECT value FROM meta WHERE key='items_version'").fetchone()[0])

    def put_items(self, items: Iterable[MediaItem], vectors: Iterable[np.ndarray]) -> list[int]:
        """Insert or replace items (by media id); returns their labels. Call inside a transaction."""
        labels = []
        for item, vector in zip(items, vectors, strict=True):
            row = self.db.execute(
                "INSERT INTO items (media_id, title, genres, vector) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (media_id) DO UPDATE SET title=excluded.title, genres=excluded.genres, vector=excluded.vector "
                "RETURNING label",
                (item.media_id, item.title, "|".join(item.genres), _blob(vector)),
            ).fetchone()
            labels.append(int(row[0]))
        self._bump()
        return labels

    def delete_items(self, labels: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM items WHERE label=?", [(label,) for label in labels])
        self._bump()

    def all_items(self) -> Iterator[tuple[int, MediaItem]]:
        for label, media_id, title, genres in self.db.execute("SELECT label, media_id, title, genres FROM items ORDER BY label"):
            yield int(label), MediaItem(media_id, title, tuple(filter(None, genres.split("|"))))

    def all_vectors(self) -> Iterator[tuple[int, np.ndarray]]:
        for label, vector in self.db.execute("SELECT label, vector FROM items ORDER BY label"):
            yield int(label), _vector(vector)

    def _bump(self) -> None:
        self.db.execute("UPDATE meta SET value = value + 1 WHERE key='items_version'")


@dataclass(frozen=True, slots=True)
class Episode:
    id: int
    at: float
    media_id: str
    watch_fraction: float
    daypart: str
    mood: str
    recommended: tuple[str, ...]
    outcome: str
    reflection: str


class ReflexionMemory:
    def __init__(self, store: MemoryStore) -> None:
        self._db = store.db

    def record(self, *, media_id: str, watch_fraction: float, daypart: str, mood: str,
               recommended: tuple[str, ...], outcome: str, reflection: str, at: float | None = None) -> int:
        cursor = self._db.execute(
            "INSERT INTO episodes (at, media_id, watch_fraction, daypart, mood, recommended, outcome, reflection) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time() if at is None else at, media_id, watch_fraction, daypart, mood,
             json.dumps(list(recommended)), outcome, reflection),
        )
        return int(cursor.lastrowid or 0)

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM episodes").fetchone()[0])

    def ids(self) -> list[int]:
        return [int(row[0]) for row in self._db.execute("SELECT id FROM episodes ORDER BY id")]

    def successes(self, fraction: float) -> Iterator[str]:
        """The media ids of episodes watched to at least ``fraction``, oldest first."""
        for row in self._db.execute("SELECT media_id FROM episodes WHERE watch_fraction >= ? ORDER BY id", (fraction,)):
            yield row[0]

    def media_ids(self) -> set[str]:
        """Every media id ever observed."""
        return {row[0] for row in self._db.execute("SELECT DISTINCT media_id FROM episodes")}

    def recent(self, limit: int) -> list[Episode]:
        rows = self._db.execute("SELECT * FROM episodes ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [_episode(row) for row in reversed(rows)]


def _episode(row: tuple) -> Episode:
    id_, at, media_id, fraction, daypart, mood, recommended, outcome, reflection = row
    return Episode(int(id_), at, media_id, fraction, daypart, mood, tuple(json.loads(recommended)), outcome, reflection)


@dataclass(frozen=True, slots=True)
class Skill:
    context: str
    genre: str
    trials: int
    successes: int

    @property
    def success_rate(self) -> float:
        return self.successes / self.trials if self.trials else 0.0


class SkillLibrary:
    """Context -> genre statistics. A cache in memory, written through to SQLite."""

    def __init__(self, store: MemoryStore) -> None:
        self._db = store.db
        self._stats: dict[tuple[str, str], list[int]] = {}
        self.reload()

    def reload(self) -> None:
        """Read the cache back from the file (after a transaction that rolled back)."""
        self._stats = {
            (context, genre): [trials, successes]
            for context, genre, trials, successes in self._db.execute("SELECT context, genre, trials, successes FROM skills")
        }

    def record(self, context: str, genre: str, success: bool) -> None:
        stats = self._stats.setdefault((context, genre), [0, 0])
        stats[0] += 1
        stats[1] += int(success)
        self._db.execute(
            "INSERT INTO skills VALUES (?, ?, 1, ?, ?) ON CONFLICT (context, genre) DO UPDATE SET "
            "trials = trials + 1, successes = successes + excluded.successes, updated = excluded.updated",
            (context, genre, int(success), time.time()),
        )

    def get(self, context: str, genre: str) -> Skill:
        trials, successes = self._stats.get((context, genre), (0, 0))
        return Skill(context, genre, trials, successes)

    def all(self) -> list[Skill]:
        return [Skill(context, genre, trials, successes) for (context, genre), (trials, successes) in sorted(self._stats.items())]


@dataclass(frozen=True, slots=True)
class Profile:
    key: str  # "all", "daypart:evening", "mood:relaxed"
    vector: np.ndarray
    weight: float
    summary: str


class ReasoningBank:
    """Consolidated profiles, and the patterns the constellation sends back."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._db = store.db
        self.profiles: dict[str, Profile] = {
            key: Profile(key, _vector(vector), weight, summary)
            for key, vector, weight, summary in self._db.execute("SELECT key, vector, weight, summary FROM profiles")
        }
        self.patterns: dict[str, dict[str, float]] = {}
        for kind, key, value in self._db.execute("SELECT kind, key, value FROM patterns"):
            self.patterns.setdefault(kind, {})[key] = float(value)

    def consolidate(self, episodes: list[Episode], vectors: Mapping[str, np.ndarray], titles: Mapping[str, tuple[str, ...]],
                    *, success: float) -> dict[str, Profile]:
        """Rebuild every profile from ``episodes`` (the recent ones): one committed replacement."""
        groups: dict[str, list[tuple[np.ndarray, float, tuple[str, ...]]]] = {}
        for episode in episodes:
            vector = vectors.get(episode.media_id)
            if vector is None or episode.watch_fraction < success:
                continue
            entry = (vector, episode.watch_fraction, titles.get(episode.media_id, ()))
            for key in ("all", f"daypart:{episode.daypart}", f"mood:{episode.mood}"):
                groups.setdefault(key, []).append(entry)
        profiles = {key: _profile(key, entries) for key, entries in groups.items()}
        with self._store.transaction() as db:
            db.execute("DELETE FROM profiles")
            db.executemany(
                "INSERT INTO profiles VALUES (?, ?, ?, ?, ?)",
                [(p.key, _blob(p.vector), p.weight, p.summary, time.time()) for p in profiles.values()],
            )
        self.profiles = profiles
        return profiles

    def replace_patterns(self, patterns: Mapping[str, Mapping[str, float]]) -> None:
        with self._store.transaction() as db:
            db.execute("DELETE FROM patterns")
            db.executemany(
                "INSERT INTO patterns VALUES (?, ?, ?)",
                [(kind, key, float(value)) for kind, values in patterns.items() for key, value in values.items()],
            )
        self.patterns = {kind: dict(values) for kind, values in patterns.items()}


def _profile(key: str, entries: list[tuple[np.ndarray, float, tuple[str, ...]]]) -> Profile:
    weights = np.asarray([weight for _, weight, _ in entries], dtype=np.float32)
    mean = (np.stack([vector for vector, _, _ in entries]) * weights[:, None]).sum(axis=0)
    genres: dict[str, float] = {}
    for _, weight, item_genres in entries:
        for genre in item_genres:
            genres[genre] = genres.get(genre, 0.0) + weight
    top = ", ".join(genre for genre, _ in sorted(genres.items(), key=lambda pair: (-pair[1], pair[0]))[:3])
    summary = f"{key}: {len(entries)} watched through, mostly {top or 'untagged'}"
    return Profile(key, mean / max(float(np.linalg.norm(mean)), 1e-12), float(weights.sum()), summary)


def _blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def _vector(blob: bytes) -> np.ndarray:
    vector = np.frombuffer(blob, dtype="<f4")
    if vector.shape != (DIMENSIONS,):
        raise sqlite3.DatabaseError(f"stored vector has {vector.size} values, expected {DIMENSIONS}")
    return vector
