"""Background work (thread titles, scorers) as JSON payloads, run where the deployment wants.

* :class:`InlineJobRunner` runs a job as soon as it is submitted (tests).
* :class:`BackgroundJobRunner` runs jobs on a thread pool (local dev, the default).
* :class:`SQSJobRunner` sends them to an SQS queue; the worker Lambda calls
  :func:`run_job` for each record.

Payloads: ``{"kind": "title", "agent", "thread", "resource"}``,
``{"kind": "score", "agent", "scorer", "run", "trace", "span", "thread", "resource",
"input", "output"}`` and ``{"kind": "embed", "agent", "messages": [ids], "vectors"?}``
(semantic recall, :mod:`agents.embed_jobs`). :func:`run_job` is idempotent (a retried
title job does not overwrite a title set meanwhile; a score has a deterministic id;
an embedding is upserted) and raises on failure so a queue can retry the record.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from agents.app import App

log = logging.getLogger(__name__)


@runtime_checkable
class JobRunner(Protocol):
    """Where background jobs go."""

    def submit(self, payload: Mapping[str, Any]) -> None:
        """Queue (or run) one job. Must not raise for a job's own failure."""
        ...


class _AppBound:
    app: App | None = None

    def bind(self, app: App) -> None:
        """Called by :class:`~agents.app.App`: jobs run against this app."""
        self.app = app

    def _run(self, payload: Mapping[str, Any]) -> Any:
        if self.app is None:
            raise RuntimeError("job runner is not bound to an App")
        try:
            return run_job(self.app, payload)
        except Exception:
            # A title or a score must never break the conversation: log and move on.
            log.exception("job failed kind=%s agent=%s", payload.get("kind"), payload.get("agent"))
            return None


class InlineJobRunner(_AppBound):
    """Runs each job at once, in the caller's thread (tests); failures are logged.

    Jobs are submitted after the answer is complete, so even inline they never
    change the answer. ``submitted`` keeps every payload for assertions.
    """

    def __init__(self) -> None:
        self.submitted: list[dict[str, Any]] = []

    def submit(self, payload: Mapping[str, Any]) -> None:
        """Run the job now."""
        self.submitted.append(dict(payload))
        self._run(payload)


class BackgroundJobRunner(_AppBound):
    """Runs jobs on a small thread pool of this process (local dev).

    Args:
        max_workers: pool size.
    """

    def __init__(self, max_workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="stowage-job")
        self._pending: set[Future[Any]] = set()
        self._lock = threading.Lock()
        self.submitted: list[dict[str, Any]] = []

    def submit(self, payload: Mapping[str, Any]) -> None:
        """Queue the job on the pool."""
        data = json.loads(json.dumps(payload))  # what an SQS round trip would give
        self.submitted.append(data)
        future = self._pool.submit(self._run, data)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    def drain(self, timeout: float | None = 30.0) -> bool:
        """Wait until every submitted job has finished. Returns False on timeout."""
        from concurrent.futures import wait

        while True:
            with self._lock:
                pending = set(self._pending)
            if not pending:
                return True
            _, not_done = wait(pending, timeout=timeout)
            if not_done:
                return False

    wait = drain

    def close(self) -> None:
        """Finish queued jobs and stop the pool."""
        self._pool.shutdown(wait=True)


class SQSJobRunner:
    """Sends each job to an SQS queue (on AWS, the worker Lambda consumes it).

    Args:
        queue_url: the queue.
        client: a boto3 SQS client (built once, lazily, when omitted).
    """

    def __init__(self, queue_url: str, client: Any = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        """The SQS client."""
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        return self._client

    def submit(self, payload: Mapping[str, Any]) -> None:
        """Send the payload as the message body (JSON)."""
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(payload))


def run_job(app: App, payload: Mapping[str, Any]) -> Any:
    """Run one job payload against ``app``; the SQS worker calls exactly this.

    Returns:
        What the job produced (the title, the score), or ``None`` when there was
        nothing to do (the thread already has a title).

    Raises:
        ValueError: an unknown ``kind`` or a malformed payload.
        AgentNotFoundError: the payload names an agent the app does not have.
        Exception: the job's own failure (so the queue retries the record).
    """
    if not isinstance(payload, Mapping):
        raise ValueError("job payload must be a JSON object")
    kind = payload.get("kind")
    agent = app.get_agent(_field(payload, "agent"))
    if kind == "title":
        from agents.titles import write_title

        return write_title(agent, _field(payload, "thread"), _field(payload, "resource"))
    if kind == "score":
        from agents.scorers import run_scorer

        return run_scorer(agent, payload)
    if kind == "embed":
        from agents.embed_jobs import run_embed_job

        return run_embed_job(agent, payload)
    raise ValueError(f"unknown job kind {kind!r}")


def _field(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"job payload needs a string {name!r}")
    return value
