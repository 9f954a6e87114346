"""The ``[router]`` table: energy thresholds, layers, costs, learning, rules and intents.

::

    [router]
    max_input_chars = 4000        # longer tasks are rejected, not truncated
    electricity_per_kwh = 0.30    # money per kWh, so local energy has a price too
    persist_every = 20            # routed tasks between commits of what was learned

    [router.energy]
    tiny_only_below_pct = 20.0    # on battery below this: L2-L3 only
    prefer_small_below_pct = 50.0 # on battery below this: start at L4 at most, no L5
    clean_grid_below_g = 100.0    # grid carbon (g/kWh) below which L6 may be the first choice

    [router.layers.small]         # one table per layer: rules, tiny, small, medium, large, consensus
    base_url = "http://127.0.0.1:11434/v1"
    model = "qwen2.5:1.5b"
    timeout = 20.0

    [[router.rules]]
    name = "volume"
    pattern = '^(?:turn (?:the )?)?volume (up|down)$'
    answer = "action: volume {1}"

    [router.intents]
    recommend = ["what should I watch now", "recommend something"]

Every value is checked when the table is read; an error names ``router.<key>``,
the value, and what is accepted.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..settings import check_keys, located, settings_from_table
from .layers import CHAT_LAYERS, Layer


def _number(key: str, value: object, *, low: float = 0.0, strict: bool = False, high: float = math.inf) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or value < low or (strict and value == low) or value > high:  # type: ignore[operator]
        bound = f"> {low}" if strict else f">= {low}"
        upper = f" and <= {high}" if high != math.inf else ""
        raise ConfigError(f"expected a number {bound}{upper}; got {value!r}", key=key)


def _whole(key: str, value: object, *, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"expected a whole number >= {low}; got {value!r}", key=key)


@dataclass(frozen=True, slots=True)
class EnergyThresholds:
    tiny_only_below_pct: float = 20.0
    prefer_small_below_pct: float = 50.0
    clean_grid_below_g: float = 100.0

    def __post_init__(self) -> None:
        _number("tiny_only_below_pct", self.tiny_only_below_pct, high=100.0)
        _number("prefer_small_below_pct", self.prefer_small_below_pct, high=100.0)
        _number("clean_grid_below_g", self.clean_grid_below_g)
        if self.tiny_only_below_pct > self.prefer_small_below_pct:
            raise ConfigError(
                f"must not exceed prefer_small_below_pct ({self.prefer_small_below_pct}); got {self.tiny_only_below_pct!r}",
                key="tiny_only_below_pct",
            )


@dataclass(frozen=True, slots=True)
class LearningSettings:
    promote_after: int = 5    # escalated successes in a row at one layer that make it the kind's first choice
    demote_after: int = 2     # failures in a row at a learned first choice that forget it
    probe_every: int = 25     # first-choice successes before one layer lower is tried again

    def __post_init__(self) -> None:
        for key in ("promote_after", "demote_after", "probe_every"):
            _whole(key, getattr(self, key))


@dataclass(frozen=True, slots=True)
class CompileSettings:
    min_repeats: int = 3      # identical answers to one normalised task before it becomes an L2 handler
    audit_every: int = 50     # every Nth hit of a handler is routed normally and compared
    max_handlers: int = 2000
    max_candidates: int = 20000  # normalised tasks tracked while they repeat
    max_task_chars: int = 300    # longer tasks are not compiled: they rarely repeat, and evidence is kept in git

    def __post_init__(self) -> None:
        _whole("min_repeats", self.min_repeats, low=2)
        for key in ("audit_every", "max_handlers", "max_candidates", "max_task_chars"):
            _whole(key, getattr(self, key))


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    failures: int = 3         # failures in a row that open the circuit
    reset_after: float = 30.0 # seconds open before one trial call

    def __post_init__(self) -> None:
        _whole("failures", self.failures)
        _number("reset_after", self.reset_after, strict=True)


@dataclass(frozen=True, slots=True)
class LayerSettings:
    enabled: bool = True
    # Runs on this device or in this home, so private tasks may use it. Unset, a chat layer is local
    # only when its base_url is a loopback, private or .local address.
    local: bool | None = None
    timeout: float = 30.0             # seconds the router waits before it escalates
    min_confidence: float = 0.0       # answers below this escalate
    money_per_call: float = 0.0
    money_per_1k_tokens: float = 0.0
    joules_per_call: float = 0.0
    joules_per_1k_tokens: float = 0.0
    base_url: str = ""                # chat layers: an OpenAI-compatible endpoint; "" = not configured
    model: str = ""
    max_tokens: int = 256
    api_key_env: str = ""
    members: tuple[str, ...] = ()     # consensus: the layers asked
    mode: str = "majority"            # consensus: "majority" or "judge"
    judge: str = "large"              # consensus with mode "judge": the layer that judges

    def __post_init__(self) -> None:
        if self.local is None:
            object.__setattr__(self, "local", is_local_url(self.base_url) if isinstance(self.base_url, str) and self.base_url else True)
        for key in ("enabled", "local"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"expected true or false; got {getattr(self, key)!r}", key=key)
        _number("timeout", self.timeout, strict=True)
        _number("min_confidence", self.min_confidence, high=1.0)
        for key in ("money_per_call", "money_per_1k_tokens", "joules_per_call", "joules_per_1k_tokens"):
            _number(key, getattr(self, key))
        for key in ("base_url", "model", "api_key_env", "mode", "judge"):
            if not isinstance(getattr(self, key), str):
                raise ConfigError(f"expected a string; got {getattr(self, key)!r}", key=key)
        if self.base_url and not re.match(r"^https?://[^/\s]+", self.base_url):
            raise ConfigError(f"expected an http:// or https:// URL, or \"\"; got {self.base_url!r}", key="base_url")
        _whole("max_tokens", self.max_tokens)
        if self.mode not in ("majority", "judge"):
            raise ConfigError(f"expected \"majority\" or \"judge\"; got {self.mode!r}", key="mode")
        if not isinstance(self.members, (list, tuple)):
            raise ConfigError(f"expected an array of chat layers; got {self.members!r}", key="members")
        object.__setattr__(self, "members", tuple(self.members))
        for member in self.members:
            _chat_layer("members", member)
        _chat_layer("judge", self.judge)

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)


def is_local_url(url: str) -> bool:
    """Does ``url`` name this machine or the home network (loopback, private or link-local, ``.local``)?

    Names are not resolved: a public name may point anywhere, so it is not local unless the
    operator says ``local = true``.
    """
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".lan", ".home.arpa")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def _chat_layer(key: str, value: object) -> Layer:
    try:
        layer = Layer.parse(value)
    except ConfigError as exc:
        raise ConfigError(exc.detail, key=key) from None
    if layer not in CHAT_LAYERS:
        raise ConfigError(f"expected a chat layer ({', '.join(repr(c.key) for c in CHAT_LAYERS)}); got {value!r}", key=key)
    return layer


# Defaults declared once, as data: what a layer costs and how long it may take
# before the router moves on. Local energy is what the device draws; a cloud
# call costs the radio and the bill.
LAYER_DEFAULTS: dict[Layer, dict[str, Any]] = {
    Layer.RULES: {"timeout": 2.0, "joules_per_call": 0.001},
    Layer.TINY: {"timeout": 5.0, "min_confidence": 0.55, "joules_per_call": 0.2},
    Layer.SMALL: {"timeout": 20.0, "joules_per_call": 2.0, "joules_per_1k_tokens": 60.0},
    Layer.MEDIUM: {"timeout": 30.0, "joules_per_call": 5.0, "joules_per_1k_tokens": 200.0},
    Layer.LARGE: {"timeout": 60.0, "local": False, "joules_per_call": 1.0, "money_per_1k_tokens": 0.01},
    Layer.CONSENSUS: {"timeout": 120.0, "local": False, "members": ("small", "medium", "large")},
}


@dataclass(frozen=True, slots=True)
class Rule:
    name: str = ""      # "" (left out) is rejected below, with the key it belongs to
    pattern: str = ""
    answer: str = ""    # may name the pattern's groups: {1}, {2}

    def __post_init__(self) -> None:
        for key in ("name", "pattern", "answer"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ConfigError(f"expected a non-empty string; got {getattr(self, key)!r}", key=key)
        try:
            groups = re.compile(self.pattern).groups
        except re.error as exc:
            raise ConfigError(f"not a regular expression ({exc}): {self.pattern!r}", key="pattern") from None
        for ref in re.findall(r"\{(\d+)\}", self.answer):
            if not 1 <= int(ref) <= groups:
                raise ConfigError(f"names group {{{ref}}} but the pattern has {groups} group(s): {self.answer!r}", key="answer")


@dataclass(frozen=True, slots=True)
class RouterSettings:
    max_input_chars: int = 4000
    electricity_per_kwh: float = 0.30
    persist_every: int = 20
    state_dir: str = ""   # the state repository; "" means <data_dir>/state
    energy: EnergyThresholds = EnergyThresholds()
    learning: LearningSettings = LearningSettings()
    compile: CompileSettings = CompileSettings()
    breaker: BreakerSettings = BreakerSettings()
    layers: Mapping[Layer, LayerSettings] = field(default_factory=lambda: {layer: LayerSettings(**LAYER_DEFAULTS[layer]) for layer in Layer})
    rules: tuple[Rule, ...] = ()
    intents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _whole("max_input_chars", self.max_input_chars)
        _whole("persist_every", self.persist_every)
        _number("electricity_per_kwh", self.electricity_per_kwh)
        if not isinstance(self.state_dir, str):
            raise ConfigError(f"expected a directory path, or \"\"; got {self.state_dir!r}", key="state_dir")
        self._check_local_consensus()

    def _check_local_consensus(self) -> None:
        # A consensus that calls itself local must not hand a private task to a layer that is not.
        consensus = self.layers[Layer.CONSENSUS]
        if not consensus.local:
            return
        asked = [*consensus.members, *([consensus.judge] if consensus.mode == "judge" else [])]
        remote = [name for name in asked if not self.layers[Layer.parse(name)].local]
        if remote:
            raise ConfigError(
                f"a local consensus may only ask local layers; {', '.join(map(repr, remote))} are not "
                "(set their local = true, or this layer's local = false)", key="layers.consensus.local",
            )

    def layer(self, layer: Layer) -> LayerSettings:
        return self.layers[layer]

    @classmethod
    def from_table(cls, table: Mapping[str, Any], *, file: str | None = None) -> RouterSettings:
        """Build from a ``[router]`` table; an error names the file and ``router.<key>``."""
        with located("router", file):
            return _from_table(dict(table))


SUBTABLES = {"energy": EnergyThresholds, "learning": LearningSettings, "compile": CompileSettings, "breaker": BreakerSettings}


def _from_table(table: dict[str, Any]) -> RouterSettings:
    check_keys(table, field_names(RouterSettings))
    values: dict[str, Any] = dict(table)
    for name, kind in SUBTABLES.items():
        if name in values:
            values[name] = _sub(kind, values[name], name)
    if "layers" in values:
        values["layers"] = _layers(values["layers"])
    if "rules" in values:
        values["rules"] = _rules(values["rules"])
    if "intents" in values:
        values["intents"] = _intents(values["intents"])
    return RouterSettings(**values)


def _sub(kind: type, table: object, where: str) -> Any:
    """``kind(**table)``; its errors are keyed ``where.key``."""
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table; got {table!r}", key=where)
    return settings_from_table(kind, table, section=where)


def _layers(table: object) -> dict[Layer, LayerSettings]:
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table of layers; got {table!r}", key="layers")
    layers = {layer: LayerSettings(**LAYER_DEFAULTS[layer]) for layer in Layer}
    for name, sub in table.items():
        try:
            layer = Layer.parse(name)
        except ConfigError as exc:
            raise ConfigError(exc.detail, key=f"layers.{name}") from None
        if not isinstance(sub, dict):
            raise ConfigError(f"expected a table; got {sub!r}", key=f"layers.{name}")
        merged = {**LAYER_DEFAULTS[layer], **sub}
        layers[layer] = _sub(LayerSettings, merged, f"layers.{layer.key}")
    return layers


def _rules(items: object) -> tuple[Rule, ...]:
    if not isinstance(items, list):
        raise ConfigError(f"expected an array of tables ([[router.rules]]); got {items!r}", key="rules")
    rules = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(f"expected a table; got {item!r}", key=f"rules[{index}]")
        rules.append(_sub(Rule, item, f"rules[{index}]"))
    return tuple(rules)


def _intents(table: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table of intent = [examples]; got {table!r}", key="intents")
    intents = {}
    for name, examples in table.items():
        if not isinstance(examples, list) or not examples or not all(isinstance(e, str) and e.strip() for e in examples):
            raise ConfigError(f"expected a non-empty array of example sentences; got {examples!r}", key=f"intents.{name}")
        intents[name] = tuple(examples)
    return intents


def field_names(kind: type) -> list[str]:
    return [f.name for f in fields(kind)]
