"""One TV's supervision tree: its brain, its memory, its sync agent and its improver.

::

    tv-<id> (rest_for_one)
      embedder   EmbedderActor  tv.<id>.embedder  the process's shared ONNX session
      memory     MemoryActor    tv.<id>.memory    the brain: SQLite memories and the HNSW index
      sync       SyncAgent      tv.<id>.sync      pushes what works here, pulls what the fleet knows (optional)
      improver   Improver       tv.<id>.improver  types 1 and 2 of self-improvement (optional)

``rest_for_one`` because each child depends on the ones before it: a new
embedder means a new memory actor (it holds the embedder's answers in
flight), and a new memory actor means the sync agent and the improver start
again from what the memory holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..actors.improver import Improver
from ..actors.sync_agent import SyncAgent
from ..actors.tv_brain import EmbedderActor, MemoryActor, names
from ..brain import BrainSettings
from ..runtime import ChildSpec, Strategy, Supervisor, SupervisorSpec

SYNC_AGENT_KEYS = ("link", "nats_url", "nats_prefix", "tick", "clock")


def tv_brain_spec(tv: str, *, data_dir: str = "", settings: Mapping[str, Any] | None = None,
                  intensity: int = 5, period: float = 30.0, sync: Mapping[str, Any] | None = None,
                  improver: Mapping[str, Any] | None = None) -> ChildSpec:
    """One TV's supervisor, as ``config/brain/tree.toml`` declares it.

    ``sync`` (optional) configures the sync agent: ``link`` ("actors", "nats"
    or "off"), ``nats_url``, ``nats_prefix``, ``tick`` (seconds between clock checks),
    ``clock`` (a Clock) and the :class:`~omega_actors.federation.device.SyncSettings`
    keys (``interval_min``, ``interval_max``, ``threshold``, ...).

    ``improver`` (optional) adds the TV's :class:`~omega_actors.actors.improver.Improver`:
    ``state_dir`` (its git repository), ``window``, ``tolerance``, ``poll``.
    """
    table = dict(settings or {})
    BrainSettings.from_table(table)  # refuse bad settings here, not in a child's start
    registered = names(tv)
    children = [
        EmbedderActor.child_spec("embedder", name=registered["embedder"], tv=tv, settings=table),
        MemoryActor.child_spec("memory", name=registered["memory"], tv=tv, data_dir=data_dir, settings=table),
    ]
    if sync is not None:
        children.append(_sync_spec(tv, data_dir or table.get("data_dir", ""), dict(sync)))
    if improver is not None:
        children.append(improver_spec(tv, **dict(improver)))
    return Supervisor.child_spec(
        f"tv-{tv}",
        SupervisorSpec(strategy=Strategy.REST_FOR_ONE, intensity=intensity, period=period, children=tuple(children)),
    )


def _sync_spec(tv: str, data_dir: str, options: dict[str, Any]) -> ChildSpec:
    agent = {key: options.pop(key) for key in SYNC_AGENT_KEYS if key in options}
    return SyncAgent.child_spec("sync", name=names(tv)["sync"], tv=tv, data_dir=data_dir, sync=options, **agent)


def improver_spec(tv: str, state_dir: str, **options: Any) -> ChildSpec:
    """The TV's improver: ``state_dir`` is the git repository that keeps its branch ``ranking-<tv>``."""
    return Improver.child_spec("improver", name=names(tv)["improver"], tv=tv, state_dir=state_dir, **options)
