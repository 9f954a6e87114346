"""The TV brain as plain code: embedding, vector index, memory and ranking. No actors.

See :mod:`.brain` for the facade most callers want, and
:mod:`omega_actors.actors.tv_brain` for the supervised actors around it.

May import storage, the runtime and ``omega_actors.errors``; never actors,
app, sim, benchmarks or cli.

The names below load their module on first use (PEP 562): importing
``omega_actors.brain.settings`` (the ``[brain]`` table, which config checks
read) does not load the ONNX runtime or the model's tokenizer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, for type checkers; at run time __getattr__ loads them
    from omega_actors.brain.brain import Brain as Brain
    from omega_actors.brain.brain import Observation as Observation
    from omega_actors.brain.catalogue import MediaItem as MediaItem
    from omega_actors.brain.catalogue import synthetic_catalogue as synthetic_catalogue
    from omega_actors.brain.embedder import DIMENSIONS as DIMENSIONS
    from omega_actors.brain.embedder import Embedder as Embedder
    from omega_actors.brain.embedder import ModelFiles as ModelFiles
    from omega_actors.brain.embedder import check_vector as check_vector
    from omega_actors.brain.embedder import shared_embedder as shared_embedder
    from omega_actors.brain.index import IndexParams as IndexParams
    from omega_actors.brain.index import IndexUnusable as IndexUnusable
    from omega_actors.brain.index import VectorIndex as VectorIndex
    from omega_actors.brain.memory import Episode as Episode
    from omega_actors.brain.memory import MemoryStore as MemoryStore
    from omega_actors.brain.memory import Profile as Profile
    from omega_actors.brain.memory import ReasoningBank as ReasoningBank
    from omega_actors.brain.memory import ReflexionMemory as ReflexionMemory
    from omega_actors.brain.memory import Skill as Skill
    from omega_actors.brain.memory import SkillLibrary as SkillLibrary
    from omega_actors.brain.ranking import DAYPARTS as DAYPARTS
    from omega_actors.brain.ranking import ConsolidatedPatterns as ConsolidatedPatterns
    from omega_actors.brain.ranking import Recommendation as Recommendation
    from omega_actors.brain.ranking import RecommendContext as RecommendContext
    from omega_actors.brain.ranking import daypart_of as daypart_of
    from omega_actors.brain.settings import BrainSettings as BrainSettings

_HOMES = {
    "DAYPARTS": "omega_actors.brain.ranking",
    "DIMENSIONS": "omega_actors.brain.embedder",
    "Brain": "omega_actors.brain.brain",
    "BrainSettings": "omega_actors.brain.settings",
    "ConsolidatedPatterns": "omega_actors.brain.ranking",
    "Embedder": "omega_actors.brain.embedder",
    "Episode": "omega_actors.brain.memory",
    "IndexParams": "omega_actors.brain.index",
    "IndexUnusable": "omega_actors.brain.index",
    "MediaItem": "omega_actors.brain.catalogue",
    "MemoryStore": "omega_actors.brain.memory",
    "ModelFiles": "omega_actors.brain.embedder",
    "Observation": "omega_actors.brain.brain",
    "Profile": "omega_actors.brain.memory",
    "ReasoningBank": "omega_actors.brain.memory",
    "RecommendContext": "omega_actors.brain.ranking",
    "Recommendation": "omega_actors.brain.ranking",
    "ReflexionMemory": "omega_actors.brain.memory",
    "Skill": "omega_actors.brain.memory",
    "SkillLibrary": "omega_actors.brain.memory",
    "VectorIndex": "omega_actors.brain.index",
    "check_vector": "omega_actors.brain.embedder",
    "daypart_of": "omega_actors.brain.ranking",
    "shared_embedder": "omega_actors.brain.embedder",
    "synthetic_catalogue": "omega_actors.brain.catalogue",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
