"""The compute layers, cheapest first.

L2 deterministic code (rules and compiled handlers), L3 tiny embedded models
(MiniLM intents), L4 small local models, L5 medium models on a local GPU,
L6 large cloud models, L7 consensus of several. The numbering follows the
compute-stack design, so logs and configs read the same as the design.
"""

from __future__ import annotations

from enum import IntEnum

from ..errors import ConfigError


class Layer(IntEnum):
    RULES = 2
    TINY = 3
    SMALL = 4
    MEDIUM = 5
    LARGE = 6
    CONSENSUS = 7

    @property
    def label(self) -> str:
        """``L4 small``: how the CLI and logs name a layer."""
        return f"L{int(self)} {self.name.lower()}"

    @property
    def key(self) -> str:
        """The layer's table name in config: ``[router.layers.small]``."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: object) -> Layer:
        """A layer from ``"small"``, ``"L4"`` or ``4``; anything else is a ConfigError listing them."""
        for layer in cls:
            if value in (layer.key, f"L{int(layer)}", int(layer)) and not isinstance(value, bool):
                return layer
        accepted = ", ".join(f"{layer.key!r}/'L{int(layer)}'" for layer in cls)
        raise ConfigError(f"unknown layer {value!r}; expected one of {accepted}")


ALL_LAYERS = tuple(Layer)
CHAT_LAYERS = (Layer.SMALL, Layer.MEDIUM, Layer.LARGE)
