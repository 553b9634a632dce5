"""The expiry Lambda: DynamoDB's TTL deleted a thread item; delete what was under it.

The memory table's stream (old images) feeds this function; the event source mapping
filters it to ``REMOVE`` records by ``dynamodb.amazonaws.com`` (TTL deletes) of thread
items, and each record is checked again here (a user's ``delete_thread`` cascades by
itself, and a record of anything else is acknowledged and ignored). The cascade
(:meth:`storage.dynamodb.retention.ThreadExpiry.expire_thread`) deletes the thread's
messages with their vectors, locators, the thread count, attachments and offloaded
objects, and is idempotent: Powertools batch processing reports each failed record
in ``batchItemFailures``, and the mapping retries from it (bisecting the batch), so a
record may run twice. Records that keep failing go to the on-failure destination.
Logs carry ids and counts, never content.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
)

from handlers._wiring import get_app
from handlers.observability import count, logger, metrics, tracer

# A batch whose every record failed is reported like any other (each record listed),
# so the mapping retries from the first and bisects, instead of failing the invocation.
processor = BatchProcessor(
    event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False
)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> dict[str, int] | None:
    """Cascade one expired thread; raising marks the record failed (it is retried)."""
    from storage.dynamodb.retention import expired_thread

    # The raw record: Powertools' image accessors deserialize, the cascade wants items.
    image = expired_thread(record.raw_event)
    if image is None:
        count("ExpiryRecordsIgnored")
        return None
    memory = get_app().storage.memory
    expire = getattr(memory, "expire_thread", None)
    if not callable(expire):
        raise TypeError(f"the memory domain ({type(memory).__name__}) has no TTL cascade")
    counts: dict[str, int] = expire(image)
    count("ThreadsExpired", counts.get("threads", 0))
    count("ExpiredMessagesDeleted", counts.get("messages", 0))
    return counts


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
