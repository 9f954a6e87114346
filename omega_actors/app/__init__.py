"""The application: the only place that knows how the subsystems fit together.

One module per subsystem's tree, each a function from settings to a
:class:`~omega_actors.runtime.ChildSpec` (OTP's child specs, built in code
where ``config/*.toml`` cannot say it all):

- :mod:`.tv`: one TV (embedder, memory, sync agent, improver);
- :mod:`.constellation`: shards, ingest and publisher;
- :mod:`.fleet`: the simulated fleet (the constellation, workers of many TVs, a conductor);
- :mod:`.router`: the router and one provider per layer, and routing one task on a tree started for it;
- :mod:`.genesis`: Genesis' service and experiments, and one experiment run to its verdict;
- :mod:`.skeleton`: the extractor pool, and one extraction run on it;
- :mod:`.running`: a running system as other processes find it: its run record,
  attaching to it, booting it from the state repository, and changing it.

May import actors, the plain-code packages, the runtime and
``omega_actors.errors``; never sim, benchmarks or cli. The package itself
imports nothing, so that using one tree does not load every subsystem.
"""
