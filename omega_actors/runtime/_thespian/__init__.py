"""The Thespian adapter: the only package that imports ``thespian``.

Design
------
Every omega actor runs inside one Thespian actor class, :class:`Host`. The
host takes an ``Init`` as its first message, builds the omega actor named
there, and from then on hands each message to the handler registered for its
type.

Why one host class rather than one Thespian class per actor: actor code
never imports Thespian, runs unchanged on ``simpleSystemBase`` and
``multiprocTCPBase``, and every instance has the same lifecycle, which is
what lets a supervisor reason about it.

Thespian's sharp edges (measured in shared/THESPIAN.md) are each handled in
one module:

- :mod:`.host`: the instance's lifecycle, let it crash (Thespian's retry and
  ``PoisonMessage`` path is never taken), Init overtaken by other messages;
- :mod:`.context`: timers that cannot be cancelled, placeholder addresses
  that cannot travel, bounded checkpoints;
- :mod:`.children`: ``ChildActorExited`` missing, late, or naming a reused
  port; kills by pid;
- :mod:`.remote`: placement by capability, heartbeats answered by the
  runtime, leases that end a cut-off instance, the convention;
- :mod:`.transport`: an unpickling transport bound to every interface, with
  signed frames and sockets that close;
- :mod:`.system`: one external endpoint per process, an admin that outlives
  its script.

Stack depth
-----------
On the multiprocess bases Thespian forks a child inside ``createActor``, so
the child runs its whole life nested in its parent's frames, as deep as its
parent was at the fork. CPython 3.11 keeps frames in 16 KB chunks that it
maps and unmaps as a call crosses a chunk's end, so an actor whose handling
of a message crosses one pays an ``mmap`` and a ``munmap`` each time.
Measured: tcp ping-pong between two workers went from about 800 to 3,300
messages a second depending only on how many frames deep a script called
``Runtime.start`` (one to eight). The frames between a host's message loop
and ``createActor`` (``Host._init`` calling ``started()``,
``Supervisor._start`` calling ``spawn``) are therefore left as they are; a
change there is measured with ``python run.py bench runtime``.

Importing this package sets ``THESPIAN_MAX_PENDING_TRANSMITS`` first: Thespian
queues every send of a process once 20 are in flight; a peer that has stopped
reading (a partition, a paused node) holds its sends in flight for up to 5
minutes, so a few of them would mute a supervisor. Thespian reads it at import.
"""

import os

os.environ.setdefault("THESPIAN_MAX_PENDING_TRANSMITS", "256")

from .host import Host  # noqa: E402
from .system import BASES, ThespianSystem, is_address  # noqa: E402
from .transport import frames_rejected  # noqa: E402

__all__ = ["BASES", "Host", "ThespianSystem", "frames_rejected", "is_address"]
