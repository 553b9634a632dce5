"""The worker bounds each job: a hung model call fails that record alone, in time."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest

from handlers import worker
from handlers.events import LocalContext


class ShortContext(LocalContext):
    """A Lambda context whose invocation ends ``seconds`` after it was made."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self._ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


def _event(*kinds: str) -> dict[str, Any]:
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": "h", "eventSource": "aws:sqs",
        "body": json.dumps({"kind": kind, "agent": "assistant", "thread": f"t-{n}",
                            "resource": "u-1"}),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1",
                       "SenderId": "x", "ApproximateFirstReceiveTimestamp": "1"},
        "messageAttributes": {}, "md5OfBody": "",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:jobs", "awsRegion": "us-east-1",
    } for n, kind in enumerate(kinds)]}


def test_a_hung_job_fails_alone_and_the_batch_ends_before_the_function_would(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    done: list[str] = []

    def run_job(_app: Any, payload: dict[str, Any]) -> str:
        if payload["kind"] == "hang":
            release.wait(30)  # a Bedrock call that does not come back
        done.append(payload["thread"])
        return "ok"

    monkeypatch.setattr("agents.jobs.run_job", run_job)
    monkeypatch.setattr(worker, "REPORT_MARGIN_S", 0.5)
    event = _event("title", "hang", "title", "title")
    started = time.monotonic()

    result = worker.handler(event, ShortContext(seconds=4.0))

    elapsed = time.monotonic() - started
    release.set()
    failed = [f["itemIdentifier"] for f in result["batchItemFailures"]]
    assert failed == [event["Records"][1]["messageId"]]  # only the hung one returns to SQS
    assert sorted(done) == ["t-0", "t-2", "t-3"]
    assert elapsed < 4.0  # reported before the invocation's end


def test_budgets_share_the_remaining_time_and_pass_unused_time_on() -> None:
    remaining = [10_000]
    deadlines = worker.JobDeadlines(lambda: remaining[0], jobs=4, margin=2.0)

    first = deadlines.next_budget()
    remaining[0] = 9_000  # the first job took one second of its two
    second = deadlines.next_budget()

    assert first == pytest.approx(2.0)  # (10 - 2) / 4
    assert second == pytest.approx(7.0 / 3)  # (9 - 2) / 3: the saved second is shared


def test_a_job_error_is_raised_in_the_caller() -> None:
    def boom() -> None:
        raise ValueError("bad payload")

    with pytest.raises(ValueError, match="bad payload"):
        worker.run_within(boom, 5.0)
    assert worker.run_within(lambda: 42, None) == 42
