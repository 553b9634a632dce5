"""Two tenants' data, planted through the API, and what an attacker may see of it.

:func:`plant` gives a tenant everything a route can show: a thread with two turns
(a generate with a client-chosen message id, an attachment and a Studio-style run
id, then a stream), a second thread with a title and metadata, working memory, an
upload, a score, and the runs and spans the turns recorded. Every text it writes
holds the tenant's *secret*, a word no request of the other tenant ever contains;
the ids it owns are markers too. :func:`leaked` finds them in an answer:

* the secret anywhere in the answer is a leak;
* an id of the tenant in the answer is a leak unless the request itself named it
  (an error may echo what the caller sent; it cannot have learnt it).

:func:`state` reads back, straight from the store, everything a tenant owns, so an
attack can be shown to have changed nothing.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from agents.idempotency import TurnKey
from storage.records import Score
from tests.reliability.http_attack import Target

AGENT = "assistant"
GEN = f"/api/agents/{AGENT}/generate"
STREAM = f"/api/agents/{AGENT}/stream"
SCORER = "relevance"
# A word every tenant's texts share: a search for it has hits for each tenant.
COMMON_WORD = "zebra"


@dataclass
class Tenant:
    """One tenant's planted data (see the module docstring)."""

    name: str
    secret: str
    thread: str = ""
    other_thread: str = ""
    question: str = ""
    answer: str = ""
    run: str = ""
    trace: str = ""
    span: str = ""
    blob_uri: str = ""
    blob_key: str = ""
    link: str | None = None
    upload_url: str | None = None
    ids: set[str] = field(default_factory=set)

    def markers(self) -> set[str]:
        """Everything that, found in another tenant's answer, shows this tenant leaked."""
        return {self.secret, *self.ids}


def new_tenant(label: str) -> Tenant:
    """A tenant named ``<label>-<hex>`` with a fresh secret."""
    return Tenant(name=f"{label}-{secrets.token_hex(4)}", secret=f"s3cr3t{secrets.token_hex(6)}")


def _ok(reply: httpx.Response) -> httpx.Response:
    assert reply.status_code == 200, (reply.request.url, reply.status_code, reply.text[:500])
    return reply


def plant(target: Target, tenant: Tenant) -> Tenant:
    """Give ``tenant`` one of everything, through the API as that tenant."""
    who, name, secret = tenant.name, tenant.name, tenant.secret
    tenant.thread, tenant.other_thread = f"{name}-t1", f"{name}-t2"
    tenant.question, tenant.run = f"{name}-q1", f"{name}-run1"
    attachment = base64.b64encode(f"attached bytes {secret}".encode()).decode()
    _ok(target.send(who, "POST", GEN, json={
        "messages": [{"id": tenant.question, "role": "user",
                      "content": f"{COMMON_WORD} question {secret}",
                      "experimental_attachments": [{
                          "name": "note.txt", "contentType": "text/plain",
                          "url": f"data:text/plain;base64,{attachment}"}]}],
        "memory": {"thread": tenant.thread, "resource": name}, "runId": tenant.run}))
    streamed = _ok(target.send(who, "POST", STREAM, json={
        "messages": [{"id": f"{name}-q2", "role": "user",
                      "content": f"{COMMON_WORD} follow-up {secret}"}],
        "memory": {"thread": tenant.thread, "resource": name}}))
    assert "data: [DONE]" in streamed.text and '"type":"error"' not in streamed.text
    _ok(target.send(who, "POST", "/api/memory/threads", json={
        "resourceId": name, "threadId": tenant.other_thread, "title": f"plans {secret}",
        "metadata": {"owner": secret}}))
    _ok(target.send(who, "POST", f"/api/memory/threads/{tenant.thread}/working-memory",
                    json={"workingMemory": f"# notes {secret}", "resourceId": name}))
    grant = _ok(target.send(who, "POST", "/api/attachments", json={
        "contentType": "text/plain", "threadId": tenant.thread})).json()
    if grant["url"].startswith(target.base):
        # The dev server's own upload URL (the file store); S3's is moto's, not served.
        tenant.upload_url = grant["url"]
        uploaded = target.client.post(grant["url"], content=f"upload {secret}".encode(),
                                      headers={"Content-Type": "text/plain"})
        assert uploaded.status_code == 204, uploaded.text
    _collect(target, tenant)
    return tenant


def _collect(target: Target, tenant: Tenant) -> None:
    """Read back the ids the server chose (answers, traces, spans, blobs) as markers."""
    store = target.store
    tenant.answer = TurnKey(AGENT, tenant.thread, tenant.question).answer_id
    messages = store.memory.list_messages(tenant.thread, per_page=None).items
    tenant.ids |= {tenant.thread, tenant.other_thread, tenant.run, tenant.answer, tenant.name}
    tenant.ids |= {m.id for m in messages}
    for message in messages:
        for attachment in message.content.get("experimental_attachments") or []:
            tenant.blob_uri = attachment["url"]
    assert tenant.blob_uri, "the attachment was not stored as a blob"
    tenant.blob_key = store.blobs.key_of(tenant.blob_uri)
    tenant.ids.add(tenant.blob_key.rsplit("/", 1)[-1])
    tenant.ids |= {r.run_id for r in store.workflows.list_runs(resource_id=tenant.name).items}
    roots = store.observability.list_traces(resource_id=tenant.name, per_page=None).items
    assert roots, "the turns recorded no trace"
    for root in roots:
        tenant.ids.add(root.trace_id)
        tenant.ids |= {s.span_id for s in store.observability.get_trace(root.trace_id)}
    first = next(r for r in roots if r.run_id == tenant.run)
    tenant.trace, tenant.span = first.trace_id, first.span_id
    score = Score(id=f"{tenant.name}-score", scorer_id=SCORER, score=0.5, run_id=tenant.run,
                  reason=f"because {tenant.secret}", entity_type="AGENT", entity_id=AGENT,
                  trace_id=tenant.trace, span_id=tenant.span, resource_id=tenant.name,
                  thread_id=tenant.thread)
    store.scores.save_score(score)
    tenant.ids.add(score.id)
    listed = _ok(target.send(tenant.name, "GET",
                             f"/api/memory/threads/{tenant.thread}/messages")).json()
    links = [a["url"] for m in listed["messages"]
             for a in m["content"].get("experimental_attachments") or []]
    assert links and all(link != tenant.blob_uri for link in links), links
    tenant.link = links[0] if links[0].startswith(target.base) else None


def signed_parts(url: str) -> tuple[str, dict[str, str]]:
    """The path and query parameters of a signed dev-server URL."""
    parts = urlsplit(url)
    return parts.path, dict(parse_qsl(parts.query))


def leaked(victim: Tenant, sent: str, answer: str) -> set[str]:
    """The victim's markers in ``answer`` that the request (``sent``) did not contain."""
    return {m for m in victim.markers() if m in answer and m not in sent}


def state(target: Target, tenant: Tenant) -> dict[str, Any]:
    """Everything stored for ``tenant``, read straight from the store (comparable)."""
    store = target.store
    threads = store.memory.list_threads(resource_id=tenant.name, per_page=None).items
    out: dict[str, Any] = {"threads": threads, "messages": {}, "blobs": {}}
    for thread in threads:
        messages = store.memory.list_messages(thread.id, per_page=None).items
        out["messages"][thread.id] = messages
        for message in messages:
            for attachment in message.content.get("experimental_attachments") or []:
                out["blobs"][attachment["url"]] = store.blobs.get(attachment["url"])
    out["resource"] = store.memory.get_resource(tenant.name)
    runs = store.workflows.list_runs(resource_id=tenant.name).items
    out["runs"] = [(r.run_id, r.status, json.dumps(r.snapshot, sort_keys=True, default=str))
                   for r in runs]
    roots = store.observability.list_traces(resource_id=tenant.name, per_page=None).items
    out["spans"] = {r.trace_id: store.observability.get_trace(r.trace_id) for r in roots}
    out["scores"] = store.scores.list_scores(run_id=tenant.run).items
    return out


__all__ = ["AGENT", "COMMON_WORD", "GEN", "SCORER", "STREAM", "Tenant", "leaked",
           "new_tenant", "plant", "signed_parts", "state"]
