"""The demo, and nothing else: generated viewers, the driver that plays them against the fleet, chaos, the report.

- :mod:`.viewers`: a generative model of viewers and a catalogue (and a MovieLens-format writer);
- :mod:`.driver`: starts the fleet's tree, plays steps, publishes, ranks, and counts what was lost;
- :mod:`.demo`: ``run.py`` itself: days of viewing and the summary;
- :mod:`.evaluate`: ``run.py eval``: the MovieLens protocol (:mod:`omega_actors.evaluation`) on the fleet;
- :mod:`.chaos`: the faults of ``--chaos`` (kill -9, handlers that raise, TVs offline);
- :mod:`.report` and :mod:`.browser`: the self-contained HTML report, and its check in headless Chromium.

May import app, actors, the plain-code packages, the runtime and
``omega_actors.errors``; only the CLI imports it.
"""
