"""The Aurora Data API transport: the same SQL over boto3 ``rds-data``, no VPC needed.

* Parameters are sent by name with typed fields and results come back as JSON
  (:mod:`storage.postgres._data_api_codec`).
* Transactions are ``BeginTransaction`` / ``ExecuteStatement(transactionId=...)`` /
  ``CommitTransaction``, rolled back with ``RollbackTransaction`` on error.
* An auto-paused Aurora Serverless v2 cluster answers ``DatabaseResumingException``
  while it wakes (about 15 s, longer after a long pause): retried with a backoff
  bounded in attempts and, with ``resume_wait``, in seconds. A request path sets a
  short ``resume_wait`` (``?resume_wait=2`` in the URL): past it the call raises
  :class:`~storage.errors.UnavailableError` with a ``retry_after`` hint, so an API
  answers 503 + ``Retry-After`` at once instead of timing out while the cluster wakes.
  Other errors are translated in :mod:`storage.postgres._data_api_errors`.
* Responses are capped at 1 MiB and rows at 64 KB, requests at 4 MiB: reads are
  re-run in pages or chunks and big values staged in parts
  (:mod:`storage.postgres._data_api_limits`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from storage.errors import ItemTooLargeError, StorageError, UnavailableError
from storage.postgres import _data_api_limits as limits
from storage.postgres._data_api_codec import encode_parameters, encode_value, request_size
from storage.postgres._data_api_errors import RESUMING, translate
from storage.postgres._data_api_limits import (
    CHUNK_BYTES,
    CHUNKS_PER_PAGE,
    FIRST_PAGE_ROWS,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    REQUEST_HEADROOM,
    STAGE_PART_CHARS,
    STAGE_THRESHOLD,
)
from storage.postgres.driver import Driver, DriverStats, Params, Row, Session

__all__ = [
    "CHUNKS_PER_PAGE",
    "CHUNK_BYTES",
    "FIRST_PAGE_ROWS",
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BYTES",
    "REQUEST_HEADROOM",
    "RESUMING",
    "STAGE_PART_CHARS",
    "STAGE_THRESHOLD",
    "TYPICAL_RESUME_SECONDS",
    "DataApiDriver",
    "encode_parameters",
    "encode_value",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long an auto-paused Aurora Serverless v2 instance typically takes to resume (AWS's
# figure); the retry-after hint counts down from the first resuming answer seen.
TYPICAL_RESUME_SECONDS = 15.0


class DataApiDriver(Driver):
    """Runs statements through the RDS Data API.

    Args:
        resource_arn: the Aurora cluster ARN.
        secret_arn: the Secrets Manager secret holding the database credentials.
        database: the database name.
        client: an ``rds-data`` client (built from ``region``/``endpoint`` otherwise).
        region: AWS region (defaults to the cluster ARN's).
        endpoint: an endpoint URL override.
        resume_attempts: how many times to retry ``DatabaseResumingException``.
        resume_base_delay: first backoff delay in seconds (doubles, capped at 10 s).
        resume_wait: the longest one call sleeps for a resuming cluster (seconds);
            ``None`` bounds only the attempts (about 45 s). Past it the call raises
            :class:`~storage.errors.UnavailableError` with ``retry_after`` set.
        sleep: the sleep function (tests pass a fake).
        clock: a monotonic clock in seconds (tests pass a fake).
    """

    def __init__(
        self,
        resource_arn: str,
        secret_arn: str,
        database: str,
        *,
        client: Any = None,
        region: str | None = None,
        endpoint: str | None = None,
        resume_attempts: int = 8,
        resume_base_delay: float = 0.5,
        resume_wait: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resource_arn = resource_arn
        self.secret_arn = secret_arn
        self.database = database
        self._client = client
        self._region = region or _region_of(resource_arn)
        self._endpoint = endpoint
        self._resume_attempts = resume_attempts
        self._resume_base = resume_base_delay
        self._resume_wait = resume_wait
        self._sleep = sleep
        self._clock = clock
        # When this process first saw the cluster resuming (None: not resuming).
        self._resuming_since: float | None = None
        self.stats = DriverStats()
        self.max_statement_bytes = MAX_REQUEST_BYTES - REQUEST_HEADROOM - 64 * 1024

    @property
    def client(self) -> Any:
        """The boto3 ``rds-data`` client (built on first use)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "rds-data",
                region_name=self._region,
                endpoint_url=self._endpoint,
                # Resuming is retried here, with a longer backoff than botocore's.
                config=Config(retries={"mode": "standard", "max_attempts": 3}),
            )
        return self._client

    # --- calls ------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        request = {
            "resourceArn": self.resource_arn,
            "secretArn": self.secret_arn,
            **kwargs,
        }
        if operation in ("execute_statement", "begin_transaction"):
            request["database"] = self.database
        size = request_size(request)
        if size > MAX_REQUEST_BYTES - REQUEST_HEADROOM:
            raise ItemTooLargeError(
                f"a Data API request of {size} bytes is over the 4 MiB limit"
            )
        delay = self._resume_base
        slept = 0.0
        for attempt in range(self._resume_attempts + 1):
            try:
                self.stats.add(round_trips=1)
                response: dict[str, Any] = getattr(self.client, operation)(**request)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code != RESUMING:
                    raise translate(exc, code) from exc
                if self._resuming_since is None:
                    self._resuming_since = self._clock()
                within_wait = self._resume_wait is None or slept + delay <= self._resume_wait
                if attempt < self._resume_attempts and within_wait:
                    log.info("data-api: cluster resuming; retry %s in %.1fs", attempt + 1, delay)
                    self._sleep(delay)
                    slept += delay
                    delay = min(delay * 2, 10.0)
                    continue
                raise self._still_resuming(exc) from exc
            except BotoCoreError as exc:
                raise UnavailableError(f"the Data API cannot be reached: {exc}") from exc
            self._resuming_since = None
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _still_resuming(self, exc: Exception) -> UnavailableError:
        """The error for a cluster still resuming, with how long until it likely is up."""
        since = self._resuming_since if self._resuming_since is not None else self._clock()
        remaining = TYPICAL_RESUME_SECONDS - (self._clock() - since)
        retry_after = float(max(1, math.ceil(remaining)))
        log.warning("data-api: cluster still resuming; retry_after=%ss", retry_after)
        return UnavailableError(
            f"the database is resuming from auto-pause ({RESUMING}): {exc}",
            retry_after=retry_after,
        )

    def _statement(
        self, sql: str, params: Params | None, transaction_id: str | None
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"sql": sql, "formatRecordsAs": "JSON"}
        parameters = encode_parameters(sql, params)
        if parameters:
            kwargs["parameters"] = parameters
        if transaction_id:
            kwargs["transactionId"] = transaction_id
        size = request_size(
            {**kwargs, "resourceArn": self.resource_arn, "secretArn": self.secret_arn}
        )
        if size > MAX_REQUEST_BYTES - REQUEST_HEADROOM:
            return limits.run_staged(self, sql, params, transaction_id)
        self.stats.add(statements=1)
        return self._call("execute_statement", **kwargs)

    def _fetch(self, sql: str, params: Params | None, transaction_id: str | None) -> list[Row]:
        return limits.fetch(self, sql, params, transaction_id)

    # --- the Driver interface ---------------------------------------------------------

    def fetch(self, sql: str, params: Params | None = None) -> list[Row]:
        """One auto-committed statement (one ``ExecuteStatement`` unless it needs paging)."""
        return self._fetch(sql, params, None)

    def execute(self, sql: str, params: Params | None = None) -> int:
        """One auto-committed statement; the number of rows it changed."""
        return int(self._statement(sql, params, None).get("numberOfRecordsUpdated", 0))

    def transaction(self, fn: Callable[[Session], T]) -> T:
        """Begin, run ``fn``, commit; roll back if ``fn`` or a statement fails."""
        begun = self._call("begin_transaction")
        transaction_id = begun["transactionId"]
        self.stats.add(transactions=1)
        try:
            result = fn(_DataApiSession(self, transaction_id))
        except BaseException:
            try:
                self._call("rollback_transaction", transactionId=transaction_id)
            except StorageError as exc:  # the transaction times out server-side anyway
                log.warning("data-api: rollback of %s failed: %s", transaction_id, exc)
            raise
        try:
            self._call("commit_transaction", transactionId=transaction_id)
        except UnavailableError as exc:
            raise UnavailableError(
                f"commit of a Data API transaction failed; its outcome is unknown: {exc}",
                retry_after=exc.retry_after,
            ) from exc
        return result

    def close(self) -> None:
        """Nothing to release: the Data API holds no connection of ours."""


class _DataApiSession(Session):
    def __init__(self, driver: DataApiDriver, transaction_id: str) -> None:
        self._driver = driver
        self._tx = transaction_id

    @property
    def transaction_id(self) -> str:
        """The Data API transaction this session runs in."""
        return self._tx

    def fetch(self, sql: str, params: Params | None = None) -> list[Row]:
        return self._driver._fetch(sql, params, self._tx)

    def execute(self, sql: str, params: Params | None = None) -> int:
        response = self._driver._statement(sql, params, self._tx)
        return int(response.get("numberOfRecordsUpdated", 0))


def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None
