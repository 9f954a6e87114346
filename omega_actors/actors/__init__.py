"""Thin actor shells and their messages: each wraps plain code from a package below in an Actor.

One module per subsystem's actors (:mod:`.tv_brain`, :mod:`.sync_agent` and
:mod:`.improver` for a TV; :mod:`.constellation`; :mod:`.genesis`;
:mod:`.router` and :mod:`.providers`; :mod:`.skeleton`; :mod:`.fleet`;
:mod:`.demo`), each with the messages it answers. Two subsystems that talk
share a contract module of messages (:mod:`.sync_messages`), so that no actor
module imports another subsystem's actors. The trees these actors run in
are built in :mod:`omega_actors.app`.

May import the runtime (``omega_actors.runtime`` only), the plain-code
packages and ``omega_actors.errors``; never app, sim, benchmarks or cli.
"""
