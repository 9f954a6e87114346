"""The shipped int8 model: fidelity to fp32, one path for items and queries, and refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from omega_actors.brain import (
    DIMENSIONS,
    Embedder,
    ModelFiles,
    check_vector,
    shared_embedder,
)
from omega_actors.brain.embedder import DEFAULT_MODEL_DIR, REFERENCE_FILE
from omega_actors.brain.reference import reference_texts
from omega_actors.errors import BrainInputError, ModelError


def test_the_int8_model_stays_within_one_percent_of_the_fp32_model(embedder: Embedder) -> None:
    reference = np.load(DEFAULT_MODEL_DIR / REFERENCE_FILE)
    vectors = embedder.embed_many(reference_texts())
    cosines = (vectors * reference).sum(axis=1)
    assert cosines.mean() >= 0.99
    assert cosines.min() >= 0.97


def test_vectors_are_unit_length_and_the_same_text_gives_the_same_vector(embedder: Embedder) -> None:
    first = embedder.embed("a quiet detective drama")
    again = embedder.embed_many(["something else entirely", "a quiet detective drama"])[1]
    assert first.shape == (DIMENSIONS,) and first.dtype == np.float32
    assert abs(float(np.linalg.norm(first)) - 1.0) < 1e-4
    assert np.array_equal(first, again)


def test_similar_texts_are_closer_than_unrelated_ones(embedder: Embedder) -> None:
    thriller, crime, cartoon = embedder.embed_many(["a tense crime thriller", "a gritty police murder mystery", "a cheerful cartoon for toddlers"])
    assert float(thriller @ crime) > float(thriller @ cartoon) + 0.1


def test_batches_differ_slightly_from_single_texts_because_activations_are_scaled_per_batch(embedder: Embedder) -> None:
    texts = list(reference_texts()[:16])
    single = embedder.embed_many(texts)
    batched = embedder.embed_many(texts, batch_size=16)
    cosines = (single * batched).sum(axis=1)
    assert cosines.min() > 0.95
    assert not np.allclose(single, batched)


@pytest.mark.parametrize("text, refusal", [("", "empty"), ("   \n", "empty"), ("x" * 1001, "the limit is 1000"), (None, "string")])
def test_empty_over_long_and_non_text_inputs_are_refused(embedder: Embedder, text: object, refusal: str) -> None:
    with pytest.raises(BrainInputError, match=refusal):
        embedder.embed(text)  # type: ignore[arg-type]


def test_the_process_shares_one_session_per_model_and_thread_count() -> None:
    assert shared_embedder() is shared_embedder()
    assert shared_embedder(threads=2) is not shared_embedder(threads=1)


def test_a_model_file_that_differs_from_the_manifest_is_refused(tmp_path: Path) -> None:
    for name in ("tokenizer.json", "manifest.json", "minilm-l6-v2-int8.onnx"):
        shutil.copyfile(DEFAULT_MODEL_DIR / name, tmp_path / name)
    with (tmp_path / "tokenizer.json").open("ab") as handle:
        handle.write(b" ")
    with pytest.raises(ModelError, match="differs from the manifest"):
        ModelFiles.locate(tmp_path)


def test_a_missing_model_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=str(tmp_path)):
        ModelFiles.locate(tmp_path)


@pytest.mark.parametrize(
    "vector, refusal",
    [(np.zeros(DIMENSIONS), "zero length"), (np.full(DIMENSIONS, np.nan), "NaN"), (np.ones(10), "shape"), ("text", "384 numbers"),
     (np.full(DIMENSIONS, np.inf), "NaN or infinity")],
)
def test_bad_vectors_are_refused(vector: object, refusal: str) -> None:
    with pytest.raises(BrainInputError, match=refusal):
        check_vector(vector)
