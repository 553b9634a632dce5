"""Embedders: Bedrock Titan V2 (botocore's own stubber), OpenAI-compatible (a local server),
the real local model, the hashing test embedder, and naming."""

from __future__ import annotations

import io
import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from agents.embedders import (
    EmbedderError,
    HashEmbedder,
    embedder_from_env,
    resolve_embedder,
)
from agents.embedders.bedrock import TITAN_V2, BedrockEmbedder
from agents.embedders.openai import OpenAIEmbedder

# --- Bedrock: Titan Text Embeddings V2 through InvokeModel ---------------------------


def _titan_body(vector: list[float], tokens: int = 5) -> dict[str, Any]:
    """A Titan V2 response, as the model answers (embedding + embeddingsByType)."""
    data = json.dumps({"embedding": vector, "inputTextTokenCount": tokens,
                       "embeddingsByType": {"float": vector}}).encode()
    return {"body": StreamingBody(io.BytesIO(data), len(data)),
            "contentType": "application/json"}


@pytest.fixture
def bedrock() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:  # validates every request against the service model
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_titan_request_and_response_shapes(bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    embedder = BedrockEmbedder(dimensions=256, client=client)
    for text, value in (("first text", 0.0625), ("second text", -0.0625)):
        stubber.add_response("invoke_model", _titan_body([value] * 256), expected_params={
            "modelId": TITAN_V2, "contentType": "application/json", "accept": "application/json",
            "body": json.dumps({"inputText": text, "dimensions": 256, "normalize": True})})

    vectors = embedder.embed(["first text", "second text"])

    assert embedder.id == "bedrock/amazon.titan-embed-text-v2:0"
    assert embedder.dimensions == 256
    assert [v[0] for v in vectors] == [0.0625, -0.0625]
    assert all(len(v) == 256 for v in vectors)


def test_titan_retries_throttling_then_fails_on_a_validation_error(
        bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    sleeps: list[float] = []
    embedder = BedrockEmbedder(dimensions=512, client=client, sleep=sleeps.append)
    stubber.add_client_error("invoke_model", "ThrottlingException", "slow down", 429)
    stubber.add_response("invoke_model", _titan_body([0.01] * 512))
    stubber.add_client_error("invoke_model", "ValidationException", "bad input", 400)

    assert len(embedder.embed(["retried"])[0]) == 512
    assert len(sleeps) == 1
    with pytest.raises(EmbedderError) as caught:
        embedder.embed(["refused"])
    assert caught.value.code == "ValidationException" and not caught.value.retryable
    assert len(sleeps) == 1  # a validation error is not retried


def test_titan_wrong_length_or_missing_embedding_is_an_error(
        bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    embedder = BedrockEmbedder(dimensions=1024, client=client)
    stubber.add_response("invoke_model", _titan_body([0.5] * 256))
    data = json.dumps({"inputTextTokenCount": 3}).encode()
    stubber.add_response("invoke_model", {"body": StreamingBody(io.BytesIO(data), len(data)),
                                          "contentType": "application/json"})

    with pytest.raises(EmbedderError, match="256 dimensions, expected 1024"):
        embedder.embed(["short"])
    with pytest.raises(EmbedderError, match="without an embedding"):
        embedder.embed(["empty"])


def test_titan_cuts_input_at_the_model_limit(bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    embedder = BedrockEmbedder(dimensions=256, client=client)
    long_text = "x" * 60_000
    stubber.add_response("invoke_model", _titan_body([0.1] * 256), expected_params={
        "modelId": TITAN_V2, "contentType": "application/json", "accept": "application/json",
        "body": json.dumps({"inputText": "x" * 50_000, "dimensions": 256, "normalize": True})})

    assert len(embedder.embed([long_text])) == 1


@pytest.mark.parametrize("kwargs", [{"dimensions": 300}, {"dimensions": True},
                                    {"model_id": "amazon.titan-embed-text-v1"}])
def test_titan_refuses_what_the_model_does_not_offer(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        BedrockEmbedder(**kwargs)


# --- OpenAI-compatible /v1/embeddings over a local server -----------------------------


class _EmbeddingsServer:
    """Answers ``POST /v1/embeddings`` like OpenAI: one vector per input, indices shuffled."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.failures: list[int] = []  # statuses to answer before succeeding
        self.size = 8
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append(dict(self.headers))
                if self.path != "/v1/embeddings":
                    return self._send(404, {"error": {"message": "no route"}})
                if server.failures:
                    status = server.failures.pop(0)
                    return self._send(status, {"error": {"message": f"status {status}",
                                                         "type": "server_error"}})
                size = body.get("dimensions", server.size)
                data = [{"object": "embedding", "index": i,
                         "embedding": [float(len(text))] + [0.0] * (size - 1)}
                        for i, text in enumerate(body["input"])]
                data.reverse()  # clients must order by index, not by position
                return self._send(200, {"object": "list", "data": data, "model": body["model"],
                                        "usage": {"prompt_tokens": 3, "total_tokens": 3}})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def _server() -> Iterator[_EmbeddingsServer]:
    srv = _EmbeddingsServer()
    yield srv
    srv.close()


@pytest.fixture
def server(_server: _EmbeddingsServer) -> _EmbeddingsServer:
    _server.requests.clear()
    _server.headers.clear()
    _server.failures.clear()
    return _server


def test_openai_batches_and_orders_by_index(server: _EmbeddingsServer) -> None:
    embedder = OpenAIEmbedder("text-embedding-3-small", dimensions=16, base_url=server.base_url,
                              api_key="sk-test", batch_size=2)
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]

    vectors = embedder.embed(texts)

    assert [v[0] for v in vectors] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [r["input"] for r in server.requests] == [["a", "bb"], ["ccc", "dddd"], ["eeeee"]]
    assert server.requests[0] == {"model": "text-embedding-3-small", "input": ["a", "bb"],
                                  "encoding_format": "float", "dimensions": 16}
    assert server.headers[0]["Authorization"] == "Bearer sk-test"
    assert embedder.id == "openai/text-embedding-3-small" and embedder.dimensions == 16


def test_openai_unknown_model_learns_its_size_from_one_probe(server: _EmbeddingsServer) -> None:
    embedder = OpenAIEmbedder("nomic-embed-text", base_url=server.base_url, api_key="")

    assert embedder.dimensions == 8
    embedder.embed(["x", "y"])

    assert len(server.requests) == 2  # the probe, then the batch; no dimensions sent
    assert "dimensions" not in server.requests[1]
    assert "Authorization" not in server.headers[1]


def test_openai_retries_429_then_refuses_400(server: _EmbeddingsServer) -> None:
    sleeps: list[float] = []
    embedder = OpenAIEmbedder("text-embedding-3-small", dimensions=8, base_url=server.base_url,
                              api_key="k", sleep=sleeps.append)
    server.failures = [429]
    assert len(embedder.embed(["ok"])[0]) == 8
    assert len(sleeps) == 1

    server.failures = [400]
    with pytest.raises(EmbedderError, match="HTTP 400") as caught:
        embedder.embed(["bad"])
    assert not caught.value.retryable


def test_openai_wrong_size_is_an_error(server: _EmbeddingsServer) -> None:
    server.size = 4
    try:
        embedder = OpenAIEmbedder("text-embedding-ada-002", base_url=server.base_url, api_key="")
        with pytest.raises(EmbedderError, match="4 dimensions, expected 1536"):
            embedder.embed(["x"])
    finally:
        server.size = 8


def test_openai_unreachable_server_is_an_embedder_error() -> None:
    embedder = OpenAIEmbedder("m", dimensions=4, base_url="http://127.0.0.1:9/v1", api_key="",
                              max_retries=0)
    with pytest.raises(EmbedderError):
        embedder.embed(["x"])


# --- shared checks, the hashing embedder, names ---------------------------------------


@pytest.mark.parametrize("texts", [["ok", ""], ["  "], "a string", [None]])
def test_blank_or_non_string_texts_are_refused(texts: Any) -> None:
    with pytest.raises(ValueError):
        HashEmbedder().embed(texts)


def test_hash_embedder_is_deterministic_and_unit_length() -> None:
    embedder = HashEmbedder(dimensions=64)
    first, again, other = embedder.embed(["The cat sat", "the CAT sat", "stock prices"])

    assert first == again
    assert math.isclose(sum(x * x for x in first), 1.0)
    assert sum(a * b for a, b in zip(first, other, strict=True)) < 0.5


def test_names_resolve_like_models() -> None:
    titan = resolve_embedder("bedrock/amazon.titan-embed-text-v2:0", dimensions=512)
    assert titan.dimensions == 512
    assert resolve_embedder("openai/text-embedding-3-large").dimensions == 3072
    assert resolve_embedder("local/hash").id == "local/hash"
    embedder = HashEmbedder()
    assert resolve_embedder(embedder) is embedder
    for bad in ("titan", "nope/x", "local/unknown-model"):
        with pytest.raises(ValueError):
            resolve_embedder(bad)
    with pytest.raises(TypeError):
        resolve_embedder(42)  # type: ignore[arg-type]

    assert embedder_from_env({}) is None
    env = {"STOWAGE_EMBEDDER": "bedrock/amazon.titan-embed-text-v2:0",
           "STOWAGE_EMBEDDER_DIMENSIONS": "256"}
    found = embedder_from_env(env)
    assert found is not None and (found.id, found.dimensions) == (
        "bedrock/amazon.titan-embed-text-v2:0", 256)
    with pytest.raises(ValueError):
        embedder_from_env({"STOWAGE_EMBEDDER": "local/hash", "STOWAGE_EMBEDDER_DIMENSIONS": "x"})


# --- the real local model -------------------------------------------------------------


def test_local_model_embeds_meaning(local_embedder: Any) -> None:
    pet, kitten, stocks = local_embedder.embed([
        "I adopted a cat named Miso last spring",
        "my kitten likes to sleep on the keyboard",
        "the stock market fell sharply on Tuesday",
    ])

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert local_embedder.id == "local/all-minilm-l6-v2" and local_embedder.dimensions == 384
    assert all(math.isclose(cos(v, v), 1.0, rel_tol=1e-5) for v in (pet, kitten, stocks))
    assert cos(pet, kitten) > cos(pet, stocks) + 0.2
