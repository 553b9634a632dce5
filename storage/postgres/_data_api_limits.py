"""Reads and writes past the Data API's size limits, for :class:`DataApiDriver`.

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
import re
import secrets
from typing import TYPE_CHECKING, Any

from storage.errors import ItemTooLargeError, StorageError
from storage.postgres._data_api_codec import (
    as_text,
    counted,
    decode_rows,
    replace_placeholders,
    text_size,
)
from storage.postgres._data_api_errors import is_response_too_large, is_row_too_large
from storage.postgres.driver import Json, Params, Row, Session, placeholder_names

if TYPE_CHECKING:
    from storage.postgres.data_api import DataApiDriver

MAX_REQUEST_BYTES = 4 * 1024 * 1024
MAX_RESPONSE_BYTES = 1024 * 1024
# Headroom for HTTP headers and the SigV4 signature, which count towards the 4 MiB.
REQUEST_HEADROOM = 16 * 1024
FIRST_PAGE_ROWS = 1000
# Bytes per chunk of an oversize row: 45,000 bytes are ~61 KB of base64, under 64 KB.
CHUNK_BYTES = 45_000
CHUNKS_PER_PAGE = 15  # 15 chunks of ~61 KB stay under the 1 MiB response limit
# Values over the request limit are uploaded in parts: 500,000 characters are at most
# 3 MB of escaped JSON. Values over 64 KB are the ones moved out of the statement.
STAGE_PART_CHARS = 500_000
STAGE_THRESHOLD = 64 * 1024

_READ = re.compile(r"^\s*(SELECT|WITH)\b", re.IGNORECASE)
# Data-modifying statements must not be re-run; SELECT ... FOR UPDATE may be.
_WRITE = re.compile(r"\b(INSERT|DELETE)\b|(?<!FOR )\bUPDATE\b", re.IGNORECASE)


def fetch(
    driver: DataApiDriver,
    sql: str,
    params: Params | None,
    transaction_id: str | None,
    *,
    chunking: bool = False,
    page_rows: int = FIRST_PAGE_ROWS,
) -> list[Row]:
    """The rows of one statement, re-run in pages or chunks when a limit is hit.

    Raises:
        ItemTooLargeError: a write's result is over a limit (a write is not re-run),
            or one row is too big even alone.
    """
    try:
        return counted(driver.stats, decode_rows(driver._statement(sql, params, transaction_id)))
    except StorageError as exc:
        cause = exc.__cause__
        row_too_large = cause is not None and is_row_too_large(cause)
        if cause is None or not (row_too_large or is_response_too_large(cause)):
            raise
        if not _READ.match(sql) or _WRITE.search(sql):
            raise ItemTooLargeError(
                "a write's result is over the Data API's response limits"
            ) from exc
    if row_too_large:
        if chunking:  # chunks are sized to fit: something else is wrong
            raise ItemTooLargeError("a chunk is over the Data API's 64 KB row limit")
        return _fetch_chunked(driver, sql, params, transaction_id)
    return _fetch_paged(driver, sql, params, transaction_id, page_rows)


def _fetch_chunked(
    driver: DataApiDriver, sql: str, params: Params | None, transaction_id: str | None
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
    pieces = fetch(
        driver,
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
    driver: DataApiDriver,
    sql: str,
    params: Params | None,
    transaction_id: str | None,
    first_page: int,
) -> list[Row]:
    # A read over 1 MiB: re-run it in pages. PostgreSQL keeps a subquery's ORDER BY
    # for a plain LIMIT/OFFSET over it, so the pages join up in the same order.
    paged = f"SELECT * FROM ({sql}) AS stowage_page LIMIT :stowage_limit OFFSET :stowage_offset"
    rows: list[Row] = []
    size = first_page
    while True:
        page_params = {**(params or {}), "stowage_limit": size, "stowage_offset": len(rows)}
        try:
            response = driver._statement(paged, page_params, transaction_id)
            page = counted(driver.stats, decode_rows(response))
        except StorageError as exc:
            if exc.__cause__ is not None and is_response_too_large(exc.__cause__):
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


def run_staged(
    driver: DataApiDriver, sql: str, params: Params | None, transaction_id: str | None
) -> dict[str, Any]:
    """Run a statement whose parameters are over the 4 MiB request limit.

    The big values are uploaded in parts to a temporary table of the transaction's
    session, and the statement reads each back with a subquery, so one logical
    write stays one transaction however big its values are.

    Raises:
        ItemTooLargeError: no single value is big enough to move out of the statement.
    """
    given = dict(params or {})
    big = {
        name: value
        for name, value in given.items()
        if name in placeholder_names(sql) and text_size(value) > STAGE_THRESHOLD
    }
    if not big:
        raise ItemTooLargeError("a Data API request is over the 4 MiB limit")
    if transaction_id is None:  # staging needs one session: a transaction gives it

        def body(session: Session) -> dict[str, Any]:
            tx = getattr(session, "transaction_id", None)
            assert isinstance(tx, str)
            return run_staged(driver, sql, params, tx)

        return driver.transaction(body)
    driver._statement(
        "CREATE TEMP TABLE IF NOT EXISTS stowage_upload (name text NOT NULL, "
        "seq integer NOT NULL, part text NOT NULL) ON COMMIT DROP",
        None,
        transaction_id,
    )
    tag = secrets.token_hex(6)
    replacements: dict[str, str] = {}
    for name, value in big.items():
        text = as_text(value)
        key = f"{tag}:{name}"
        for seq, start in enumerate(range(0, len(text), STAGE_PART_CHARS)):
            driver._statement(
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
    staged = replace_placeholders(sql, replacements)
    return driver._statement(staged, given, transaction_id)
