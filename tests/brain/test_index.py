"""The HNSW item index: search, least-recently-used eviction, deletes, and persistence that detects damage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from omega_actors.brain import IndexParams, IndexUnusable, VectorIndex
from omega_actors.errors import BrainInputError

SMALL = IndexParams(capacity=4)


def vectors(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, 384)).astype(np.float32)


def test_an_indexed_vector_is_its_own_nearest_neighbour() -> None:
    index = VectorIndex(IndexParams(capacity=200))
    data = vectors(200)
    index.add_many(range(200), data)
    for label in (0, 57, 199):
        (found, similarity), *_ = index.search(data[label], 3)
        assert found == label and similarity > 0.999


def test_a_full_index_evicts_the_least_recently_used_label() -> None:
    index = VectorIndex(SMALL)
    data = vectors(6)
    index.add_many(range(4), data[:4])
    index.touch(0)
    assert index.eviction_candidates(2) == [1, 2]
    assert index.add(4, data[4]) == [1]
    assert index.add(5, data[5]) == [2]
    assert sorted(index.labels()) == [0, 3, 4, 5]
    assert {label for label, _ in index.search(data[1], 4)} == {0, 3, 4, 5}


def test_a_deleted_label_is_never_found_and_its_slot_is_reused() -> None:
    index = VectorIndex(SMALL)
    data = vectors(5)
    index.add_many(range(4), data[:4])
    assert index.delete(2) and not index.delete(2)
    assert index.add(9, data[4]) == []
    assert 2 not in {label for label, _ in index.search(data[2], 4)}


def test_a_saved_index_loads_with_its_labels_and_recency(tmp_path: Path) -> None:
    index = VectorIndex(SMALL)
    data = vectors(4)
    index.add_many(range(4), data)
    index.touch(1)
    index.save(tmp_path / "i.hnsw", version=7)
    loaded = VectorIndex.load(tmp_path / "i.hnsw", 7, SMALL)
    assert loaded.labels() == [0, 2, 3, 1]
    assert loaded.search(data[3], 1)[0][0] == 3


@pytest.mark.parametrize("damage", ["truncate", "flip", "sidecar", "sidecar-types", "missing"])
def test_a_damaged_index_file_is_reported_unusable_not_loaded(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "i.hnsw"
    index = VectorIndex(SMALL)
    index.add_many(range(4), vectors(4))
    index.save(path, version=1)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "flip":
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))
    elif damage == "sidecar":
        (tmp_path / "i.hnsw.json").write_text("{not json")
    elif damage == "sidecar-types":
        sidecar = json.loads((tmp_path / "i.hnsw.json").read_text())
        (tmp_path / "i.hnsw.json").write_text(json.dumps({**sidecar, "recency": ["x", None]}))
    else:
        path.unlink()
    with pytest.raises(IndexUnusable):
        VectorIndex.load(path, 1, SMALL)


def test_an_index_saved_at_another_version_is_stale(tmp_path: Path) -> None:
    index = VectorIndex(SMALL)
    index.add_many(range(2), vectors(2))
    index.save(tmp_path / "i.hnsw", version=1)
    with pytest.raises(IndexUnusable, match="version"):
        VectorIndex.load(tmp_path / "i.hnsw", 2, SMALL)


def test_a_query_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(BrainInputError, match="shape"):
        VectorIndex(SMALL).search(np.ones(3), 1)


operations = st.lists(
    st.tuples(st.sampled_from(["add", "delete", "touch", "reload"]), st.integers(min_value=0, max_value=9)), max_size=60
)


@settings(max_examples=200, deadline=None)
@given(operations)
# Found by this test: re-adding labels hnswlib still held as deleted corrupted its label lookup.
@example([("add", 0), ("add", 1), ("delete", 0), ("delete", 1), ("add", 0), ("add", 1), ("delete", 0)])
@example([("add", 0), ("add", 1), ("add", 3), ("delete", 0), ("delete", 1), ("add", 0), ("add", 1), ("add", 2), ("add", 0)])
def test_the_index_holds_what_a_plain_lru_model_holds(tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, int]]) -> None:
    index = VectorIndex(SMALL)
    model: list[int] = []  # least recently used first
    data = vectors(10)
    units = data / np.linalg.norm(data, axis=1, keepdims=True)
    path = tmp_path_factory.mktemp("lru") / "i.hnsw"
    for step, (op, label) in enumerate(ops):
        if op == "add":
            if label in model:
                model.remove(label)
            elif len(model) == SMALL.capacity:
                model.pop(0)
            model.append(label)
            index.add(label, data[label])
        elif op == "delete":
            assert index.delete(label) == (label in model)
            if label in model:
                model.remove(label)
        elif op == "reload":
            index.save(path, version=step)
            index = VectorIndex.load(path, step, SMALL)
        else:
            if label in model:
                model.remove(label)
                model.append(label)
            index.touch(label)
        assert index.labels() == model
        # What hnswlib holds, not only the bookkeeping: each live label's own vector, and nothing else found.
        if model:
            np.testing.assert_allclose(index.vectors(model), units[model], rtol=1e-5, atol=1e-6)
            assert {found for found, _ in index.search(data[model[0]], SMALL.capacity)} == set(model)


def test_an_index_grows_in_steps_up_to_its_capacity_and_keeps_what_it_holds(tmp_path: Path) -> None:
    params = IndexParams(capacity=3000)
    index = VectorIndex(params)
    data = vectors(2500)
    index.add_many(range(2500), data)
    assert len(index) == 2500 and index.search(data[2400], 1)[0][0] == 2400
    np.testing.assert_allclose(index.vectors([7])[0], data[7] / np.linalg.norm(data[7]), rtol=1e-5)
    index.save(tmp_path / "i.hnsw", version=1)
    assert VectorIndex.load(tmp_path / "i.hnsw", 1, params).search(data[5], 1)[0][0] == 5


def test_an_empty_index_saved_and_loaded_still_takes_items(tmp_path: Path) -> None:
    VectorIndex(SMALL).save(tmp_path / "i.hnsw", version=0)
    loaded = VectorIndex.load(tmp_path / "i.hnsw", 0, SMALL)
    loaded.add_many(range(4), vectors(4))
    assert len(loaded) == 4 and loaded.search(vectors(4)[2], 1)[0][0] == 2
