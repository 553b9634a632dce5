"""A fake RDS Data API that runs the statements on a real PostgreSQL server.

moto runs no SQL for ``rds-data``, so this fake sits behind a *real* boto3 client:
a ``before-send`` hook receives the signed HTTP request botocore built (so the
request was validated against the service model and serialised as rest-json, just
as it would be for AWS), executes it on PostgreSQL, and answers with the HTTP
response the service would send, which botocore parses (errors included, into the
client's modelled exceptions).

What it reproduces: named ``:param`` placeholders with typed ``Field`` values and
``typeHint`` (JSON, TIMESTAMP, DATE, TIME, DECIMAL, UUID), ``formatRecordsAs="JSON"``
results in ``formattedRecords``, ``numberOfRecordsUpdated``, transactions by
``transactionId``, the 1 MiB response limit and the 64 KB row limit,
SQL errors as ``DatabaseErrorException`` with the SQLSTATE in the message, and an
auto-paused cluster answering ``DatabaseResumingException`` a given number of times.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import psycopg
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from psycopg.types.json import Jsonb

CLUSTER_ARN = "arn:aws:rds:us-east-1:123456789012:cluster:stowage-test"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stowage-test-AbCdEf"
MAX_RESPONSE_BYTES = 1024 * 1024
MAX_ROW_BYTES = 64 * 1024

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$")
# A placeholder: ':' + identifier, not part of a '::' cast. Literals are cut out first.
_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_LITERAL = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$\$.*?\$\$)", re.DOTALL)


class _Raw(io.BytesIO):
    """What ``AWSResponse`` reads the body from (urllib3's ``stream()``)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        data = self.read()
        while data:
            yield data
            data = self.read()


class ServiceError(Exception):
    """An error the fake answers with (code, HTTP status, message)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


class FakeDataApi:
    """The service side. ``client()`` returns a real boto3 client wired to it.

    Args:
        dsn: the PostgreSQL server and database the statements run on.
        max_response_bytes: the response limit (1 MiB, like the service).
        max_row_bytes: the per-row limit (64 KB on the service); ``None`` disables it.
        cluster_arn: the cluster ARN requests must name (a deployed stack's, say).
        secret_arn: the secret ARN requests must name.
    """

    def __init__(
        self,
        dsn: str,
        *,
        database: str = "stowage",
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_row_bytes: int | None = MAX_ROW_BYTES,
        cluster_arn: str = CLUSTER_ARN,
        secret_arn: str = SECRET_ARN,
    ) -> None:
        self.dsn = dsn
        self.cluster_arn = cluster_arn
        self.secret_arn = secret_arn
        self.database = database
        self.max_response_bytes = max_response_bytes
        self.max_row_bytes = max_row_bytes
        self.resuming = 0  # answer DatabaseResumingException this many more times
        self.calls: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._auto: psycopg.Connection[Any] | None = None
        self._transactions: dict[str, psycopg.Connection[Any]] = {}

    # --- client -----------------------------------------------------------------------

    def client(self) -> Any:
        """A real ``rds-data`` client whose HTTP requests this fake answers."""
        client = boto3.client(
            "rds-data",
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )
        client.meta.events.register(
            "before-send.rds-data.*", self._on_send  # type: ignore[arg-type]
        )
        return client

    def _on_send(self, request: Any, **_: Any) -> AWSResponse:
        operation = urlsplit(request.url).path.rsplit("/", 1)[-1]
        body = json.loads(request.body or b"{}")
        self.calls.append(operation)
        self.requests.append(body)
        try:
            payload = self._dispatch(operation, body)
            status, headers = 200, {"Content-Type": "application/json"}
        except ServiceError as exc:
            payload = {"message": exc.message}
            status = exc.status
            headers = {"Content-Type": "application/json", "x-amzn-ErrorType": exc.code}
        raw = _Raw(json.dumps(payload).encode("utf-8"))
        return AWSResponse(request.url, status, headers, raw)  # type: ignore[arg-type]

    # --- service ----------------------------------------------------------------------

    def _dispatch(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("resourceArn") != self.cluster_arn:
            raise ServiceError("BadRequestException", "Invalid cluster arn")
        if body.get("secretArn") != self.secret_arn:
            raise ServiceError("BadRequestException", "Invalid secret arn")
        with self._lock:
            if self.resuming > 0:
                self.resuming -= 1
                raise ServiceError(
                    "DatabaseResumingException",
                    f"The Aurora DB instance {self.cluster_arn.rsplit(':', 1)[-1]} is resuming "
                    "after being auto-paused. Please wait a few seconds and try again.",
                )
        if operation == "Execute":
            return self._execute(body)
        if operation == "BeginTransaction":
            return self._begin(body)
        if operation == "CommitTransaction":
            return self._end(body, commit=True)
        if operation == "RollbackTransaction":
            return self._end(body, commit=False)
        raise ServiceError("BadRequestException", f"operation {operation} is not faked")

    def _connection(self, transaction_id: str | None) -> psycopg.Connection[Any]:
        if transaction_id is not None:
            conn = self._transactions.get(transaction_id)
            if conn is None:
                raise ServiceError(
                    "TransactionNotFoundException", f"Transaction {transaction_id} is not found"
                )
            return conn
        if self._auto is None or self._auto.closed:
            self._auto = psycopg.connect(self.dsn, autocommit=True)
        return self._auto

    def _begin(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("database") not in (None, self.database):
            raise _unknown_database(body["database"])
        transaction_id = secrets.token_urlsafe(96)
        self._transactions[transaction_id] = psycopg.connect(self.dsn, autocommit=False)
        return {"transactionId": transaction_id}

    def _end(self, body: dict[str, Any], *, commit: bool) -> dict[str, Any]:
        conn = self._transactions.pop(body["transactionId"], None)
        if conn is None:
            raise ServiceError("NotFoundException", "Transaction is not found")
        try:
            if commit:
                conn.commit()
            else:
                conn.rollback()
        except psycopg.Error as exc:
            raise _database_error(exc) from exc
        finally:
            conn.close()
        return {"transactionStatus": "Transaction Committed" if commit else "Rollback Complete"}

    def _execute(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("database") not in (None, self.database):
            raise _unknown_database(body["database"])
        if body.get("formatRecordsAs", "NONE") == "JSON" and body.get("includeResultMetadata"):
            raise ServiceError(
                "BadRequestException",
                "The includeResultMetadata parameter isn't supported when formatRecordsAs is JSON",
            )
        sql, values = _bind(body["sql"], body.get("parameters", []))
        conn = self._connection(body.get("transactionId"))
        try:
            with conn.cursor() as cur:
                cur.execute(sql, values)
                rowcount = cur.rowcount if cur.rowcount >= 0 else 0
                rows = cur.fetchall() if cur.description else None
                names = [d.name for d in cur.description] if cur.description else []
        except psycopg.Error as exc:
            raise _database_error(exc) from exc
        response: dict[str, Any] = {"numberOfRecordsUpdated": 0 if rows is not None else rowcount}
        if rows is not None:
            records = [dict(zip(names, (_json_value(v) for v in row), strict=True)) for row in rows]
            if self.max_row_bytes is not None:
                for record in records:
                    size = len(json.dumps(record, ensure_ascii=False).encode("utf-8"))
                    if size > self.max_row_bytes:
                        raise ServiceError("BadRequestException", "Packet for query is too large")
            if body.get("formatRecordsAs") == "JSON":
                formatted = json.dumps(records, ensure_ascii=False)
                if len(formatted.encode("utf-8")) > self.max_response_bytes:
                    raise ServiceError(
                        "BadRequestException",
                        "Database returned more than the allowed response size limit",
                    )
                response["formattedRecords"] = formatted
            else:
                response["records"] = [[_field(v) for v in r.values()] for r in records]
        return response

    def close(self) -> None:
        """Close every connection the fake opened."""
        for conn in self._transactions.values():
            conn.close()
        self._transactions.clear()
        if self._auto is not None:
            self._auto.close()


def _bind(sql: str, parameters: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """Rewrite ``:name`` for psycopg and decode the typed values."""
    values = {p["name"]: _decode(p) for p in parameters}
    pieces = _LITERAL.split(sql)
    out = []
    for i, piece in enumerate(pieces):
        if i % 2 == 1:  # a literal, kept as is
            out.append(piece.replace("%", "%%"))
            continue

        def placeholder(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise ServiceError(
                    "BadRequestException", f"No value specified for parameter {name}"
                )
            return f"%({name})s"

        out.append(_PLACEHOLDER.sub(placeholder, piece.replace("%", "%%")))
    return "".join(out), values


def _decode(param: dict[str, Any]) -> Any:
    value = param.get("value", {})
    if len(value) != 1:
        raise ServiceError("BadRequestException", "Exactly one field of a value must be set")
    kind, raw = next(iter(value.items()))
    hint = param.get("typeHint")
    if kind == "isNull":
        return None
    if kind == "arrayValue":
        raise ServiceError("BadRequestException", "Array parameters are not supported")
    if kind == "blobValue":
        import base64

        return base64.b64decode(raw)
    if kind != "stringValue":
        if hint is not None:
            raise ServiceError("BadRequestException", f"typeHint {hint} needs a stringValue")
        return raw
    if hint is None:
        return raw
    try:
        if hint == "JSON":
            return Jsonb(json.loads(raw))
        if hint == "TIMESTAMP":
            if not _TIMESTAMP.match(raw):
                raise ValueError(raw)
            return dt.datetime.fromisoformat(raw)
        if hint == "DATE":
            return dt.date.fromisoformat(raw)
        if hint == "TIME":
            return dt.time.fromisoformat(raw)
        if hint == "DECIMAL":
            return decimal.Decimal(raw)
        if hint == "UUID":
            return uuid.UUID(raw)
    except ValueError as exc:
        raise ServiceError("BadRequestException", f"Invalid {hint} value: {raw}") from exc
    raise ServiceError("BadRequestException", f"Unknown typeHint {hint}")


def _json_value(value: Any) -> Any:
    """A column value as the service renders it in JSON records."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, dict | list):
        return json.dumps(value)  # json/jsonb columns come back as JSON text
    return str(value)


def _field(value: Any) -> dict[str, Any]:
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _unknown_database(name: str) -> ServiceError:
    # What Aurora answers when the database named in the request does not exist.
    return ServiceError("DatabaseErrorException",
                        f'ERROR: database "{name}" does not exist; SQLState: 3D000')


def _database_error(exc: psycopg.Error) -> ServiceError:
    primary = exc.diag.message_primary or str(exc)
    return ServiceError("DatabaseErrorException", f"ERROR: {primary}; SQLState: {exc.sqlstate}")
