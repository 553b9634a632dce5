"""Amazon Titan Text Embeddings V2 on Bedrock, through ``InvokeModel`` (boto3).

Request body: ``{"inputText", "dimensions": 256 | 512 | 1024, "normalize": true}``;
response body: ``{"embedding": [...], "inputTextTokenCount": n, "embeddingsByType":
{"float": [...]}}`` (Bedrock user guide, "Amazon Titan Embeddings G1 - Text", V2
request/response). The model takes one text per call, at most 50,000 characters
(8,192 tokens), so a batch is one call per text; throttling is retried by botocore's
adaptive mode and then here with backoff.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from agents.embedders.base import BaseEmbedder, EmbedderError
from agents.models.retry import Retry

TITAN_V2 = "amazon.titan-embed-text-v2:0"
TITAN_V2_DIMENSIONS = (256, 512, 1024)
RETRYABLE = frozenset({"ThrottlingException", "ServiceUnavailableException",
                       "InternalServerException", "ModelNotReadyException",
                       "ModelTimeoutException"})


def from_name(name: str, **options: Any) -> BedrockEmbedder:
    """``bedrock/<model-id>`` -> :class:`BedrockEmbedder`."""
    return BedrockEmbedder(name, **options)


class BedrockEmbedder(BaseEmbedder):
    """Titan Text Embeddings V2 (``amazon.titan-embed-text-v2:0``).

    Args:
        model_id: the model id (only Titan Text Embeddings V2 is supported).
        dimensions: 256, 512 or 1024 (the model's default).
        normalize: ask the model for unit vectors (the default; cosine and dot
            product then agree).
        client: a ``bedrock-runtime`` client (built once, lazily, when omitted).
        region: the client's region (default: the environment's).
        max_retries: extra attempts for a throttled or failed call.
        sleep: the sleep function between retries (tests pass a recorder).

    Raises:
        ValueError: another model id, or dimensions the model does not offer.
    """

    max_chars = 50_000  # the model's documented input limit

    def __init__(self, model_id: str = TITAN_V2, *, dimensions: int = 1024,
                 normalize: bool = True, client: Any = None, region: str | None = None,
                 max_retries: int = 3, sleep: Callable[[float], None] = time.sleep) -> None:
        if model_id != TITAN_V2:
            raise ValueError(f"unknown Bedrock embedding model {model_id!r}; known: {TITAN_V2}")
        if isinstance(dimensions, bool) or dimensions not in TITAN_V2_DIMENSIONS:
            raise ValueError(f"{TITAN_V2} offers dimensions 256, 512 or 1024, not {dimensions!r}")
        self.model_id = model_id
        self.id = f"bedrock/{model_id}"
        self._dimensions = int(dimensions)
        self.normalize = normalize
        self.region = region
        self._client = client
        self.batch_size = 1
        self.retry = Retry(max_retries, 0.5, sleep, _embedder_error, self.id)

    @property
    def client(self) -> Any:
        """The ``bedrock-runtime`` client, with adaptive retries."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(retries={"mode": "adaptive", "max_attempts": 6}, read_timeout=60)
            self._client = boto3.client("bedrock-runtime", region_name=self.region, config=config)
        return self._client

    def request_body(self, text: str) -> dict[str, Any]:
        """The JSON body of one ``InvokeModel`` call."""
        return {"inputText": text, "dimensions": self._dimensions, "normalize": self.normalize}

    def _embed_batch(self, texts: list[str]) -> Sequence[Sequence[float]]:
        return [self._embed_one(text) for text in texts]

    def _embed_one(self, text: str) -> Sequence[float]:
        body = json.dumps(self.request_body(text))

        def call() -> Any:
            return self.client.invoke_model(modelId=self.model_id, body=body,
                                            contentType="application/json",
                                            accept="application/json")

        response = self.retry.call(call)
        try:
            payload = json.loads(response["body"].read())
            vector = payload.get("embedding")
            if vector is None:
                vector = (payload.get("embeddingsByType") or {}).get("float")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EmbedderError(f"{self.id} answered an unreadable body") from exc
        if not isinstance(vector, list):
            raise EmbedderError(f"{self.id} answered without an embedding")
        return vector


def _embedder_error(exc: Exception) -> EmbedderError:
    if isinstance(exc, EmbedderError):
        return exc
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "") or code
        return EmbedderError(f"Bedrock embedding failed: {message}", code=code,
                             retryable=code in RETRYABLE)
    if isinstance(exc, BotoCoreError):
        return EmbedderError(f"Bedrock embedding failed: {exc}", retryable=True)
    raise exc


__all__ = ["TITAN_V2", "BedrockEmbedder", "from_name"]
