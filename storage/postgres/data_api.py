"""The Aurora Data API transport: the same SQL over boto3 ``rds-data``, no VPC needed.

* Parameters are sent by name with typed fields (``stringValue``, ``longValue``,
  ``doubleValue``, ``booleanValue``, ``isNull``; JSON with ``typeHint: JSON``).
* Results come back as ``formatRecordsAs="JSON"`` (one JSON string of row objects).
* Transactions are ``BeginTransaction`` / ``ExecuteStatement(transactionId=...)`` /
  ``CommitTransaction``, rolled back with ``RollbackTransaction`` on error.
* An auto-paused Aurora Serverless v2 cluster answers ``DatabaseResumingException``
  while it wakes (about 15 s, longer after a long pause): retried with a backoff
  bounded in attempts and, with ``resume_wait``, in seconds. A request path sets a
  short ``resume_wait`` (``?resume_wait=2`` in the URL): past it the call raises
  :class:`~storage.errors.UnavailableError` with a ``retry_after`` hint, so an API
  answers 503 + ``Retry-After`` at once instead of timing out while the cluster wakes.
* Responses are capped at 1 MiB: a read that overflows is re-run in pages
  (``LIMIT``/``OFFSET`` around it), halving the page until it fits. Result rows are
  capped at 64 KB: an oversize row is fetched as base64 chunks and reassembled.
* Requests are capped at 4 MiB: values over it are uploaded in parts to a temporary
  table within the write's transaction and read back by the statement; a statement
  too big for any other reason is refused (``ItemTooLargeError``) before it is sent.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from storage.errors import ItemTooLargeError, StorageError, UnavailableError, ValidationError
from storage.postgres._errors import error_for_sqlstate
from storage.postgres.driver import (
    Driver,
    DriverStats,
    Json,
    Params,
    Row,
    Session,
    placeholder_names,
    scan_placeholders,
)
from storage.timeutil import to_iso

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_REQUEST_BYTES = 4 * 1024 * 1024
MAX_RESPONSE_BYTES = 1024 * 1024
# Headroom for HTTP headers and the SigV4 signature, which count towards the 4 MiB.
REQUEST_HEADROOM = 16 * 1024
FIRST_PAGE_ROWS = 1000

_UNAVAILABLE = frozenset(
    {
        "DatabaseResumingException",
        "DatabaseUnavailableException",
        "StatementTimeoutException",
        "ServiceUnavailableError",
        "InternalServerErrorException",
        "HttpEndpointNotEnabledException",
        "TransactionNotFoundException",
        "ThrottlingException",
        "InvalidResourceStateException",
        "DatabaseNotFoundException",
    }
)
_SQLSTATE = re.compile(r"SQLState:\s*([0-9A-Z]{5})")
_READ = re.compile(r"^\s*(SELECT|WITH)\b", re.IGNORECASE)
# Data-modifying statements must not be re-run; SELECT ... FOR UPDATE may be.
_WRITE = re.compile(r"\b(INSERT|DELETE)\b|(?<!FOR )\bUPDATE\b", re.IGNORECASE)
# Bytes per chunk of an oversize row: 45,000 bytes are ~61 KB of base64, under 64 KB.
CHUNK_BYTES = 45_000
CHUNKS_PER_PAGE = 15  # 15 chunks of ~61 KB stay under the 1 MiB response limit
# Values over the request limit are uploaded in parts: 500,000 characters are at most
# 3 MB of escaped JSON. Values over 64 KB are the ones moved out of the statement.
STAGE_PART_CHARS = 500_000
STAGE_THRESHOLD = 64 * 1024
# How long an auto-paused Aurora Serverless v2 instance typically takes to resume (AWS's
# figure); the retry-after hint counts down from the first resuming answer seen.
TYPICAL_RESUME_SECONDS = 15.0
RESUMING = "DatabaseResumingException"


def encode_value(value: Any) -> dict[str, Any]:
    """One Python value as a Data API ``Field`` (plus ``typeHint`` where needed)."""
    if value is None:
        return {"value": {"isNull": True}}
    if isinstance(value, Json):
        text = json.dumps(value.value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return {"value": {"stringValue": text}, "typeHint": "JSON"}
    if isinstance(value, bool):
        return {"value": {"booleanValue": value}}
    if isinstance(value, int):
        return {"value": {"longValue": value}}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError("a non-finite number cannot be sent to the Data API")
        return {"value": {"doubleValue": value}}
    if isinstance(value, str):
        return {"value": {"stringValue": value}}
    if isinstance(value, datetime):
        # Not typeHint TIMESTAMP: that format has no zone. ISO text with "Z" + a SQL cast.
        return {"value": {"stringValue": to_iso(value)}}
    if isinstance(value, bytes | bytearray):
        return {"value": {"blobValue": bytes(value)}}
    raise ValidationError(f"cannot send a {type(value).__name__} to the Data API")


def encode_parameters(sql: str, params: Params | None) -> list[dict[str, Any]]:
    """The ``parameters`` list for the placeholders ``sql`` uses.

    Raises:
        StorageError: a placeholder has no value (a bug in the calling code).
    """
    names = list(dict.fromkeys(name for _, _, name in scan_placeholders(sql)))
    given = params or {}
    out = []
    for name in names:
        if name not in given:
            raise StorageError(f"SQL parameter :{name} has no value")
        out.append({"name": name, **encode_value(given[name])})
    return out


def _request_size(request: Mapping[str, Any]) -> int:
    def default(obj: Any) -> str:
        return "x" * (len(obj) * 4 // 3 + 4) if isinstance(obj, bytes) else str(obj)

    return len(json.dumps(request, default=default).encode("utf-8"))


def _is_response_too_large(exc: BaseException) -> bool:
    message = str(exc).lower()
    return "response size" in message or "response exceeded" in message


def _is_row_too_large(exc: BaseException) -> bool:
    return "packet for query is too large" in str(exc).lower()


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
        size = _request_size(request)
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
                    raise _translate(exc, code) from exc
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
        size = _request_size(
            {**kwargs, "resourceArn": self.resource_arn, "secretArn": self.secret_arn}
        )
        if size > MAX_REQUEST_BYTES - REQUEST_HEADROOM:
            return self._statement_staged(sql, params, transaction_id)
        self.stats.add(statements=1)
        return self._call("execute_statement", **kwargs)

    def _statement_staged(
        self, sql: str, params: Params | None, transaction_id: str | None
    ) -> dict[str, Any]:
        """Run a statement whose parameters are over the 4 MiB request limit.

        The big values are uploaded in parts to a temporary table of the transaction's
        session, and the statement reads each back with a subquery, so one logical
        write stays one transaction however big its values are.
        """
        given = dict(params or {})
        big = {
            name: value
            for name, value in given.items()
            if name in placeholder_names(sql) and _text_size(value) > STAGE_THRESHOLD
        }
        if not big:
            raise ItemTooLargeError("a Data API request is over the 4 MiB limit")
        if transaction_id is None:  # staging needs one session: a transaction gives it

            def body(session: Session) -> dict[str, Any]:
                assert isinstance(session, _DataApiSession)
                return self._statement_staged(sql, params, session.transaction_id)

            return self.transaction(body)
        self._statement(
            "CREATE TEMP TABLE IF NOT EXISTS stowage_upload (name text NOT NULL, "
            "seq integer NOT NULL, part text NOT NULL) ON COMMIT DROP",
            None,
            transaction_id,
        )
        tag = secrets.token_hex(6)
        replacements: dict[str, str] = {}
        for name, value in big.items():
            text = _as_text(value)
            key = f"{tag}:{name}"
            for seq, start in enumerate(range(0, len(text), STAGE_PART_CHARS)):
                self._statement(
                    "INSERT INTO stowage_upload (name, seq, part) VALUES (:name, :seq, :part)",
                    {"name": key, "seq": seq, "part": text[start : start + STAGE_PART_CHARS]},
                    transaction_id,
                )
            expr = (
                "(SELECT string_agg(part, '' ORDER BY seq) FROM stowage_upload "
                f"WHERE name = '{key}')"
            )
            replacements[name] = f"CAST({expr} AS jsonb)" if isinstance(value, Json) else expr
            del given[name]
        staged = _replace_placeholders(sql, replacements)
        return self._statement(staged, given, transaction_id)

    def _fetch(
        self,
        sql: str,
        params: Params | None,
        transaction_id: str | None,
        *,
        chunking: bool = False,
        page_rows: int = FIRST_PAGE_ROWS,
    ) -> list[Row]:
        try:
            return _counted(self.stats, _rows(self._statement(sql, params, transaction_id)))
        except StorageError as exc:
            cause = exc.__cause__
            row_too_large = cause is not None and _is_row_too_large(cause)
            if cause is None or not (row_too_large or _is_response_too_large(cause)):
                raise
            if not _READ.match(sql) or _WRITE.search(sql):
                raise ItemTooLargeError(
                    "a write's result is over the Data API's response limits"
                ) from exc
        if row_too_large:
            if chunking:  # chunks are sized to fit: something else is wrong
                raise ItemTooLargeError("a chunk is over the Data API's 64 KB row limit")
            return self._fetch_chunked(sql, params, transaction_id)
        return self._fetch_paged(sql, params, transaction_id, page_rows)

    def _fetch_chunked(
        self, sql: str, params: Params | None, transaction_id: str | None
    ) -> list[Row]:
        # A row over the Data API's 64 KB row limit: fetch each row as UTF-8 JSON cut into
        # base64 chunks (one result row per chunk; bytea slicing is O(1), text slicing
        # is not), then glue them back together here.
        chunked = (
            f"WITH stowage_q AS ({sql}), stowage_r AS (SELECT row_number() OVER () AS rn, "
            "convert_to(to_jsonb(stowage_q)::text, 'UTF8') AS b FROM stowage_q) "
            "SELECT rn, part, encode(substring(b FROM (part - 1) * :stowage_chunk + 1 "
            "FOR :stowage_chunk), 'base64') AS chunk FROM stowage_r, generate_series(1, "
            "GREATEST(1, ceil(length(b)::numeric / :stowage_chunk)::int)) AS part "
            "ORDER BY rn, part"
        )
        pieces = self._fetch(
            chunked,
            {**(params or {}), "stowage_chunk": CHUNK_BYTES},
            transaction_id,
            chunking=True,
            page_rows=CHUNKS_PER_PAGE,
        )
        rows: dict[int, list[bytes]] = {}
        for piece in pieces:
            rows.setdefault(int(piece["rn"]), []).append(base64.b64decode(piece["chunk"] or ""))
        return [json.loads(b"".join(rows[rn]).decode("utf-8")) for rn in sorted(rows)]

    def _fetch_paged(
        self, sql: str, params: Params | None, transaction_id: str | None, first_page: int
    ) -> list[Row]:
        # A read over 1 MiB: re-run it in pages. PostgreSQL keeps a subquery's ORDER BY
        # for a plain LIMIT/OFFSET over it, so the pages join up in the same order.
        paged = f"SELECT * FROM ({sql}) AS stowage_page LIMIT :stowage_limit OFFSET :stowage_offset"
        rows: list[Row] = []
        size = first_page
        while True:
            page_params = {**(params or {}), "stowage_limit": size, "stowage_offset": len(rows)}
            try:
                response = self._statement(paged, page_params, transaction_id)
                page = _counted(self.stats, _rows(response))
            except StorageError as exc:
                if exc.__cause__ is not None and _is_response_too_large(exc.__cause__):
                    if size == 1:
                        raise ItemTooLargeError(
                            "one row is over the Data API's 1 MiB response limit"
                        ) from exc
                    size = max(1, size // 2)
                    continue
                raise
            rows.extend(page)
            if len(page) < size:
                return rows

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


def _text_size(value: Any) -> int:
    if isinstance(value, Json):
        return len(_as_text(value))
    return len(value) if isinstance(value, str) else 0


def _as_text(value: Any) -> str:
    if isinstance(value, Json):
        return json.dumps(value.value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return str(value)


def _replace_placeholders(sql: str, replacements: Mapping[str, str]) -> str:
    out: list[str] = []
    last = 0
    for start, end, name in scan_placeholders(sql):
        if name in replacements:
            out.append(sql[last:start])
            out.append(replacements[name])
            last = end
    out.append(sql[last:])
    return "".join(out)


def _rows(response: Mapping[str, Any]) -> list[Row]:
    formatted = response.get("formattedRecords")
    if not formatted:
        return []
    decoded = json.loads(formatted)
    return decoded if isinstance(decoded, list) else []


def _counted(stats: DriverStats, rows: list[Row]) -> list[Row]:
    stats.add(rows=len(rows))
    return rows


def _translate(exc: Exception, code: str) -> StorageError:
    message = str(exc)
    if code in _UNAVAILABLE:
        return UnavailableError(f"the Data API is unavailable ({code}): {message}")
    if _is_response_too_large(exc):
        return ItemTooLargeError(f"over the Data API's 1 MiB response limit: {message}")
    match = _SQLSTATE.search(message)
    if match and match.group(1) == "3D000":  # invalid_catalog_name
        return StorageError(f"PostgreSQL database does not exist (create it first): {message}")
    if match:
        return error_for_sqlstate(match.group(1))(f"PostgreSQL error {match.group(1)}: {message}")
    if "duplicate key" in message:
        return error_for_sqlstate("23505")(message)
    return StorageError(f"Data API error ({code}): {message}")


def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None
