"""Storage: where omega_actors keeps what must outlive a process.

:mod:`.state_repository` (the git repository of applied configurations and
what the router and improvers learn), :mod:`.constellation` and
:mod:`.constellation_postgres` (the constellation's store, SQLite or
PostgreSQL, one contract), :mod:`.files` (small files written whole or not
at all).

The bottom of the plain code: may import the runtime and
``omega_actors.errors`` only.
"""
