"""The Bedrock models a deployment names: the defaults, and what an id says about itself."""

from __future__ import annotations

import re

DEFAULT_MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
DEFAULT_EMBEDDER = "bedrock/amazon.titan-embed-text-v2:0"
# Titan Text Embeddings V2 offers these vector sizes (Bedrock user guide).
EMBEDDER_DIMENSIONS = {DEFAULT_EMBEDDER: (256, 512, 1024)}
MODEL_ID = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+(:[0-9]+)?(:[0-9]+k)?$")
# Cross-region inference profiles are the model id with a geography prefix.
_PROFILE_PREFIXES = ("us", "eu", "apac", "us-gov", "ca", "jp", "au", "global")


def model_base_id(model_id: str) -> str:
    """The foundation model behind an id: ``us.anthropic.x`` -> ``anthropic.x``."""
    head, _, rest = model_id.partition(".")
    return rest if head in _PROFILE_PREFIXES else model_id


def is_inference_profile(model_id: str) -> bool:
    """Cross-region inference profile ids start with a geography (``us.``, ``eu.``...)."""
    return model_base_id(model_id) != model_id
