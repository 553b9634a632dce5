"""The scheduled prune: an EventBridge schedule runs ``store.prune()`` on the SQL domains.

Deployed when a domain with a retention age lives in PostgreSQL (DynamoDB expires by
TTL). Each run deletes expired records in bounded batches until it is done or its
time is nearly up (``time_budget``: the invocation's remaining time less a margin);
every batch commits on its own, so the next run carries on where this one stopped.
The receipt (counts per domain, no content) is logged and returned.
"""

from __future__ import annotations

from typing import Any

from handlers._wiring import get_app
from handlers.observability import count, logger, metrics, tracer

# Kept back from the invocation's remaining time: the batch running when the budget
# ends must still finish (and the receipt be logged) before Lambda's timeout.
MARGIN_S = 60.0


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Prune once; returns the receipt as JSON."""
    del event  # the schedule's payload carries nothing we need
    budget = max(1.0, context.get_remaining_time_in_millis() / 1000 - MARGIN_S)
    receipt = get_app().storage.prune(time_budget=budget)
    for domain, deleted in receipt.counts.items():
        count(f"Pruned{domain.capitalize()}", deleted)
    answer: dict[str, Any] = receipt.to_dict()
    logger.info("prune done", extra={"receipt": answer})
    return answer


__all__ = ["handler"]
