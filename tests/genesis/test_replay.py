"""The brain's experiment command: episodes in, rankings out; the held-out episodes never go in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from omega_actors.brain import BrainSettings, shared_embedder
from omega_actors.brain.memory import Episode
from omega_actors.errors import ConfigError, GenesisError
from omega_actors.evaluation.movielens import evaluate
from omega_actors.genesis.improvement import proven_recall
from omega_actors.genesis.replay import brain_settings, episodes_of, main, write_inputs

DATASET = Path(__file__).resolve().parents[1] / "data" / "movielens_small"


@pytest.fixture(scope="module")
def data():
    return episodes_of(DATASET, 8)


@pytest.fixture(scope="module")
def vectors(data):
    return shared_embedder().embed_many([item.text for item in data.items])


def test_the_command_ranks_every_user_from_training_episodes_only(tmp_path, data, vectors):
    write_inputs(data, tmp_path / "episodes.json", tmp_path / "catalogue.npz", vectors)
    written = json.loads((tmp_path / "episodes.json").read_text())["users"]
    for user in data.users:
        assert [row[0] for row in written[user.user]] == [r.media_id for r in user.train]
        assert not user.test & {row[0] for row in written[user.user]}  # the held-out items stay with the evaluator
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "brain.toml").write_text("[brain]\nskill_weight = 0.0\n")

    assert main(["--config", str(tmp_path / "config"), "--episodes", str(tmp_path / "episodes.json"),
                 "--catalogue", str(tmp_path / "catalogue.npz"), "--out", str(tmp_path / "rankings.json")]) == 0  # fmt: skip
    rankings = json.loads((tmp_path / "rankings.json").read_text())
    assert sorted(rankings) == sorted(user.user for user in data.users)
    assert all(len(items) == 10 and len(set(items)) == 10 for items in rankings.values())
    assert 0.0 <= evaluate(rankings, data, 10)["recall"] <= 1.0


def test_the_brain_table_is_read_alone_and_a_bad_one_names_its_file_and_key(tmp_path):
    (tmp_path / "tree.toml").write_text('[tree]\n[[tree.children]]\nid = "x"\nstart = "no.such.module:Actor"\n')
    assert brain_settings(tmp_path) == BrainSettings()
    (tmp_path / "brain.toml").write_text("[brain]\nskill_weight = 0.5\n")
    assert brain_settings(tmp_path).skill_weight == 0.5
    (tmp_path / "brain.toml").write_text("[brain]\nskill_wieght = 0.5\n")
    with pytest.raises(ConfigError) as caught:
        brain_settings(tmp_path)
    assert caught.value.file == str(tmp_path / "brain.toml") and caught.value.key == "brain.skill_wieght"


def test_a_proof_needs_enough_recorded_successes(data, vectors):
    few = [Episode(i, float(i), r.media_id, 0.9, "evening", "any", (), "finished", "") for i, r in enumerate(data.users[0].train[:5])]
    with pytest.raises(GenesisError, match="a proof needs 10"):
        proven_recall(few, data.items, vectors, BrainSettings(), [{}])


def test_a_proof_of_no_change_equals_the_baseline(data, vectors):
    user = max(data.users, key=lambda u: len(u.train))
    episodes = [Episode(i, r.timestamp, r.media_id, 0.9, "evening", "any", (), "finished", "") for i, r in enumerate(user.train)]
    base, same, other = proven_recall(episodes, data.items, np.asarray(vectors), BrainSettings(), [{}, {}, {"skill_weight": 0.0}])
    assert base == same and 0.0 <= other <= 1.0
