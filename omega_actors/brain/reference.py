"""A fixed set of texts whose fp32 embeddings ship with the model.

`models/export_minilm.py` embeds these with the fp32 torch model and stores
the vectors next to the int8 model. Tests and `run.py bench brain` embed the
same texts with the int8 model and compare, so the quantization's fidelity is
measured on every machine without torch. The list must never change without
re-running the export: the stored vectors are in this order.
"""

from __future__ import annotations

from omega_actors.brain.catalogue import synthetic_catalogue

_SENTENCES = (
    "something like that thriller, but funnier",
    "what should I watch now?",
    "a cosy film for a rainy sunday afternoon",
    "documentary about deep sea creatures",
    "late night stand-up comedy special",
    "the evening news and weather",
    "animated adventure for young children",
    "slow-burning detective series set in the north of scotland",
    "live football: the cup final",
    "romantic comedy in paris",
    "space opera with a big budget",
    "true crime podcast turned into a series",
)


def reference_texts() -> tuple[str, ...]:
    """Short queries, then catalogue items in the 'title | genres' form."""
    items = tuple(item.text for item in synthetic_catalogue(188, seed=7))
    return _SENTENCES + items
