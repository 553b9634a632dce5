"""Any OpenAI-compatible ``POST /embeddings`` server over httpx (OpenAI, vLLM, Ollama...).

Request: ``{"model", "input": [texts], "encoding_format": "float", "dimensions"?}``;
response: ``{"data": [{"index", "embedding": [...]}], "usage": {...}}``. Up to
``batch_size`` texts go in one request (OpenAI accepts 2,048 inputs per request).
The base URL and key come from the arguments, else ``OPENAI_BASE_URL`` /
``OPENAI_API_KEY``, as for the chat model.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from agents.embedders.base import BaseEmbedder, EmbedderError
from agents.models.base import ModelError
from agents.models.openai import DEFAULT_BASE_URL, RETRYABLE_STATUS
from agents.models.retry import Retry

# Output sizes of OpenAI's own models; any other model is asked once (a probe call).
KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
                    "text-embedding-ada-002": 1536}


def from_name(name: str, **options: Any) -> OpenAIEmbedder:
    """``openai/<model>`` -> :class:`OpenAIEmbedder`."""
    return OpenAIEmbedder(name, **options)


class OpenAIEmbedder(BaseEmbedder):
    """An embeddings model behind an OpenAI-compatible API.

    Args:
        model: the model name sent in the request.
        dimensions: ask for vectors of this length (sent as ``dimensions``; the
            ``text-embedding-3`` models and servers that implement it honour it).
            Default: the model's own size, known for OpenAI's models, else learnt
            from one probe call on first use.
        base_url: the API root (``.../v1``); default ``OPENAI_BASE_URL`` or OpenAI's.
        api_key: the bearer token; default ``OPENAI_API_KEY`` (none sent if unset).
        client: an ``httpx.Client`` to reuse (built once, lazily, when omitted).
        batch_size: the most texts per request.
        timeout: seconds per request.
        max_retries: extra attempts on 408/409/429/5xx and connection errors.
        sleep: the sleep function between retries (tests pass a recorder).
    """

    def __init__(self, model: str, *, dimensions: int | None = None,
                 base_url: str | None = None, api_key: str | None = None,
                 client: httpx.Client | None = None, batch_size: int = 256,
                 timeout: float = 60.0, max_retries: int = 2,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if dimensions is not None and (isinstance(dimensions, bool) or not isinstance(
                dimensions, int) or not 1 <= dimensions <= 4096):
            raise ValueError(f"dimensions must be an integer in 1..4096, got {dimensions!r}")
        self.model = model
        self.id = f"openai/{model}"
        self.requested_dimensions = dimensions
        self._dimensions = dimensions or KNOWN_DIMENSIONS.get(model, 0)
        root = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = root.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._client = client
        self.timeout = timeout
        self.batch_size = batch_size
        self.retry = Retry(max_retries, 0.5, sleep, _embedder_error, self.id)

    @property
    def dimensions(self) -> int:
        """The vector length (learnt from one call when the model is not a known one)."""
        if not self._dimensions:
            self._dimensions = len(self._post(["dimension probe"])[0])
        return self._dimensions

    @property
    def client(self) -> httpx.Client:
        """The HTTP client."""
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout)
        return self._client

    def request_body(self, texts: list[str]) -> dict[str, Any]:
        """The JSON body of ``POST /embeddings``."""
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.requested_dimensions is not None:
            body["dimensions"] = self.requested_dimensions
        return body

    def _embed_batch(self, texts: list[str]) -> Sequence[Sequence[float]]:
        self.dimensions  # noqa: B018 - learn the size before the first check
        return self._post(texts)

    def _post(self, texts: list[str]) -> list[list[float]]:
        body = self.request_body(texts)
        data = self.retry.call(lambda: self._call(body))
        try:
            items = sorted(data["data"], key=lambda item: item["index"])
            vectors = [item["embedding"] for item in items]
        except (KeyError, TypeError) as exc:
            raise EmbedderError(f"{self.id} answered without data[].embedding") from exc
        if len(vectors) != len(texts) or not all(isinstance(v, list) for v in vectors):
            raise EmbedderError(f"{self.id} returned {len(vectors)} vectors for {len(texts)} texts")
        return vectors

    def _call(self, body: dict[str, Any]) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            response = self.client.post(f"{self.base_url}/embeddings", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise EmbedderError(f"{self.id}: {exc}", code=type(exc).__name__,
                                retryable=True) from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("error", {})
                message = detail.get("message") if isinstance(detail, dict) else str(detail)
            except (ValueError, AttributeError):
                message = response.text[:200]
            raise EmbedderError(f"{self.id} HTTP {response.status_code}: {message}",
                                code=str(response.status_code),
                                retryable=response.status_code in RETRYABLE_STATUS)
        try:
            return response.json()
        except ValueError as exc:
            raise EmbedderError(f"{self.id} answered a body that is not JSON") from exc


def _embedder_error(exc: Exception) -> ModelError:
    if isinstance(exc, ModelError):
        return exc
    raise exc


__all__ = ["OpenAIEmbedder", "from_name"]
