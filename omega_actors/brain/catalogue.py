"""Media items the brain can recommend, and a synthetic catalogue for tests.

An item's text is "title | genres", the form MovieLens uses, so the same
embedding path serves generated catalogues and replayed datasets.
"""

from __future__ import annotations

import random
import sys
import weakref
from dataclasses import dataclass
from typing import TypeGuard

from omega_actors.errors import BrainInputError

GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical",
    "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)

_ADJECTIVES = (
    "Silent", "Last", "Golden", "Broken", "Hidden", "Midnight", "Crimson",
    "Endless", "Frozen", "Wild", "Secret", "Lost", "Burning", "Distant",
    "Electric", "Quiet", "Savage", "Little", "Final", "Northern",
)
_NOUNS = (
    "River", "Kingdom", "Detective", "Summer", "Heist", "Garden", "Planet",
    "Promise", "Circus", "Harbour", "Witness", "Orchestra", "Frontier",
    "Island", "Signal", "Kitchen", "Dragon", "Verdict", "Voyage", "Station",
)


def is_text(value: object) -> TypeGuard[str]:
    """A str that can be stored and tokenized: lone surrogates (which pickle fine) cannot."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, slots=True, weakref_slot=True)
class MediaItem:
    media_id: str
    title: str
    genres: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        media_id, title, genres = (getattr(self, key, None) for key in ("media_id", "title", "genres"))
        if not is_text(media_id) or not media_id or len(media_id) > 200:
            raise BrainInputError(f"media_id must be UTF-8 text of 1-200 characters; got {media_id!r}")
        if not is_text(title) or not title.strip() or len(title) > 1000:
            raise BrainInputError(f"media {media_id!r}: title must be UTF-8 text of 1-1000 characters")
        if not isinstance(genres, tuple) or not all(is_text(g) and g and "|" not in g for g in genres):
            raise BrainInputError(f"media {media_id!r}: genres must be a tuple of non-empty UTF-8 strings without '|'")

    @property
    def text(self) -> str:
        return f"{self.title} | {'|'.join(self.genres)}" if self.genres else self.title


def synthetic_catalogue(size: int, *, seed: int = 0) -> list[MediaItem]:
    """`size` items with made-up titles and one to three genres, the same for a seed."""
    rng = random.Random(seed)
    items = []
    for number in range(size):
        title = f"The {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
        if rng.random() < 0.3:
            title += f" {rng.randint(2, 4)}"
        genres = tuple(sorted(rng.sample(GENRES, rng.randint(1, 3))))
        items.append(MediaItem(f"m{number}", f"{title} ({1950 + rng.randint(0, 75)})", genres))
    return items


_SHARED: weakref.WeakValueDictionary[tuple[str, str, tuple[str, ...]], MediaItem] = weakref.WeakValueDictionary()


def shared_item(item: MediaItem) -> MediaItem:
    """One object per distinct item in a process: many brains of one catalogue hold it once.

    Genre names are interned too. With a thousand brains of the same thousand
    items in a simulation, this keeps the per-brain cost to its own index and
    memory instead of a private copy of the catalogue.
    """
    key = (item.media_id, item.title, item.genres)
    found = _SHARED.get(key)
    if found is None:
        found = MediaItem(sys.intern(item.media_id), item.title, tuple(sys.intern(genre) for genre in item.genres))
        _SHARED[key] = found
    return found
