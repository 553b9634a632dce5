"""The worker Lambda: SQS records are jobs (titles, scorers, embeddings) for ``run_job``.

Powertools batch processing reports each failed record in ``batchItemFailures``,
so SQS retries only those (and moves them to the DLQ after the queue's
``maxReceiveCount``). Jobs are idempotent (``agents.jobs.run_job``): a retried title
job does not overwrite a title set meanwhile, a score has a deterministic id.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from handlers._wiring import get_app
from handlers.observability import count, logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def record_handler(record: SQSRecord) -> Any:
    """Run one job; raising marks the record failed (SQS retries it)."""
    from agents.jobs import run_job

    payload = json.loads(record.body)
    logger.append_keys(job_kind=payload.get("kind") if isinstance(payload, dict) else None)
    try:
        result = run_job(get_app(), payload)
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
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


__all__ = ["handler", "processor", "record_handler"]
