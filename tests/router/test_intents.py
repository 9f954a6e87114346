"""L3's intent classifier with the shipped intents and the real MiniLM embedder."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from omega_actors.brain import shared_embedder
from omega_actors.errors import ConfigError
from omega_actors.router.intents import IntentClassifier
from omega_actors.router.layers import Layer
from tests.router.shipped import shipped_settings


@cache
def classifier() -> IntentClassifier:
    return IntentClassifier(shared_embedder().embed_many, shipped_settings().intents)


def classify(text: str) -> tuple[str, float]:
    return classifier().classify(shared_embedder().embed(text))


def threshold() -> float:
    return shipped_settings().layer(Layer.TINY).min_confidence


# Measured with the shipped model: these score 0.73-0.86, far above 0.55.
@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("what should I watch tonight?", "recommend"),
        ("recommend me a movie", "recommend"),
        ("resume my series", "continue_watching"),
        ("show me comedies", "browse_genre"),
    ],
)
def test_a_viewing_task_gets_its_intent_with_confidence_above_the_tiny_layers_threshold(text: str, intent: str) -> None:
    found, confidence = classify(text)

    assert found == intent
    assert confidence >= threshold() == 0.55


# Measured with the shipped model: these score at most 0.21, far below 0.55.
@pytest.mark.parametrize(
    "text",
    [
        "what is the capital gains tax rate in 2024",
        "how many moons does jupiter have",
        "my car makes a grinding noise when braking",
        "write a python function that reverses a list",
    ],
)
def test_an_off_domain_task_scores_below_the_threshold_so_it_escalates(text: str) -> None:
    _, confidence = classify(text)

    assert 0.0 <= confidence < threshold()


def test_an_example_sentence_lands_on_its_own_intent() -> None:
    for name, examples in shipped_settings().intents.items():
        for example in examples:
            assert classify(example)[0] == name, example


def test_the_confidence_is_a_cosine_clamped_to_zero_to_one() -> None:
    cls = classifier()

    assert cls.classify(cls.centroids[0]) == (cls.names[0], pytest.approx(1.0))
    assert cls.classify(-cls.centroids[0])[1] >= 0.0
    assert cls.classify(cls.centroids[0] * 2)[1] == 1.0


def test_centroids_are_unit_vectors_one_per_intent_in_name_order() -> None:
    cls = classifier()

    assert cls.names == sorted(shipped_settings().intents)
    assert cls.centroids.shape == (len(cls.names), 384)
    assert np.allclose(np.linalg.norm(cls.centroids, axis=1), 1.0, atol=1e-5)


def test_a_fake_embedding_shows_the_nearest_centroid_wins() -> None:
    axes = {"a": [1.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0], "c": [0.0, 0.0, 1.0]}
    cls = IntentClassifier(lambda texts: np.array([axes[t] for t in texts]), {"first": ["a", "b"], "second": ["c"]})

    name, confidence = cls.classify(np.array([0.6, 0.8, 0.0]))

    assert name == "first"
    assert confidence == pytest.approx((0.6 + 0.8) / np.sqrt(2), rel=1e-6)


@pytest.mark.parametrize("intents", [{}, None])
def test_no_intents_is_a_config_error_saying_what_to_add(intents: object) -> None:
    with pytest.raises(ConfigError, match=r"add \[router.intents\]") as caught:
        IntentClassifier(shared_embedder().embed_many, intents)  # type: ignore[arg-type]

    assert caught.value.key == "router.intents"
