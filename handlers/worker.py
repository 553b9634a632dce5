"""The worker Lambda: SQS records are jobs (titles, scorers, embeddings) for ``run_job``.

Powertools batch processing reports each failed record in ``batchItemFailures``,
so SQS retries only those (and moves them to the DLQ after the queue's
``maxReceiveCount``). Jobs are idempotent (``agents.jobs.run_job``): a retried title
job does not overwrite a title set meanwhile, a score has a deterministic id.

Each job has a deadline: its fair share of the invocation's remaining time (less a
margin to send the report), recomputed before every job so the time a fast job
leaves goes to the next ones. A job past its deadline (a Bedrock call that hangs) is
reported failed and retried later by SQS, instead of running the function into its
timeout, which would fail, and redeliver, the whole batch of up to 10 jobs. The late
job's thread is left to finish or fail on its own: Python cannot stop a thread, and
jobs are idempotent, so a late success is harmless.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from handlers._wiring import get_app
from handlers.observability import count, logger, metrics, tracer

T = TypeVar("T")
processor = BatchProcessor(event_type=EventType.SQS)

# Kept back from the invocation's remaining time to report the batch before Lambda's
# own timeout ends the invocation.
REPORT_MARGIN_S = 3.0


class JobTimeoutError(TimeoutError):
    """A job did not finish within its share of the invocation's time."""


class JobDeadlines:
    """Hands each job of a batch its share of the invocation's remaining time.

    Args:
        remaining_ms: the Lambda context's ``get_remaining_time_in_millis``.
        jobs: how many jobs the batch holds.
        margin: seconds kept back to report the batch.
    """

    def __init__(self, remaining_ms: Callable[[], int], jobs: int, *,
                 margin: float = REPORT_MARGIN_S) -> None:
        self._remaining_ms = remaining_ms
        self._left = max(1, jobs)
        self._margin = margin

    def next_budget(self) -> float:
        """Seconds the next job may run: the time left, shared by the jobs left."""
        seconds = self._remaining_ms() / 1000 - self._margin
        budget = max(0.0, seconds) / self._left
        self._left = max(1, self._left - 1)
        return budget


_batch = threading.local()


def run_within(fn: Callable[[], T], seconds: float | None) -> T:
    """``fn()``, or :class:`JobTimeoutError` once ``seconds`` pass (``None``: no bound)."""
    if seconds is None:
        return fn()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=target, name="stowage-job", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise JobTimeoutError(
            f"job still running after {time.monotonic() - started:.1f}s (deadline {seconds:.1f}s)"
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


@tracer.capture_method
def record_handler(record: SQSRecord) -> Any:
    """Run one job; raising marks the record failed (SQS retries it)."""
    from agents.jobs import run_job

    payload = json.loads(record.body)
    logger.append_keys(job_kind=payload.get("kind") if isinstance(payload, dict) else None)
    deadlines: JobDeadlines | None = getattr(_batch, "deadlines", None)
    budget = deadlines.next_budget() if deadlines is not None else None
    try:
        result = run_within(lambda: run_job(get_app(), payload), budget)
    except JobTimeoutError:
        count("JobsTimedOut")
        logger.warning("job timed out message_id=%s budget_s=%.1f", record.message_id,
                       budget or 0.0)
        raise
    except Exception:
        count("JobsFailed")
        logger.exception("job failed message_id=%s", record.message_id)
        raise
    count("JobsDone")
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point: ``{"batchItemFailures": [{"itemIdentifier": ...}]}``."""
    _batch.deadlines = JobDeadlines(context.get_remaining_time_in_millis,
                                    len(event.get("Records") or ()))
    try:
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    finally:
        _batch.deadlines = None
    return dict(response)


__all__ = ["JobDeadlines", "JobTimeoutError", "handler", "processor", "record_handler",
           "run_within"]
