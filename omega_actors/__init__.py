"""omega_actors: Erlang/OTP-style supervised actors on Thespian, and the edge-first AI system that runs on them.

Start with :mod:`omega_actors.runtime` (actors, supervisors, the registry,
the event bus, config); the README's "Layout" section maps the rest. This
package imports nothing, so that ``import omega_actors.runtime`` loads the
runtime alone.
"""
