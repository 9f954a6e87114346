"""Resident memory of brains, measured in a fresh process (``bench brain`` runs this).

Brains are measured as a TV holds them: reopened from their stores (SQLite
and the index file), not while a bulk load's garbage is still on the heap.

``one DIR``: RSS of a process that has opened the brain in DIR and
recommended once (with a query, so the model session is in use).
``extra DIR COUNT``: what each of the brains DIR-1 .. DIR-COUNT adds to a
process that already holds DIR-0, all sharing one embedder session.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..brain import Brain, RecommendContext, shared_embedder


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def open_brain(directory: Path) -> Brain:
    brain = Brain.open(directory, shared_embedder())
    if brain.rebuilt_index:
        raise RuntimeError(f"{directory}: the index was rebuilt; the measurement would include the rebuild")
    brain.recommend(RecommendContext("evening", query="something funny"))
    return brain


def main(argv: list[str]) -> None:
    mode, directory = argv[0], Path(argv[1])
    if mode == "one":
        brain = open_brain(directory)
        print(json.dumps({"rss_mb": round(rss_mb(), 1), "items": len(brain)}))
        return
    count = int(argv[2])
    brains = [open_brain(Path(f"{directory}-0"))]
    before = rss_mb()
    brains += [open_brain(Path(f"{directory}-{n}")) for n in range(1, count + 1)]
    print(json.dumps({"rss_mb": round((rss_mb() - before) / count, 2), "items": len(brains[-1])}))


if __name__ == "__main__":
    main(sys.argv[1:])
