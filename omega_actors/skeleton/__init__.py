"""omega_actors.skeleton: the public API of Python packages, read from source, never imported.

Plain code, no actors (the pool that runs it is :mod:`omega_actors.actors.skeleton`)::

    from omega_actors.skeleton.sources import installed
    from omega_actors.skeleton.store import SkeletonStore
    from omega_actors.skeleton.reader import read

    with SkeletonStore("api.db") as store:
        for package in installed(["pip"]):
            package_id, jobs, _ = store.plan(package)
            store.record(package_id, jobs, [read(job) for job in jobs])
            store.finish(package_id, changed=True)

Modules, one concept each: :mod:`.extract` (one file to its record),
:mod:`.resolve` (a package's records to its API: stubs, ``__all__``,
re-exports, public or private), :mod:`.sources` (installed distributions,
directories, wheels, sdists), :mod:`.reader` (one job to one outcome),
:mod:`.store` (SQLite, incremental), :mod:`.writer` (the store on its own
thread), :mod:`.schedule` (batches, lost workers, exactly once),
:mod:`.signature`, :mod:`.lookup` (``show``), :mod:`.diff` (API drift) and
:mod:`.agreement` (the check against griffe).

May import the runtime and ``omega_actors.errors``; never actors, app, sim,
benchmarks or cli.
"""
