"""``python run.py bench brain``: one TV brain's speed and size, on one thread.

With 10,000 items indexed (the default capacity):

- ``embed_ms_p50`` / ``embed_ms_p99``: one text through the int8 model;
- ``fp32_embed_ms_p50`` and ``int8_speedup``: the same texts through the fp32
  model, the baseline, in the same run. The fp32 model is 87 MB and not
  committed: ``models/export_minilm.py --fp32 models/build/minilm-l6-v2-fp32.onnx``
  makes it (``pip install -e '.[export]'``). Without it both fields are null;
- ``cosine_vs_fp32_mean``: the int8 vectors of the reference texts against
  the fp32 vectors shipped in ``models/`` (always measured);
- ``search_ms_p50`` and ``search_speedup_vs_exact``: HNSW (k=30) against an
  exact numpy scan of the same 10,000 vectors;
- ``recommend_ms_p50`` / ``recommend_ms_p99``: a whole recommendation with a
  query text ("something like that, but funnier"): embed, blend, search,
  rank, explain; ``recommend_no_query_ms_p50`` without the text;
- ``rss_mb_one_brain``: resident memory of a fresh process that has opened
  one brain of 10,000 items from its store and recommended with a query;
  ``rss_mb_per_extra_brain_shared_process``: what each further brain of
  1,000 items adds in a process that shares one session.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..brain import (
    DAYPARTS,
    Brain,
    Embedder,
    ModelFiles,
    Observation,
    RecommendContext,
    VectorIndex,
    shared_embedder,
    synthetic_catalogue,
)
from ..brain.embedder import DEFAULT_MODEL_DIR, REFERENCE_FILE
from ..brain.reference import reference_texts

ITEMS = 10_000
EXTRA_BRAINS = 20
EXTRA_ITEMS = 1_000
FP32_DEFAULT = DEFAULT_MODEL_DIR / "build" / "minilm-l6-v2-fp32.onnx"
QUERIES = ("something like that thriller, but funnier", "a cosy film for a rainy afternoon", "space opera")
Progress = Callable[[str], None] | None


def run(quick: bool = False, progress: Progress = None, fp32: Path = FP32_DEFAULT) -> dict[str, object]:
    say = progress or (lambda text: None)
    items = 2_000 if quick else ITEMS
    rounds = 100 if quick else 1_000
    embedder = shared_embedder(threads=1)
    texts = list(reference_texts())
    say(f"embedding {len(texts)} texts, int8{' and fp32, interleaved' if fp32.is_file() else ''}")
    baseline = Embedder(ModelFiles(fp32.parent, fp32, embedder.files.tokenizer)) if fp32.is_file() else None
    int8_ms, fp32_ms = _embed_ms(embedder, baseline, texts)
    cosine = float((embedder.embed_many(texts) * np.load(DEFAULT_MODEL_DIR / REFERENCE_FILE)).sum(axis=1).mean())
    with tempfile.TemporaryDirectory(prefix="omega-bench-brain-") as scratch:
        say(f"building a brain of {items} items (batched embedding)")
        catalogue = synthetic_catalogue(items, seed=1)
        vectors = embedder.embed_many([item.text for item in catalogue], batch_size=8)
        brain = Brain.open(Path(scratch) / "tv", embedder)
        brain.add_items(catalogue, vectors)
        _history(brain, catalogue)
        say(f"searching and recommending, {rounds} rounds each")
        search_ms, exact_ms = _search_ms(brain.index, vectors, rounds)
        with_query = _recommend_ms(brain, rounds, with_query=True)
        without_query = _recommend_ms(brain, rounds, with_query=False)
        brain.close()
        for number in range(EXTRA_BRAINS + 1):
            extra_brain = Brain.open(Path(scratch) / f"extra-{number}", embedder)
            extra_brain.add_items(catalogue[:EXTRA_ITEMS], vectors[:EXTRA_ITEMS])
            _history(extra_brain, catalogue[:EXTRA_ITEMS])
            extra_brain.close()
        say("measuring memory in fresh processes")
        one = _rss_child("one", Path(scratch) / "tv")
        extra = _rss_child("extra", Path(scratch) / "extra", str(EXTRA_BRAINS))
    return {
        "items": items,
        "embed_ms_p50": _p(int8_ms, 50),
        "embed_ms_p99": _p(int8_ms, 99),
        "fp32_embed_ms_p50": _p(fp32_ms, 50) if fp32_ms else None,
        "int8_speedup": round(statistics.median(fp32_ms) / statistics.median(int8_ms), 2) if fp32_ms else None,
        "cosine_vs_fp32_mean": round(cosine, 4),
        "search_ms_p50": _p(search_ms, 50),
        "exact_search_ms_p50": _p(exact_ms, 50),
        "search_speedup_vs_exact": round(statistics.median(exact_ms) / statistics.median(search_ms), 1),
        "recommend_ms_p50": _p(with_query, 50),
        "recommend_ms_p99": _p(with_query, 99),
        "recommend_no_query_ms_p50": _p(without_query, 50),
        "recommend_no_query_ms_p99": _p(without_query, 99),
        "rss_mb_one_brain": one,
        "rss_mb_per_extra_brain_shared_process": extra,
        "onnxruntime": ort.__version__,
    }


def _p(samples: Sequence[float], percentile: int) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * percentile / 100))], 3)


def _embed_ms(embedder: Embedder, baseline: Embedder | None, texts: list[str]) -> tuple[list[float], list[float]]:
    """Each text through both models in turn, so machine noise hits both alike."""
    models = [embedder] + ([baseline] if baseline else [])
    for model in models:
        model.embed_many(texts[:20])  # warm-up: onnxruntime plans the graph on first use
    samples: list[list[float]] = [[] for _ in models]
    for _ in range(3):
        for text in texts:
            for model, timings in zip(models, samples):
                start = time.perf_counter()
                model.embed(text)
                timings.append((time.perf_counter() - start) * 1000)
    return samples[0], samples[1] if baseline else []


def _history(brain: Brain, catalogue: list) -> None:
    rng = random.Random(3)
    for _ in range(60):
        item = rng.choice(catalogue)
        brain.observe(Observation(item.media_id, rng.random(), rng.choice(DAYPARTS), rng.choice(("relaxed", "happy", "tired"))))
    brain.consolidate()


def _search_ms(index: VectorIndex, vectors: np.ndarray, rounds: int) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(5)
    queries = vectors[rng.integers(0, len(vectors), rounds)] + rng.normal(0, 0.02, (rounds, vectors.shape[1])).astype(np.float32)
    hnsw, exact = [], []
    for query in queries:
        start = time.perf_counter()
        index.search(query, 30)
        hnsw.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        np.argpartition(-(vectors @ (query / np.linalg.norm(query))), 30)[:30]
        exact.append((time.perf_counter() - start) * 1000)
    return hnsw, exact


def _recommend_ms(brain: Brain, rounds: int, *, with_query: bool) -> list[float]:
    rng = random.Random(7)
    samples = []
    for index in range(rounds):
        query = QUERIES[index % len(QUERIES)] if with_query else ""
        context = RecommendContext(rng.choice(DAYPARTS), rng.choice(("relaxed", "happy", "tired")), query=query, n=10)
        start = time.perf_counter()
        brain.recommend(context)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _rss_child(mode: str, directory: Path, *extra: str) -> float:
    result = subprocess.run(
        [sys.executable, "-m", "omega_actors.benchmarks.brain_memory", mode, str(directory), *extra],
        capture_output=True, text=True, check=True,
    )
    return float(json.loads(result.stdout.strip().splitlines()[-1])["rss_mb"])
