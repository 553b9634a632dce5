"""The HTTP edge, attacked as a hostile caller would: over real HTTP, two tenants, both modes.

Each finding of issue 11 that lives at the HTTP edge has its regression test here
(items 5, 6, 7, 9, 10 and 13). The dev server runs the api Lambda handler and the
stream app; where storage is involved the tests run on the embedded default, on
DynamoDB + S3 under moto and on PostgreSQL (see :mod:`tests.reliability.http_attack`).
Every refusal must be a 4xx with a JSON ``{"error"}`` naming what was wrong, and must
leave what is stored as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from handlers.json_input import MAX_DEPTH
from handlers.sizes import DEFAULT_MAX_RESPONSE_BYTES
from tests.handlers.servers import free_port
from tests.reliability.http_attack import BACKENDS, MODES, Target, running, uid

ROOT = Path(__file__).resolve().parents[2]
GEN = "/api/agents/assistant/generate"
STREAM = "/api/agents/assistant/stream"


def targets(backends: tuple[str, ...] = BACKENDS, modes: tuple[str, ...] = MODES) -> list[Any]:
    """Parameters for the ``target`` fixture: one server per backend and mode."""
    return [pytest.param((b, m), id=f"{b}-{m}",
                         marks=(pytest.mark.postgres,) if b == "postgres" else ())
            for b in backends for m in modes]


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The dev server on one backend in one auth mode (one alive at a time)."""
    backend, auth = request.param
    with running(backend, auth, tmp_path_factory.mktemp(f"{backend}-{auth}")) as served:
        yield served
        # After every attack on this server, every stored thread is still well formed.
        assert_well_formed(served.store.memory)


def assert_well_formed(memory: Any) -> None:
    """Each question answered once, each answer after its question, counts exact."""
    for thread in memory.list_threads(per_page=None).items:
        page = memory.list_messages(thread.id, per_page=None)
        roles = [m.role for m in page.items]
        assert page.total == len(roles), thread.id
        assert roles == ["user", "assistant"] * (len(roles) // 2), (thread.id, roles)


def error_of(reply: httpx.Response) -> str:
    """The JSON error of a refusal (failing the test when it is not one)."""
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.text[:300])
    assert reply.headers["content-type"].startswith("application/json"), reply.headers
    message = reply.json().get("error")
    assert isinstance(message, str) and message, reply.text
    return message


def new_thread(target: Target, tenant: str, **fields: Any) -> str:
    """A thread of ``tenant`` with one turn, created through the API."""
    thread_id = uid("t")
    reply = target.send(tenant, "POST", GEN, json={
        "messages": f"hello from {tenant}",
        "memory": {"thread": {"id": thread_id, **fields}, "resource": tenant}})
    assert reply.status_code == 200, reply.text
    return thread_id


def stored(target: Target, thread_id: str) -> Any:
    """What the store holds for a thread: the thread and every message."""
    memory = target.store.memory
    thread = memory.get_thread(thread_id)
    messages = memory.list_messages(thread_id, per_page=None).items if thread else []
    return thread, [(m.id, m.role, m.content) for m in messages]


# --- item 5: a taken thread id tells nothing about its holder ------------------------

@pytest.mark.parametrize("target", targets(), indirect=True)
def test_a_taken_thread_id_answers_the_same_whoever_holds_it(target: Target) -> None:
    # Given Alice's thread, with a title and metadata
    thread_id = new_thread(target, "alice", title="private plans", metadata={"secret": "s"})
    before = stored(target, thread_id)
    # When Alice herself, Bob, and Bob claiming Alice's resource create that id again
    attempts = [
        target.send(who, "POST", "/api/memory/threads",
                    json={"resourceId": resource, "threadId": thread_id, "title": "mine now"})
        for who, resource in (("alice", "alice"), ("bob", "bob"), ("bob", "alice"))
    ]
    # Then every answer is the same 409, revealing nothing of the thread
    assert {r.status_code for r in attempts} == {409}
    assert [r.json() for r in attempts] == [{"error": "threadId is already in use"}] * 3
    for reply in attempts:
        assert "private" not in reply.text and "alice" not in reply.text
    assert stored(target, thread_id) == before


@pytest.mark.parametrize("target", targets(modes=("jwt",)), indirect=True)
def test_nothing_tells_bob_whether_alice_has_a_thread(target: Target) -> None:
    # Given Alice's thread X, and an id Y nobody has
    alice_thread = new_thread(target, "alice", title="A", metadata={"k": 1})
    target.store.memory.update_resource("alice", working_memory="# alice's notes")
    nobody = uid("t")
    before = stored(target, alice_thread)

    def probes(thread_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        path = f"/api/memory/threads/{thread_id}"
        return [
            ("GET", path, {}),
            ("PATCH", path, {"json": {"title": "x"}}),
            ("DELETE", path, {}),
            ("GET", f"{path}/messages", {"params": {"perPage": "5"}}),
            ("GET", f"{path}/working-memory", {"params": {"agentId": "assistant"}}),
            ("POST", f"{path}/working-memory", {"json": {"workingMemory": "x"}}),
            ("POST", "/api/attachments", {"json": {"contentType": "image/png",
                                                   "threadId": thread_id}}),
            ("GET", "/api/observability/traces", {"params": {"threadId": thread_id}}),
        ]

    # When Bob probes X and Y on every route that takes a thread id
    for (method, path, kwargs), (_, other, other_kwargs) in zip(
            probes(alice_thread), probes(nobody), strict=True):
        seen = target.send("bob", method, path, **kwargs)
        unseen = target.send("bob", method, other, **other_kwargs)
        # Then X answers exactly as Y does
        assert (seen.status_code, seen.json()) == (unseen.status_code, unseen.json()), path
        assert "alice" not in seen.text
    assert stored(target, alice_thread) == before


@pytest.mark.parametrize("target", targets(), indirect=True)
def test_racing_first_turns_on_one_new_thread_give_it_one_owner(
        target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    # Streams run concurrently on the dev server: two tenants race to create one thread.
    # Reads of the race's threads are slowed so both turns see "no such thread" before
    # either creates it: only an atomic create can leave the thread one owner.
    memory = target.store.memory
    read = memory.get_thread

    def slow_read(thread_id: str) -> Any:
        found = read(thread_id)
        if thread_id.startswith("race-"):
            time.sleep(0.1)
        return found

    monkeypatch.setattr(memory, "get_thread", slow_read)
    def turn(tenant: str, thread_id: str, barrier: threading.Barrier,
             replies: dict[str, httpx.Response]) -> None:
        barrier.wait()
        replies[tenant] = target.send(tenant, "POST", STREAM, json={
            "messages": f"{tenant} was here",
            "memory": {"thread": thread_id, "resource": tenant}})

    for _ in range(2):
        thread_id = uid("race")
        replies: dict[str, httpx.Response] = {}
        barrier = threading.Barrier(2)
        runners = [threading.Thread(target=turn, args=(t, thread_id, barrier, replies))
                   for t in ("alice", "bob")]
        for runner in runners:
            runner.start()
        for runner in runners:
            runner.join()
        winners = [t for t, r in replies.items() if r.status_code == 200]
        # Exactly one owns it; the other was refused before anything of hers was stored
        assert len(winners) == 1, {t: (r.status_code, r.text[:200]) for t, r in replies.items()}
        loser = "bob" if winners == ["alice"] else "alice"
        assert error_of(replies[loser]) == "Thread not found"
        thread, messages = stored(target, thread_id)
        assert thread.resource_id == winners[0]
        texts = json.dumps([content for _, _, content in messages])
        assert f"{winners[0]} was here" in texts and f"{loser} was here" not in texts


# --- item 6: cross-site writes ----------------------------------------------------------

def _json_routes(thread_id: str, new_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("POST", "/api/memory/threads", {"resourceId": "alice", "threadId": new_id}),
        ("PATCH", f"/api/memory/threads/{thread_id}", {"title": "defaced"}),
        ("POST", f"/api/memory/threads/{thread_id}/working-memory", {"workingMemory": "pwned"}),
        ("POST", GEN, {"messages": "run me", "memory": {"thread": thread_id,
                                                         "resource": "alice"}}),
        ("POST", STREAM, {"messages": "run me", "memory": {"thread": thread_id,
                                                            "resource": "alice"}}),
        ("POST", "/api/attachments", {"contentType": "image/png", "threadId": thread_id}),
    ]


@pytest.mark.parametrize("declared", [None, "text/plain", "application/x-www-form-urlencoded",
                                      "multipart/form-data; boundary=x", "text/json",
                                      "application/jsonp"])
@pytest.mark.parametrize("target", targets(("embedded",)), indirect=True)
def test_a_body_not_declared_json_is_refused_before_anything_runs(
        target: Target, declared: str | None) -> None:
    # Given Alice's thread and working memory
    thread_id = new_thread(target, "alice", title="kept")
    target.store.memory.update_resource("alice", working_memory="# kept")
    before = stored(target, thread_id), target.store.memory.get_resource("alice")
    runs = target.store.workflows.list_runs().total
    new_id = uid("xs")
    for method, path, body in _json_routes(thread_id, new_id):
        # When a page on another site posts JSON text without declaring it (a "simple"
        # cross-origin request: no preflight), with Alice's credentials if she has any
        headers = {"Origin": "https://evil.example"}
        if declared:
            headers["Content-Type"] = declared
        reply = target.send("alice", method, path, content=json.dumps(body), headers=headers)
        # Then it is a 415 JSON error and nothing ran
        assert reply.status_code == 415, (path, reply.text)
        assert "application/json" in error_of(reply)
    assert (stored(target, thread_id), target.store.memory.get_resource("alice")) == before
    assert target.store.workflows.list_runs().total == runs
    assert target.store.memory.get_thread(new_id) is None


@pytest.mark.parametrize("declared", ["application/json", "application/json; charset=utf-8",
                                      "Application/JSON", "application/vnd.api+json"])
@pytest.mark.parametrize("target", targets(("embedded",)), indirect=True)
def test_json_in_any_spelling_is_accepted(target: Target, declared: str) -> None:
    thread_id = uid("ok")
    created = target.send("alice", "POST", "/api/memory/threads", headers={
        "Content-Type": declared}, content=json.dumps({"resourceId": "alice",
                                                       "threadId": thread_id}))
    assert created.status_code == 200, created.text
    streamed = target.send("alice", "POST", STREAM, headers={"Content-Type": declared},
                           content=json.dumps({"messages": "hi", "memory": {
                               "thread": thread_id, "resource": "alice"}}))
    assert streamed.status_code == 200 and "data: [DONE]" in streamed.text


@pytest.mark.parametrize("target", targets(("embedded",)), indirect=True)
def test_requests_without_a_body_need_no_content_type(target: Target) -> None:
    thread_id = new_thread(target, "alice")
    for method, path in [("GET", f"/api/memory/threads/{thread_id}"),
                         ("GET", f"/api/memory/threads/{thread_id}/messages"),
                         ("DELETE", f"/api/memory/threads/{thread_id}")]:
        assert target.send("alice", method, path).status_code == 200, path
    # A CORS preflight has no body, no content type and no credentials: the CORS layer
    # answers it before the body check and authentication (never a 415, nor a 401).
    for route in ("/api/memory/threads", STREAM):
        preflight = target.send(None, "OPTIONS", route, headers={
            "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 204, (route, preflight.text)


# --- item 7: one nesting limit wherever JSON is parsed ----------------------------------

def _nested(depth: int, leaf: str = "1") -> str:
    return '{"a":' * depth + leaf + "}" * depth


def _listed(depth: int) -> str:
    # Lists nest in 2 bytes a level: the shortest deep value for a URL.
    return "[" * depth + "]" * depth


def _deep_requests(thread_id: str, depth: int) -> list[tuple[str, str, dict[str, Any], str]]:
    """(method, path, request kwargs, a field the error must name) for JSON nested ``depth``."""
    deep = _nested(depth)
    memory = f'"memory":{{"thread":"{thread_id}","resource":"alice"}}'
    path = f"/api/memory/threads/{thread_id}"
    queries = [
        ("GET", f"{path}/messages", {"params": {"include": _listed(depth)}}, "include"),
        ("GET", f"{path}/messages", {"params": {"orderBy": _listed(depth)}}, "orderBy"),
        ("GET", f"{path}/messages", {"params": {"filter": _listed(depth)}}, "filter"),
        ("GET", "/api/memory/threads", {"params": {"metadata": _listed(depth)}}, "metadata"),
    ]
    # A URL holds a few kilobytes (API Gateway, uvicorn): the deepest values go in bodies.
    return (queries if depth <= 1000 else []) + [
        ("POST", GEN, {"content": f'{{"messages":[{deep}],{memory}}}'}, "messages"),
        ("POST", GEN, {"content": '{"messages":"hi","memory":{"thread":{"id":"' + thread_id
                                  + '","metadata":' + deep + '},"resource":"alice"}}'},
         "memory.thread.metadata"),
        ("POST", STREAM, {"content": f'{{"messages":[{deep}],{memory}}}'}, "messages"),
        ("POST", "/api/memory/threads",
         {"content": f'{{"resourceId":"alice","threadId":"{uid("d")}","metadata":{deep}}}'},
         "metadata"),
        ("PATCH", path, {"content": f'{{"metadata":{deep}}}'}, "metadata"),
        ("POST", f"{path}/working-memory", {"content": f'{{"workingMemory":{deep}}}'},
         "workingMemory"),
    ]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 100_000])
@pytest.mark.parametrize("target", targets(), indirect=True)
def test_json_nested_too_deep_is_a_400_naming_the_field(target: Target, depth: int) -> None:
    thread_id = new_thread(target, "alice", metadata={"k": 1})
    before = stored(target, thread_id)
    for method, path, kwargs, field in _deep_requests(thread_id, depth):
        headers = {"Content-Type": "application/json"} if "content" in kwargs else {}
        message = error_of(target.send("alice", method, path, headers=headers, **kwargs))
        assert "nested deeper than" in message, (path, message)
        if depth < 1000:  # the parser itself gives up on the deepest: no field to name
            assert field in message, (path, message)
    assert stored(target, thread_id) == before


@pytest.mark.parametrize("target", targets(), indirect=True)
def test_thread_metadata_within_the_parse_limit_meets_the_storage_limit(target: Target) -> None:
    # 40 levels parse (under 64) but no backend stores them (30): the same 400 everywhere.
    thread_id = uid("m")
    refused = target.send("alice", "POST", "/api/memory/threads", json={
        "resourceId": "alice", "threadId": thread_id, "metadata": json.loads(_nested(40))})
    assert "metadata" in error_of(refused) and "nested deeper than 30" in error_of(refused)
    assert target.store.memory.get_thread(thread_id) is None
    kept = target.send("alice", "POST", "/api/memory/threads", json={
        "resourceId": "alice", "threadId": thread_id, "metadata": json.loads(_nested(20))})
    assert kept.status_code == 200
    assert target.store.memory.get_thread(thread_id).metadata == json.loads(_nested(20))


# --- item 9: filters and maxSteps are what they say -------------------------------------

BAD_FILTERS = [
    ({"dateRange": {"start": 12345}}, "filter.dateRange.start"),
    ({"dateRange": {"start": True}}, "filter.dateRange.start"),
    ({"dateRange": {"start": []}}, "filter.dateRange.start"),
    ({"dateRange": {"end": {}}}, "filter.dateRange.end"),
    ({"dateRange": {"start": "yesterday"}}, "filter.dateRange.start"),
    ({"dateRange": {"start": ""}}, "filter.dateRange.start"),
    ({"dateRange": {"end": "9999-12-31T23:59:59-14:00"}}, "filter.dateRange.end"),
    ({"dateRange": {"startExclusive": "yes"}}, "filter.dateRange.startExclusive"),
    ({"dateRange": {"since": "2024-01-01T00:00:00Z"}}, "filter.dateRange.since"),
    ({"dateRange": True}, "filter.dateRange"),
    ({"dateRange": []}, "filter.dateRange"),
    ({"roles": ["user"]}, "filter.roles"),
    ([], "filter"),
    ("2024", "filter"),
]


@pytest.mark.parametrize("target", targets(), indirect=True)
def test_a_filter_is_never_silently_ignored(target: Target) -> None:
    thread_id = new_thread(target, "alice")
    path = f"/api/memory/threads/{thread_id}/messages"
    for value, field in BAD_FILTERS:
        message = error_of(target.send("alice", "GET", path,
                                       params={"filter": json.dumps(value)}))
        assert field in message, (value, message)


@pytest.mark.parametrize("target", targets(), indirect=True)
def test_date_range_bounds_and_exclusive_flags_select_exactly(target: Target) -> None:
    thread_id = new_thread(target, "alice")
    for text in ("two", "three"):
        assert target.send("alice", "POST", GEN, json={
            "messages": text, "memory": {"thread": thread_id, "resource": "alice"}}
        ).status_code == 200
    path = f"/api/memory/threads/{thread_id}/messages"
    every = target.send("alice", "GET", path).json()["messages"]
    assert len(every) == 6
    first, last = every[0]["createdAt"], every[-1]["createdAt"]

    def ids(dates: dict[str, Any]) -> list[str]:
        reply = target.send("alice", "GET", path,
                            params={"filter": json.dumps({"dateRange": dates})})
        assert reply.status_code == 200, reply.text
        return [m["id"] for m in reply.json()["messages"]]

    assert ids({"start": first, "end": last}) == [m["id"] for m in every]
    assert ids({"start": None, "end": None}) == [m["id"] for m in every]
    inside = ids({"start": first, "startExclusive": True, "end": last, "endExclusive": True})
    assert inside == [m["id"] for m in every
                      if first < m["createdAt"] < last]


@pytest.mark.parametrize("value", ["3", True, 3.0, "1e1", 0, 51, [3], {"n": 3}])
@pytest.mark.parametrize("target", targets(("embedded",)), indirect=True)
def test_max_steps_is_a_strict_integer(target: Target, value: Any) -> None:
    for path in (GEN, STREAM):
        reply = target.send("alice", "POST", path, json={"messages": "hi", "maxSteps": value})
        assert "maxSteps" in error_of(reply), (path, value)
    assert target.send("alice", "POST", GEN, json={"messages": "hi",
                                                   "maxSteps": 3}).status_code == 200


# --- item 10: settings refused at startup; health needs no credentials -----------------

BAD_SETTINGS = [
    ({"STOWAGE_AUTH": "jwt"}, "STOWAGE_JWT_ISSUER"),
    ({"STOWAGE_AUTH": "cognito"}, "STOWAGE_AUTH"),
    ({"STOWAGE_AUTH": "jwt", "STOWAGE_JWT_ISSUER": "https://i.example",
      "STOWAGE_JWT_SECRET": "short"}, "STOWAGE_JWT_SECRET"),
    ({"STOWAGE_AUTH": "jwt", "STOWAGE_JWT_ISSUER": "https://i.example",
      "STOWAGE_JWT_PUBLIC_KEY": "not a key"}, "STOWAGE_JWT_PUBLIC_KEY"),
    ({"STOWAGE_MAX_BODY_BYTES": "lots"}, "STOWAGE_MAX_BODY_BYTES"),
    ({"STOWAGE_MAX_RESPONSE_BYTES": "10000000"}, "STOWAGE_MAX_RESPONSE_BYTES"),
    ({"STOWAGE_KEEPALIVE_SECONDS": "nan"}, "STOWAGE_KEEPALIVE_SECONDS"),
    ({"STOWAGE_URL_TTL": "9999999"}, "STOWAGE_URL_TTL"),
    ({"STOWAGE_PORT": "http"}, "STOWAGE_PORT"),
]


def _clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOWAGE_")}
    env.update(STOWAGE_STORAGE_URL="memory://", POWERTOOLS_METRICS_DISABLED="true", **settings)
    return env


@pytest.mark.parametrize(("settings", "named"), BAD_SETTINGS,
                         ids=[n for _, n in BAD_SETTINGS])
def test_the_dev_server_refuses_a_bad_setting_at_startup(settings: dict[str, str],
                                                         named: str) -> None:
    # make dev runs `python -m handlers.local`: it must stop at once, naming the setting
    env = _clean_env(**{"STOWAGE_PORT": str(free_port()), **settings})
    done = subprocess.run([sys.executable, "-m", "handlers.local"], cwd=ROOT, timeout=60,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 2, (done.stdout, done.stderr[-2000:])
    assert named in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize(("settings", "named"), BAD_SETTINGS[:2], ids=["no-issuer", "mode"])
def test_the_api_lambda_fails_its_init_on_a_bad_setting(settings: dict[str, str],
                                                        named: str) -> None:
    # Lambda imports the handler module during init: the import must fail, naming it.
    done = subprocess.run([sys.executable, "-c", "import handlers.api"], cwd=ROOT,
                          timeout=120, env=_clean_env(**settings), capture_output=True,
                          text=True)
    assert done.returncode != 0 and named in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize(("settings", "named"), BAD_SETTINGS[:2], ids=["no-issuer", "mode"])
def test_the_stream_function_does_not_start_on_a_bad_setting(settings: dict[str, str],
                                                             named: str) -> None:
    # Under the Lambda Web Adapter, uvicorn's startup is the function's init.
    done = subprocess.run([sys.executable, "-m", "uvicorn", "handlers.stream:app",
                           "--port", str(free_port())], cwd=ROOT, timeout=60,
                          env=_clean_env(**settings), capture_output=True, text=True)
    assert done.returncode != 0, done.stderr[-2000:]
    assert named in done.stderr and "startup failed" in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize("target", targets(("embedded",)), indirect=True)
def test_health_answers_without_credentials_in_every_mode(target: Target) -> None:
    for headers in ({}, {"Authorization": "Bearer garbage"}):
        reply = target.client.get(f"{target.base}/api/health", headers=headers)
        assert reply.status_code == 200 and reply.json() == {"status": "ok"}
    anonymous = target.send(None, "GET", "/api/memory/threads")
    if target.auth == "jwt":
        assert anonymous.status_code == 401 and error_of(anonymous)
    else:
        assert anonymous.status_code == 200


# --- item 13: no response over Lambda's 6 MB ---------------------------------------------

@pytest.mark.parametrize("target", targets(), indirect=True)
def test_a_4_5_mb_message_never_makes_a_response_over_6_mb(target: Target) -> None:
    # Given a turn whose question (and so its echoed answer) is 4.5 MB of text
    thread_id = uid("big")
    # Mostly ASCII so the request stays under the 5 MiB body limit; a non-ASCII letter,
    # a quote and a newline per line so escaping counts.
    text = ("É\"" + "a" * 97 + "\n") * 45_000
    turn = target.send("alice", "POST", GEN, json={
        "messages": text, "memory": {"thread": thread_id, "resource": "alice"}})
    # The answer would carry the text three times: refused as JSON, not a broken response
    assert turn.status_code == 413 and "limit" in error_of(turn)
    assert len(turn.content) < 1000
    # The turn itself was carried out and stored
    _, messages = stored(target, thread_id)
    assert [role for _, role, _ in messages] == ["user", "assistant"]
    # When the thread is listed with the default page size
    path = f"/api/memory/threads/{thread_id}/messages"
    first = target.send("alice", "GET", path)
    # Then the page stops after the first message, telling the truth about the rest
    assert first.status_code == 200, first.text[:300]
    assert len(first.content) < DEFAULT_MAX_RESPONSE_BYTES
    page = first.json()
    assert [m["role"] for m in page["messages"]] == ["user"]
    assert (page["page"], page["perPage"], page["hasMore"], page["total"]) == (0, 1, True, 2)
    # and the text is sent once, in its text part
    sent = page["messages"][0]["content"]
    assert "content" not in sent and sent["parts"][0]["text"] == text
    # Continuing from the answer's own page and perPage gives the rest
    second = target.send("alice", "GET", path, params={"page": "1", "perPage": "1"})
    assert len(second.content) < DEFAULT_MAX_RESPONSE_BYTES
    assert [m["role"] for m in second.json()["messages"]] == ["assistant"]
    assert second.json()["hasMore"] is False


@pytest.mark.parametrize("target", targets(modes=("iam",)), indirect=True)
def test_pages_cut_by_size_continue_exactly_from_their_own_page_and_per_page(
        target: Target) -> None:
    # Given 12 messages of about 1 MB each (6 turns): 12 MB, two pages' worth of responses
    thread_id = uid("mb")
    for turn in range(6):
        text = f"turn {turn} " + ("ü\"\\" + "a" * 97) * 10_000
        reply = target.send("alice", "POST", GEN, json={
            "messages": text, "memory": {"thread": thread_id, "resource": "alice"}})
        assert reply.status_code == 200, reply.text[:300]
    path = f"/api/memory/threads/{thread_id}/messages"
    expected = [m for m, _, _ in stored(target, thread_id)[1]]

    def read_all(params: dict[str, str]) -> list[str]:
        seen: list[str] = []
        while True:
            reply = target.send("alice", "GET", path, params=params)
            assert reply.status_code == 200, reply.text[:300]
            assert len(reply.content) <= DEFAULT_MAX_RESPONSE_BYTES
            page = reply.json()
            assert page["total"] == 12 and page["messages"]
            seen += [m["id"] for m in page["messages"]]
            if not page["hasMore"]:
                return seen
            # Continue from the answer's own page and perPage, as a client would
            params = {**params, "page": str(page["page"] + 1), "perPage": str(page["perPage"])}

    # When a client pages through with a page size too big for one response
    # Then every message comes exactly once, in order, each page under the limit
    assert read_all({"perPage": "40"}) == expected
    assert read_all({"perPage": "false"}) == expected
    newest_first = json.dumps({"field": "createdAt", "direction": "DESC"})
    assert read_all({"perPage": "10", "orderBy": newest_first}) == expected[::-1]
    # A page that starts inside the thread is cut at a size that divides its offset
    later = target.send("alice", "GET", path, params={"page": "1", "perPage": "6"}).json()
    assert (later["page"] * later["perPage"], later["hasMore"]) == (6, True)
    assert [m["id"] for m in later["messages"]] == expected[6:6 + later["perPage"]]
    # Context windows mix other messages in: such a page is refused, not cut
    windows = json.dumps([{"id": expected[0], "withNextMessages": 11}])
    refused = target.send("alice", "GET", path, params={"perPage": "1", "include": windows})
    assert refused.status_code == 413 and "include" in error_of(refused)
