"""A vector search that fails for a while never fails the turn (issue 13).

DynamoDB's ``SearchVectors`` refuses searches while the index is created or backfilled
(a ``ValidationException`` the troubleshooting guide says to retry), throttles, or
fails; pgvector may be missing (no extension, no vectors table). The vector store then
raises ``UnavailableError`` with ``retry_after``; a turn logs a warning without any
content and answers on the last-N window; the memory search route answers 503 with
``Retry-After``. Once the index is ready again, nothing was lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from agents import Agent, App, InlineJobRunner, Memory
from agents.embedders import HashEmbedder
from agents.models import ScriptedModel
from handlers import _wiring
from storage.errors import UnavailableError
from tests.handlers.conftest import call_api

DIMS = 32
QUERY = "what is my cat called"
EARLY = "my cat is called Miso"


def _app(store: Any) -> tuple[App, ScriptedModel]:
    model = ScriptedModel(["noted"])
    agent = Agent(id="assistant", model=model, memory=Memory(
        last_messages=2, semantic_recall={"topK": 5, "messageRange": 0},
        embedder=HashEmbedder(dimensions=DIMS)))
    app = App(agents=[agent], storage=store, jobs=InlineJobRunner())
    _wiring.use_app(app)
    for text in (EARLY, "the weather is rainy", "buy bread", "call the plumber"):
        agent.generate(text, memory={"thread": "t-1", "resource": "u-1"})
    return app, model


def _prompt(model: ScriptedModel) -> list[str]:
    request = model.requests[-1]
    texts = [p.text for m in request.messages for p in m.parts if getattr(p, "text", None)]
    return [*texts, request.system or ""]


def _turn_without_recall(app: App, model: ScriptedModel, caplog: Any) -> None:
    """The turn answers on the last-N window; the warning names no content."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="agents.recall"):
        reply = app.get_agent("assistant").generate(
            QUERY, memory={"thread": "t-1", "resource": "u-1"})
    assert reply.text == "noted"
    prompt = _prompt(model)
    assert not any(EARLY in text for text in prompt)  # nothing recalled
    assert QUERY in prompt  # the turn itself ran
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("semantic recall skipped" in r.getMessage() for r in warnings)
    assert not any(word in r.getMessage() for r in warnings for word in ("cat", "Miso"))


def _search_route() -> Any:
    return call_api("GET", "/api/memory/search", query={
        "agentId": "assistant", "searchQuery": QUERY, "resourceId": "u-1"})


def _recalls(app: App, model: ScriptedModel) -> bool:
    app.get_agent("assistant").generate(QUERY, memory={"thread": "t-1", "resource": "u-1"})
    return any(EARLY in text for text in _prompt(model))


# --- DynamoDB (the SearchVectors fake) -----------------------------------------------


@pytest.fixture
def aws() -> Iterator[tuple[App, ScriptedModel, Any]]:
    import tests.storage.fakes.dynamodb_vectors  # noqa: F401  (installs SearchVectors)
    from tests.storage.dynamodb_support import moto_dynamodb

    with moto_dynamodb(vector_dimensions=DIMS) as (store, _):
        app, model = _app(store)
        yield app, model, store


def _index(table: str, **state: Any) -> AbstractContextManager[Any]:
    from tests.storage.fakes.dynamodb_vectors import index_state

    return index_state(table, **state)


def _failing(table: str, code: str, message: str) -> AbstractContextManager[Any]:
    from tests.storage.fakes.dynamodb_vectors import failing_searches

    return failing_searches(table, code, message)


FAULTS: dict[str, Callable[[str], AbstractContextManager[Any]]] = {
    "backfilling": lambda t: _index(t, status="CREATING", backfilling=True),
    "backfilling (ACTIVE)": lambda t: _index(t, status="ACTIVE", backfilling=True),
    "creating": lambda t: _index(t, status="CREATING"),
    "search endpoint lagging": lambda t: _index(t, status="ACTIVE", search_lag=True),
    "throttled": lambda t: _failing(t, "ThrottlingException",
                                    "Rate of requests exceeds the allowed throughput."),
    "request limit": lambda t: _failing(t, "RequestLimitExceeded",
                                        "Throughput exceeds the current throughput limit"),
    "provisioned throughput": lambda t: _failing(
        t, "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded."),
    "internal error": lambda t: _failing(t, "InternalServerError", "Internal server error"),
    "index not found": lambda t: _failing(t, "ResourceNotFoundException",
                                          "Requested resource not found"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_dynamodb_search_failures_keep_the_turn_and_answer_503(
        aws: Any, fault: str, caplog: Any, monkeypatch: Any) -> None:
    app, model, store = aws
    # botocore's retries of throttling and 5xx run first (adaptive mode), here without
    # the back-off sleeps and the client-side rate limiting they would wait for.
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount",
                        lambda self, context: 0)
    monkeypatch.setattr("botocore.retries.bucket.TokenBucket.acquire",
                        lambda self, amount=1, block=True: True)
    table = store.vectors.table
    assert _recalls(app, model)  # recall works before the fault
    with FAULTS[fault](table):
        with pytest.raises(UnavailableError) as caught:
            store.vectors.search(HashEmbedder(dimensions=DIMS).embed([QUERY])[0],
                                 embedder="local/hash", resource_id="u-1")
        assert caught.value.retry_after is not None and caught.value.retry_after >= 1
        _turn_without_recall(app, model, caplog)
        reply = _search_route()
        assert reply.status == 503, reply.body
        assert int(reply.headers["Retry-After"]) >= 1
        assert set(reply.body) >= {"error"} and "Miso" not in str(reply.body)
    assert _recalls(app, model)  # once ready again, the vectors are all there


def test_a_refused_search_is_still_a_validation_error(aws: Any) -> None:
    """Only the index's not-ready answers are transient; a bad request stays a 400."""
    from storage.dynamodb.vector_errors import search_unavailable
    from storage.errors import ValidationError

    refused = ValidationError("DynamoDB SearchVectors: Provided TopK value is out of valid range")
    assert search_unavailable(refused) is refused
    ready = search_unavailable(ValidationError(
        "DynamoDB SearchVectors: Cannot search backfilling vector index: message-vectors"))
    assert isinstance(ready, UnavailableError) and ready.retry_after


# --- PostgreSQL: pgvector missing, or its table gone -----------------------------------


@pytest.mark.postgres
def test_postgres_without_pgvector_keeps_the_turn_and_answers_503(caplog: Any) -> None:
    import storage
    from tests.storage.fakes import pg

    url = pg.session_database()  # the machine's PostgreSQL 15: no pgvector
    pg.empty_tables(url)
    store = storage.open(url)
    try:
        app, model = _app(store)  # the embed jobs fail (logged); the turns do not
        _turn_without_recall(app, model, caplog)
        reply = _search_route()
        assert reply.status == 503 and int(reply.headers["Retry-After"]) >= 1
        assert "Miso" not in str(reply.body)
        assert len(store.memory.list_messages("t-1", per_page=None).items) == 10
    finally:
        store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("transport", ["psycopg", "data-api"])
@pytest.mark.parametrize("gone", ["table", "function", "extension"])
def test_pgvector_objects_missing_keep_the_turn_and_answer_503(
        tmp_path: Any, caplog: Any, transport: str, gone: str) -> None:
    import psycopg

    from tests.storage.fakes.pgvector import (
        pgvector_data_api_store,
        pgvector_database,
        pgvector_store,
    )

    opened = pgvector_store if transport == "psycopg" else pgvector_data_api_store
    with opened(tmp_path) as store:
        app, model = _app(store)
        assert _recalls(app, model)
        drop = {"table": f"DROP TABLE memory_messages_{DIMS}",
                "function": "DROP FUNCTION stowage_search_message_vectors",
                "extension": "DROP EXTENSION vector CASCADE"}[gone]
        with psycopg.connect(pgvector_database(), autocommit=True) as conn:
            conn.execute(drop)
        with pytest.raises(UnavailableError) as caught:
            store.vectors.search(HashEmbedder(dimensions=DIMS).embed([QUERY])[0],
                                 embedder="local/hash", resource_id="u-1")
        assert caught.value.retry_after is not None
        _turn_without_recall(app, model, caplog)
        reply = _search_route()
        assert reply.status == 503 and int(reply.headers["Retry-After"]) >= 1
