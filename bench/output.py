"""Where ``make bench`` writes: a scratch folder unless asked to update the committed results.

``bench/out/`` (gitignored) by default, so a plain run leaves no tracked file
modified; ``make bench-save`` (``python -m bench --save``) writes ``bench/results/``,
the figures the README quotes, for review with ``git diff``. A section asks here for
the path of its file instead of naming a folder itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCRATCH = HERE / "out"
SAVED = HERE / "results"
ENV = "STOWAGE_BENCH_OUT"  # set by ``python -m bench``; a section run alone honours it too


def folder() -> Path:
    """The folder this run writes its results into."""
    return Path(os.environ.get(ENV) or SCRATCH)


def write_json(name: str, results: Any) -> Path:
    """Write ``results`` as ``<folder>/<name>`` (indented JSON), say where, return the path."""
    path = folder() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}", flush=True)
    return path
