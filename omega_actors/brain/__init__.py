"""The TV brain as plain code: embedding, vector index, memory and ranking. No actors.

See :mod:`.brain` for the facade most callers want, and
:mod:`omega_actors.actors.tv_brain` for the supervised actors around it.

May import storage, the runtime and ``omega_actors.errors``; never actors,
app, sim, benchmarks or cli.
"""

from omega_actors.brain.brain import Brain, Observation
from omega_actors.brain.catalogue import MediaItem, synthetic_catalogue
from omega_actors.brain.embedder import (
    DIMENSIONS,
    Embedder,
    ModelFiles,
    check_vector,
    shared_embedder,
)
from omega_actors.brain.index import IndexParams, IndexUnusable, VectorIndex
from omega_actors.brain.memory import (
    Episode,
    MemoryStore,
    Profile,
    ReasoningBank,
    ReflexionMemory,
    Skill,
    SkillLibrary,
)
from omega_actors.brain.ranking import (
    DAYPARTS,
    ConsolidatedPatterns,
    Recommendation,
    RecommendContext,
    daypart_of,
)
from omega_actors.brain.settings import BrainSettings

__all__ = [
    "DAYPARTS",
    "DIMENSIONS",
    "Brain",
    "BrainSettings",
    "ConsolidatedPatterns",
    "Embedder",
    "Episode",
    "IndexParams",
    "IndexUnusable",
    "MediaItem",
    "MemoryStore",
    "ModelFiles",
    "Observation",
    "Profile",
    "ReasoningBank",
    "RecommendContext",
    "Recommendation",
    "ReflexionMemory",
    "Skill",
    "SkillLibrary",
    "VectorIndex",
    "check_vector",
    "daypart_of",
    "shared_embedder",
    "synthetic_catalogue",
]
