"""Semantic recall on the AWS path: DynamoDB + S3 under moto (vector index through the
SearchVectors fake), Titan V2 through InvokeModel (a client with the real body shapes),
embed jobs sent to SQS (moto) and run by the worker Lambda handler."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody

from agents import Agent, App, Memory, SQSJobRunner
from agents.embedders import HashEmbedder
from agents.embedders.bedrock import BedrockEmbedder
from agents.models import ScriptedModel
from handlers import _wiring
from handlers.events import LocalContext
from handlers.worker import handler
from tests.handlers.test_worker import sqs_event

DIMENSIONS = 256


class FakeTitan:
    """``invoke_model`` of bedrock-runtime answering Titan V2's body (words hashed to a vector)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._hash = HashEmbedder(dimensions=DIMENSIONS)

    def invoke_model(self, *, modelId: str, body: str, contentType: str,
                     accept: str) -> dict[str, Any]:
        assert (modelId, contentType, accept) == (
            "amazon.titan-embed-text-v2:0", "application/json", "application/json")
        request = json.loads(body)
        self.bodies.append(request)
        vector = self._hash.embed([request["inputText"]])[0]
        data = json.dumps({"embedding": vector, "inputTextTokenCount": 7,
                           "embeddingsByType": {"float": vector}}).encode()
        return {"body": StreamingBody(io.BytesIO(data), len(data)),
                "contentType": "application/json"}


@pytest.fixture
def deployed() -> Iterator[tuple[App, Any, FakeTitan, ScriptedModel, str]]:
    """An App as the Lambdas build it: DynamoDB with a vector index, S3, an SQS queue."""
    pytest.importorskip("storage.dynamodb.vectors")
    import tests.storage.fakes.dynamodb_vectors  # noqa: F401  (installs SearchVectors)
    from tests.storage.dynamodb_support import moto_dynamodb

    with moto_dynamodb(with_s3=True, vector_dimensions=DIMENSIONS) as (store, log):
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="stowage-jobs")["QueueUrl"]
        titan = FakeTitan()
        model = ScriptedModel(["noted"])
        agent = Agent(id="assistant", model=model, memory=Memory(
            last_messages=2, semantic_recall=True,
            embedder=BedrockEmbedder(dimensions=DIMENSIONS, client=titan)))
        app = App(agents=[agent], storage=store, jobs=SQSJobRunner(queue, client=sqs))
        _wiring.use_app(app)
        yield app, log, titan, model, queue


def _run_worker(queue: str) -> int:
    sqs = boto3.client("sqs", region_name="us-east-1")
    bodies = [m["Body"] for m in sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])]
    if bodies:
        result = handler(sqs_event(*bodies), LocalContext())
        assert result["batchItemFailures"] == []
    return len(bodies)


def test_turns_jobs_and_recall_on_aws(deployed: Any) -> None:
    app, log, titan, model, queue = deployed
    agent = app.get_agent("assistant")
    memory = {"thread": "t-1", "resource": "u-1"}
    for text in ("my cat is called Miso", "the weather is rainy today", "buy bread",
                 "call the plumber"):
        agent.generate(text, memory=memory)
        assert _run_worker(queue) == 1  # one embed job per turn, run by the worker

    titan.bodies.clear()
    log.reset()
    agent.generate("what is my cat called", memory=memory)
    answer_path = dict(log.calls)

    prompt = [p.text for m in model.requests[-1].messages for p in m.parts]
    assert prompt[:2] == ["my cat is called Miso", "noted"]  # turn 1, outside the last 2
    assert [b["inputText"] for b in titan.bodies] == ["what is my cat called"]  # the query
    assert titan.bodies[0]["dimensions"] == DIMENSIONS and titan.bodies[0]["normalize"] is True
    assert answer_path.get("dynamodb.SearchVectors") == 1
    assert answer_path.get("dynamodb.TransactWriteItems") == 1  # the turn, still one write
    assert not any("Scan" in op for op in answer_path)

    assert _run_worker(queue) == 1
    assert [b["inputText"] for b in titan.bodies] == ["what is my cat called", "noted"]
    assert app.storage.vectors.index() == ("bedrock/amazon.titan-embed-text-v2:0", DIMENSIONS)
