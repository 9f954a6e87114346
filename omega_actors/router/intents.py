"""L3's intent classifier: the nearest centroid of labelled examples, in the brain's MiniLM space.

Each intent's centroid is the normalised mean of its examples' embeddings
(from ``[router.intents]``). A task gets the intent whose centroid is most
similar, and that cosine is the answer's confidence: a task about nothing
the TV knows (a tax question) lands far from every centroid, under the
layer's ``min_confidence``, and escalates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..errors import ConfigError


class IntentClassifier:
    def __init__(self, embed_many: Callable[[Sequence[str]], np.ndarray], intents: Mapping[str, Sequence[str]]) -> None:
        if not intents:
            raise ConfigError("the tiny layer needs labelled examples: add [router.intents] name = [\"example\", ...]", key="router.intents")
        self.names = sorted(intents)
        centroids = []
        for name in self.names:
            mean = np.asarray(embed_many(list(intents[name])), dtype=np.float32).mean(axis=0)
            centroids.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
        self.centroids = np.stack(centroids)

    def classify(self, vector: np.ndarray) -> tuple[str, float]:
        """(intent, cosine similarity in [0, 1]) for one normalised embedding."""
        scores = self.centroids @ np.asarray(vector, dtype=np.float32)
        best = int(np.argmax(scores))
        return self.names[best], float(min(1.0, max(0.0, scores[best])))
