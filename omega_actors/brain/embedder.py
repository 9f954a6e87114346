"""Sentence embeddings from the int8 MiniLM model in ``models/``.

The graph already pools and normalises, so every vector that comes out is a
unit-length float32 array of 384 values, and cosine similarity is a dot product.

Two decisions shape this module:

- **One path for items and queries.** The int8 model quantizes its
  activations with a scale computed over the whole batch, so a text's vector
  depends on its batch-mates (about 1.5% cosine at batch 32). Items and
  queries therefore go through the same batch-of-one path by default, and an
  item embedded today matches one embedded next week. ``embed_many`` can
  batch for bulk work (about 30% more throughput at 8) when that drift is
  acceptable; the brain never mixes the two in one index.
- **No padding for one text.** The shipped tokenizer pads everything to 128
  tokens, which makes a single embedding 5-10x slower; padding is turned off
  and switched on (to the longest) only for a batch.

Sessions are expensive (about 60 MB and 100 ms each), so :func:`shared_embedder`
keeps one per model and thread count in a process, for every brain in it.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from omega_actors.brain.catalogue import is_text
from omega_actors.errors import BrainInputError, ModelError

DIMENSIONS = 384
MAX_TOKENS = 128  # what the model was trained with; longer texts are truncated
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models"
MODEL_FILE = "minilm-l6-v2-int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
REFERENCE_FILE = "minilm-l6-v2.reference.npy"


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """The model directory's files, checked against its manifest."""

    directory: Path
    model: Path
    tokenizer: Path

    @classmethod
    def locate(cls, directory: str | Path | None = None, *, model: str = MODEL_FILE, verify: bool = True) -> ModelFiles:
        folder = Path(directory) if directory else DEFAULT_MODEL_DIR
        files = cls(folder, folder / model, folder / TOKENIZER_FILE)
        for path in (files.model, files.tokenizer):
            if not path.is_file():
                raise ModelError(f"{path}: missing; the model directory must hold {model} and {TOKENIZER_FILE}")
        if verify:
            files.verify()
        return files

    def verify(self) -> None:
        """Refuse files whose sha256 differs from ``manifest.json`` (a truncated clone, a bad edit)."""
        manifest_path = self.directory / "manifest.json"
        try:
            listed = json.loads(manifest_path.read_text())["files"]
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"{manifest_path}: unreadable manifest ({exc})") from None
        for path in (self.model, self.tokenizer):
            expected = listed.get(path.name, {}).get("sha256")
            if expected is None:
                raise ModelError(f"{manifest_path}: lists no sha256 for {path.name}")
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
            if actual != expected:
                raise ModelError(f"{path}: sha256 {actual[:12]}... differs from the manifest's {expected[:12]}...")


class Embedder:
    """Text in, unit vectors out. Safe to share between threads (one lock per run)."""

    def __init__(self, files: ModelFiles, *, threads: int = 1, max_chars: int = 1000) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1; got {threads}")
        options = ort.SessionOptions()
        # Explicit: onnxruntime would otherwise spin one thread per core per session.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(files.model), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"{files.model}: onnxruntime cannot load it: {exc}") from None
        self._single = Tokenizer.from_file(str(files.tokenizer))
        self._single.no_padding()
        self._single.enable_truncation(MAX_TOKENS)
        self._batch = Tokenizer.from_file(str(files.tokenizer))
        self._batch.enable_padding()
        self._batch.enable_truncation(MAX_TOKENS)
        self._lock = threading.Lock()
        self.files = files
        self.threads = threads
        self.max_chars = max_chars

    def embed(self, text: str) -> np.ndarray:
        """One text's unit vector (float32, 384)."""
        ids = np.asarray([self._single.encode(self.check_text(text)).ids], dtype=np.int64)
        return self._run(ids, np.ones_like(ids))[0]

    def embed_many(self, texts: Sequence[str], *, batch_size: int = 1) -> np.ndarray:
        """Vectors for ``texts`` (rows in order). ``batch_size`` > 1 trades exactness for speed: see the module doc."""
        checked = [self.check_text(text) for text in texts]
        if batch_size <= 1:
            return np.stack([self.embed(text) for text in checked]) if checked else _empty()
        chunks = []
        for start in range(0, len(checked), batch_size):
            encodings = self._batch.encode_batch(checked[start : start + batch_size])
            ids = np.asarray([encoding.ids for encoding in encodings], dtype=np.int64)
            mask = np.asarray([encoding.attention_mask for encoding in encodings], dtype=np.int64)
            chunks.append(self._run(ids, mask))
        return np.concatenate(chunks) if chunks else _empty()

    def check_text(self, text: str) -> str:
        if not isinstance(text, str):
            raise BrainInputError(f"text must be a string; got {type(text).__name__}")
        if not is_text(text):
            raise BrainInputError("text is not valid UTF-8 (it holds a lone surrogate)")
        if not text.strip():
            raise BrainInputError("text must not be empty or only whitespace")
        if len(text) > self.max_chars:
            raise BrainInputError(f"text is {len(text)} characters; the limit is {self.max_chars}")
        return text

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with self._lock:
            (vectors,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
        return np.asarray(vectors, dtype=np.float32)


def _empty() -> np.ndarray:
    return np.zeros((0, DIMENSIONS), dtype=np.float32)


_SHARED: dict[tuple[str, str, int, int], Embedder] = {}
_SHARED_LOCK = threading.Lock()


def shared_embedder(directory: str | Path | None = None, *, threads: int = 1, max_chars: int = 1000, model: str = MODEL_FILE) -> Embedder:
    """The process's embedder for this model: created (and verified) once, then shared."""
    files = ModelFiles.locate(directory, model=model, verify=False)
    key = (str(files.model.resolve()), str(files.tokenizer.resolve()), threads, max_chars)
    with _SHARED_LOCK:
        embedder = _SHARED.get(key)
        if embedder is None:
            files.verify()
            embedder = _SHARED[key] = Embedder(files, threads=threads, max_chars=max_chars)
        return embedder


def check_vector(vector: object, *, what: str = "vector") -> np.ndarray:
    """A finite, non-zero float32 vector of the model's dimension, normalised; anything else is refused."""
    try:
        array = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise BrainInputError(f"{what} must be a sequence of {DIMENSIONS} numbers") from None
    if array.shape != (DIMENSIONS,):
        raise BrainInputError(f"{what} must have shape ({DIMENSIONS},); got {array.shape}")
    if not np.isfinite(array).all():
        raise BrainInputError(f"{what} contains NaN or infinity")
    norm = float(np.linalg.norm(array))
    if norm == 0.0 or not math.isfinite(norm):
        raise BrainInputError(f"{what} has zero length; a direction is needed for cosine similarity")
    return array / norm
