"""The synthesized stack, deployed into moto, serves real turns with each function's own env.

For each configuration: create the stack in moto's CloudFormation (the storage setup
custom resource runs ``handlers.setup`` as the deploy would), read every function's
environment back from moto's Lambda, check that each table, bucket, queue and cluster
it names is one the stack created, then run the api, stream and worker handlers with
exactly that environment: generate, stream, thread list, title job, attachment upload
grant, thread delete.

The model is the one moto cannot serve: ``bedrock-runtime`` clients are replaced by a
fake with Bedrock's Converse shapes (``tests/agents/fakes.py``), answering for the model
id the template names.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from handlers import _wiring
from handlers.events import LocalContext, rest_event
from infra.constants import API_HANDLER, STREAM_HANDLER, WORKER_HANDLER
from tests.agents.fakes import FakeBedrockRuntime, converse_response, text_events

from .conftest import Synth
from .moto_deploy import ACCOUNT, REGION, SETUP_HANDLER, Deployed, deploy

REQUEST_HANDLERS = (API_HANDLER, STREAM_HANDLER, WORKER_HANDLER)
DOMAINS = ("memory", "workflows", "observability", "scores")


class _AnsweringBedrock(FakeBedrockRuntime):
    """Answers every Converse call (the fake's queues would run dry) for one model id."""

    def __init__(self, model_id: str) -> None:
        super().__init__()
        self.model_id = model_id

    def converse(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["modelId"] == self.model_id
        self.converse_queue.append(converse_response({"text": "Trip to Lisbon"}))
        return super().converse(**kwargs)

    def converse_stream(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["modelId"] == self.model_id
        self.stream_queue.append(text_events("Hello", " from", " Bedrock"))
        return super().converse_stream(**kwargs)


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Route ``boto3.client("bedrock-runtime")`` to the fake; others stay moto's."""
    real = boto3.client
    made: dict[str, Any] = {}

    def client(service: str, *args: Any, **kwargs: Any) -> Any:
        if service == "bedrock-runtime":
            model = made["model_id"]
            made.setdefault("client", _AnsweringBedrock(model))
            return made["client"]
        return real(service, *args, **kwargs)

    monkeypatch.setattr(boto3, "client", client)
    yield made


def _use_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """This process becomes the function: exactly its variables (ours and Powertools')."""
    import os

    for name in list(os.environ):
        if name.startswith(("STOWAGE_", "POWERTOOLS_", "AWS_LWA_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _wiring.reset()


def _check_environment_names_created_resources(deployed: Deployed, env: dict[str, str]) -> None:
    """Every table, bucket, queue, cluster or secret a function names, the stack created."""
    tables = deployed.physical_ids("AWS::DynamoDB::Table")
    buckets = deployed.physical_ids("AWS::S3::Bucket")
    queues = deployed.physical_ids("AWS::SQS::Queue")
    for name, value in env.items():
        if name.endswith("_URL") and name.startswith("STOWAGE_") and "://" in value:
            url = urlsplit(value)
            if url.scheme == "dynamodb":
                for domain in DOMAINS:
                    assert f"{url.netloc}-{domain}" in tables, (name, value, tables)
            elif url.scheme == "s3":
                assert url.netloc in buckets, (name, value, buckets)
            elif url.scheme == "postgres+data-api":
                arn = url.netloc + url.path
                clusters = boto3.client("rds", region_name=REGION).describe_db_clusters()
                assert arn in {c["DBClusterArn"] for c in clusters["DBClusters"]}, value
                secret = parse_qs(url.query)["secret"][0]
                boto3.client("secretsmanager", region_name=REGION).describe_secret(
                    SecretId=secret)
            elif url.scheme == "https" and name == "STOWAGE_JOBS_QUEUE_URL":
                assert value in queues, (value, queues)
            else:  # pragma: no cover - a new kind of URL must be checked here first
                raise AssertionError(f"unchecked storage URL {name}={value}")


def _api(method: str, path: str, *, body: Any = None, query: dict[str, str] | None = None,
         token: str | None = None) -> tuple[int, Any]:
    from handlers.api import handler

    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = token
    result = handler(rest_event(method, path, body=json.dumps(body) if body is not None else None,
                                query=query, headers=headers), LocalContext())
    return int(result["statusCode"]), json.loads(result["body"]) if result.get("body") else None


def _sqs_event(messages: list[dict[str, Any]], queue_url: str) -> dict[str, Any]:
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_url.rsplit('/', 1)[-1]}"
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000",
                       "SenderId": "AIDTEST", "ApproximateFirstReceiveTimestamp": "1"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": arn, "awsRegion": REGION,
    } for m in messages]}


def _serve_a_conversation(deployed: Deployed, monkeypatch: pytest.MonkeyPatch,
                          bedrock: dict[str, Any], *, token: str | None = None,
                          resource: str = "u-1") -> None:
    """generate, stream, list, title job, upload grant, delete: each by its own function."""
    from starlette.testclient import TestClient

    thread = f"t-{uuid.uuid4().hex[:8]}"
    api_env = deployed.environments[API_HANDLER]
    bedrock["model_id"] = api_env["STOWAGE_MODEL"].removeprefix("bedrock/")

    # The api function: generate (its title job goes to the stack's queue).
    _use_environment(monkeypatch, api_env)
    status, answer = _api("POST", "/api/agents/assistant/generate", token=token, body={
        "messages": [{"role": "user", "content": "Plan a trip to Lisbon"}],
        "memory": {"thread": thread, "resource": resource}})
    assert status == 200, answer
    assert answer["text"] == "Trip to Lisbon"

    # The stream function: a second turn on the same thread, as SSE.
    _use_environment(monkeypatch, deployed.environments[STREAM_HANDLER])
    from handlers.stream import app as stream_app

    headers = {"Authorization": token} if token else {}
    with TestClient(stream_app) as client:
        response = client.post("/api/agents/assistant/stream", headers=headers, json={
            "messages": [{"role": "user", "content": "And a day in Sintra?"}],
            "memory": {"thread": thread, "resource": resource}})
    assert response.status_code == 200, response.text
    assert '"text":"Hello"' in response.text.replace(" ", "")
    assert response.text.rstrip().endswith("data: [DONE]")

    # The worker function: the title jobs the turns queued, from the stack's queue.
    worker_env = deployed.environments[WORKER_HANDLER]
    queue_url = api_env["STOWAGE_JOBS_QUEUE_URL"]
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert messages, "generate queued no title job"
    _use_environment(monkeypatch, worker_env)
    from handlers.worker import handler as worker

    result = worker(_sqs_event(messages, queue_url), LocalContext())
    assert result["batchItemFailures"] == []

    # The api function again: the thread is listed, titled, holds both turns.
    _use_environment(monkeypatch, api_env)
    status, listing = _api("GET", "/api/memory/threads", token=token,
                           query={"resourceId": resource, "agentId": "assistant"})
    assert status == 200, listing
    (listed,) = [t for t in listing["threads"] if t["id"] == thread]
    assert listed["title"] == "Trip to Lisbon"
    status, page = _api("GET", f"/api/memory/threads/{thread}/messages", token=token,
                        query={"agentId": "assistant"})
    assert status == 200 and len(page["messages"]) == 4, page

    status, grant = _api("POST", "/api/attachments", token=token, body={
        "contentType": "image/png", "size": 1024, "threadId": thread})
    assert status == 200, grant
    grant_text = json.dumps(grant)
    bucket = urlsplit(api_env["STOWAGE_BLOBS_URL"]).netloc
    assert bucket in grant_text and f"{thread}" in grant_text

    status, deleted = _api("DELETE", f"/api/memory/threads/{thread}", token=token,
                           query={"agentId": "assistant"})
    assert status == 200, deleted
    status, gone = _api("GET", f"/api/memory/threads/{thread}", token=token,
                        query={"agentId": "assistant"})
    assert status == 404, gone


def test_dev_stack_deployed_into_moto_serves_a_conversation(
    dev: Synth, monkeypatch: pytest.MonkeyPatch, bedrock: dict[str, Any]
) -> None:
    from moto import mock_aws

    with mock_aws(), deploy(dev.raw, "Stowage-dev", monkeypatch) as deployed:
        # The deploy ran the storage setup, and it succeeded (moto may create a custom
        # resource twice: harmless, the setup is idempotent).
        setups = [a["Status"] for a in deployed.setup_answers if "Storage" in a["Data"]]
        assert setups and set(setups) == {"SUCCESS"}
        assert set(REQUEST_HANDLERS) | {SETUP_HANDLER} <= set(deployed.environments)
        for handler in (*REQUEST_HANDLERS, SETUP_HANDLER):
            _check_environment_names_created_resources(deployed, deployed.environments[handler])
        _serve_a_conversation(deployed, monkeypatch, bedrock)
    _wiring.reset()


def test_an_environment_naming_a_table_the_stack_lacks_fails_the_check(
    dev: Synth, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import mock_aws

    with mock_aws(), deploy(dev.raw, "Stowage-dev", monkeypatch) as deployed:
        env = dict(deployed.environments[API_HANDLER])
        env["STOWAGE_STORAGE_URL"] = f"dynamodb://stowage-other?region={REGION}"
        with pytest.raises(AssertionError, match="stowage-other-memory"):
            _check_environment_names_created_resources(deployed, env)
        env = dict(deployed.environments[API_HANDLER])
        env["STOWAGE_JOBS_QUEUE_URL"] = env["STOWAGE_JOBS_QUEUE_URL"] + "-gone"
        with pytest.raises(AssertionError):
            _check_environment_names_created_resources(deployed, env)


@pytest.mark.postgres
def test_prod_stack_on_aurora_with_cognito_serves_a_conversation(
    prod: Synth, monkeypatch: pytest.MonkeyPatch, bedrock: dict[str, Any]
) -> None:
    # Every domain in Aurora (through the Data API fake on the real PostgreSQL server),
    # Cognito JWTs, a retained stage. moto creates no Aurora cluster or secret through
    # CloudFormation: they are created through their own APIs (see moto_deploy.py).
    import gzip
    from importlib import resources

    import jwt
    from moto import mock_aws

    from tests.storage.fakes import pg
    from tests.storage.fakes.rds_data import FakeDataApi

    url = pg.session_database()
    pg.empty_tables(url)
    fakes: list[FakeDataApi] = []
    routed = boto3.client

    def route_data_api(created: dict[str, str]) -> None:
        # rds-data clients reach the fake, which answers for this stack's cluster only.
        fake = FakeDataApi(url, database="stowage", cluster_arn=created["cluster_arn"],
                           secret_arn=created["secret_arn"])
        fakes.append(fake)

        def client(service: str, *args: Any, **kwargs: Any) -> Any:
            made = routed(service, *args, **kwargs)
            if service == "rds-data":  # as FakeDataApi.client() wires its own
                made.meta.events.register("before-send.rds-data.*", fake._on_send)
            return made

        monkeypatch.setattr(boto3, "client", client)

    with mock_aws(), deploy(prod.raw, "Stowage-prod", monkeypatch,
                            before_stack=route_data_api) as deployed:
        (fake,) = fakes
        env = deployed.environments[API_HANDLER]
        assert urlsplit(env["STOWAGE_STORAGE_URL"]).scheme == "postgres+data-api"
        assert not deployed.physical_ids("AWS::DynamoDB::Table")  # nothing on DynamoDB
        for handler in (*REQUEST_HANDLERS, SETUP_HANDLER):
            _check_environment_names_created_resources(deployed, deployed.environments[handler])
        # The deploy's setup applied the migrations through the Data API.
        setups = [a for a in deployed.setup_answers if "Storage" in a["Data"]]
        assert setups and {a["Status"] for a in setups} == {"SUCCESS"}
        assert "BeginTransaction" in fake.calls
        migrated = len(fake.calls)

        # A Cognito user of the stack's pool signs in; moto signs the ID token.
        idp = boto3.client("cognito-idp", region_name=REGION)
        pool_id = env["STOWAGE_JWT_ISSUER"].rsplit("/", 1)[-1]
        client_id = env["STOWAGE_JWT_AUDIENCE"]
        idp.admin_create_user(UserPoolId=pool_id, Username="ana@example.com",
                              TemporaryPassword="Temp-passw0rd!!")
        idp.admin_set_user_password(UserPoolId=pool_id, Username="ana@example.com",
                                    Password="Real-passw0rd!!", Permanent=True)
        token = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": "ana@example.com",
                                                  "PASSWORD": "Real-passw0rd!!"}
                                  )["AuthenticationResult"]["IdToken"]
        subject = jwt.decode(token, options={"verify_signature": False})["sub"]
        # The pool's JWKS, where the functions fetch it from (moto's signing key).
        jwks_file = resources.files("moto.cognitoidp") / "resources" / "jwks-public.json.gz"
        keys = json.loads(gzip.decompress(jwks_file.read_bytes()))
        expected_jwks = f"{env['STOWAGE_JWT_ISSUER']}/.well-known/jwks.json"

        def fetch_data(self: Any) -> Any:
            assert self.uri == expected_jwks
            return keys

        monkeypatch.setattr(jwt.PyJWKClient, "fetch_data", fetch_data)

        _serve_a_conversation(deployed, monkeypatch, bedrock, token=f"Bearer {token}",
                              resource=subject)
        # Without a token the same api function refuses.
        _use_environment(monkeypatch, env)
        status, _ = _api("GET", "/api/memory/threads", query={"resourceId": subject})
        assert status == 401
        # No function ran a schema statement: only the deploy's setup did.
        ddl = [r for r in fake.requests[migrated:]
               if "CREATE " in str(r.get("sql", "")).upper() or "stowage_migrations" in str(
                   r.get("sql", ""))]
        assert ddl == []
        fake.close()
    _wiring.reset()
