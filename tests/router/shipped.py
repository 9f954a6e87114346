"""The shipped ``config/router`` and Hypothesis strategies the router's tests share."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from hypothesis import strategies as st

from omega_actors.router.layers import Layer
from omega_actors.router.policy import EnergyState
from omega_actors.router.settings import RouterSettings
from omega_actors.runtime import load_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "router"


@cache
def shipped_settings() -> RouterSettings:
    """``config/router/router.toml`` as the router reads it."""
    config = load_config(CONFIG_DIR)
    return RouterSettings.from_table(config.tables["router"], file=config.sources["router"])


# Tasks of every kind the estimator knows, and some it has never seen.
EXAMPLE_TASKS = (
    "volume up", "Mute!", "channel 42", "pause it",
    "what should I watch now?", "Something like that thriller, but funnier", "any good documentaries tonight",
    "Should I claim this on my taxes?", "what dosage of ibuprofen is safe for a child", "I've seen it; is this contract legal?",
    "write a python function that reverses a list", "why does my traceback say KeyError",
    "explain why the sky is blue", "compare the french and american revolutions step by step",
    "who wrote hamlet", "what is the capital of france", "I watched Alien yesterday, who directed it?",
    " ".join(["word"] * 45),
)  # fmt: skip

tasks = st.one_of(
    st.sampled_from(EXAMPLE_TASKS),
    st.text(min_size=1, max_size=60).filter(lambda text: text.strip() != ""),
    st.lists(st.sampled_from(("watch", "tax", "python", "why", "i watched", "the", "show", "volume", "up")), min_size=1, max_size=8).map(" ".join),
)

energy_states = st.builds(
    EnergyState,
    on_battery=st.booleans(),
    battery_pct=st.floats(0.0, 100.0, allow_nan=False),
    solar_peak=st.booleans(),
    carbon_g_per_kwh=st.none() | st.floats(0.0, 1000.0, allow_nan=False),
)

layer_sets = st.frozensets(st.sampled_from(tuple(Layer)))
