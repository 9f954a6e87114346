"""omega_actors.router: route each task to the cheapest compute layer that can do it.

Plain code, no actors (the router under supervision is
:mod:`omega_actors.actors.router`, its tree :mod:`omega_actors.app.router`):
:mod:`.features` (the complexity estimate), :mod:`.policy` (energy),
:mod:`.escalation` (the plan), :mod:`.routing` (the decision and what it
learns), :mod:`.learning`, :mod:`.compiler` (hot paths to L2 code),
:mod:`.costs`, :mod:`.breaker`, :mod:`.chat` (an OpenAI-compatible client),
:mod:`.consensus`, :mod:`.rules`, :mod:`.intents`, :mod:`.store` (its
learning in git) and :mod:`.settings` (the ``[router]`` table).

May import storage, the brain (its embedding model, for L3), the runtime and
``omega_actors.errors``; never actors, app, sim, benchmarks or cli.
"""
