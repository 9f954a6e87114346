"""Replaying viewing data through TV brains, and measuring them: plain code, no actors.

- :mod:`.movielens`: MovieLens-format datasets, the fixed evaluation protocol
  (positives, the time split), the central reference systems (popularity,
  item-kNN) and the metrics (Recall@k, NDCG@k).
- :mod:`.fleet`: many TVs in one process (:class:`~.fleet.FleetWorker`: their
  brains and sync sessions over one shared catalogue of vectors), and the
  catalogue file they share.

Used by the fleet's actors, by Genesis' replay and grading, and by the demo.
May import the brain, federation, storage, runtime and ``omega_actors.errors``;
never actors, app, sim or cli.
"""
