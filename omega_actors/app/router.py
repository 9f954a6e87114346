"""The router's supervision tree, from the ``[router]`` table of a config directory.

::

    router (one_for_one)
      providers (one_for_one, restart backoff)
        rules, tiny, small, medium, large, consensus   one provider actor per running layer, "router.<layer>"
      router    RouterActor                            registered as "router"

The providers come first so the router finds them registered. How the router
calls them (deadlines, escalation, circuit breakers) is in
:mod:`omega_actors.actors.router` and :mod:`omega_actors.actors.providers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..actors.providers import PROVIDER_CLASSES, running_layers
from ..actors.router import Route, RouterActor, RouteResult
from ..router.settings import RouterSettings
from ..runtime import (
    Backoff,
    ChildSpec,
    Config,
    Runtime,
    Start,
    Strategy,
    Supervisor,
    SupervisorSpec,
)

# Restart backoff for providers: an endpoint that crashes its client on every
# call is retried at 0.2 s, 0.4 s, ... up to 10 s, not in a tight loop.
PROVIDER_BACKOFF = Backoff(initial=0.2, maximum=10.0, multiplier=2.0, jitter=0.2, reset_after=60.0)


def router_spec(
    settings: Mapping[str, Any] | None = None,
    *,
    state_dir: str = "",
    providers: Mapping[str, str] | None = None,
    intensity: int = 20,
    period: float = 60.0,
) -> ChildSpec:
    """The router's supervisor from a ``[router]`` table; ``providers`` may replace a layer's class (``"mod:Class"``)."""
    table = dict(settings or {})
    parsed = RouterSettings.from_table(table)  # refuse bad settings here, not in a child's start
    layers = running_layers(parsed)
    children = []
    for layer in layers:
        start = (providers or {}).get(layer.key)
        kwargs: dict[str, Any] = {"layer": layer.key, "settings": table}
        if start is None:
            children.append(PROVIDER_CLASSES[layer].child_spec(layer.key, name=f"router.{layer.key}", **kwargs))
        else:
            children.append(ChildSpec(layer.key, Start.of(start, **kwargs), name=f"router.{layer.key}"))
    providers_spec = SupervisorSpec(Strategy.ONE_FOR_ONE, intensity, period, children=tuple(children), backoff=PROVIDER_BACKOFF)
    router = RouterActor.child_spec("router", name="router", settings=table, state_dir=state_dir, layers=[layer.key for layer in layers])
    tree = SupervisorSpec(Strategy.ONE_FOR_ONE, intensity, period, children=(Supervisor.child_spec("providers", providers_spec), router))
    return Supervisor.child_spec("router", tree)


def router_table(config: Config) -> dict[str, Any]:
    """The ``[router]`` table, checked; an error names the file and ``router.<key>``."""
    table = dict(config.tables.get("router", {}))
    RouterSettings.from_table(table, file=config.sources.get("router"))
    return table


def state_dir(config: Config, table: Mapping[str, Any]) -> Path:
    """The state repository: ``router.state_dir``, or ``<data_dir>/state`` (the config's own repository)."""
    return Path(table.get("state_dir") or Path(config.system.data_dir) / "state").resolve()


def route_once(config: Config, route: Route, base: str | None = None) -> RouteResult:
    """Start the router's tree, route one task, and shut the tree down (which commits what it learned)."""
    table = router_table(config)
    settings = RouterSettings.from_table(table)
    system = replace(config.system, base=base) if base else config.system
    tree = SupervisorSpec(children=(router_spec(table, state_dir=str(state_dir(config, table))),))
    patience = sum(layer.timeout for layer in settings.layers.values()) + 10.0  # every layer may time out once
    with Runtime.start(tree, system) as runtime:
        # A task the router will not take (empty, over-long, a bad energy state) comes back Refused: a DeliveryError.
        result: RouteResult = runtime.ask("router", route, timeout=patience)
    return result
