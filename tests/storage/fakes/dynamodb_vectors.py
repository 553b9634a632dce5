"""DynamoDB vector indexes for moto, which has none: ``VectorIndexes`` and ``SearchVectors``.

moto refuses a ``CreateTable`` whose ``AttributeDefinitions`` name attributes no key
schema uses (a vector index's search schema does), knows no ``VectorIndexes`` and no
``SearchVectors``. Installed into botocore's built-in handlers (as moto installs its
own), so every client made afterwards, pynamodb's included, goes through it:

* ``CreateTable``: the request is validated against the real service model, its
  ``VectorIndexes`` (and the attribute definitions only they use) are recorded here
  and taken out of what moto sees. ``DescribeTable`` answers them back (``ACTIVE``).
* ``SearchVectors`` never reaches moto: a ``before-send`` hook answers with the HTTP
  response the service sends, which botocore parses (errors into the client's
  modelled exceptions). It runs an exact k-NN over moto's items of the table, indexed
  the way the service indexes them: items holding the vector attribute as a list of
  exactly ``Dimensions`` numbers and the search schema's ``HASH`` attribute.

Shapes and errors follow the API reference and the troubleshooting guide:
``TopK`` 1-100, ``SearchConditionExpression`` required when the schema has a ``HASH``
key, ``=`` as the only comparator (``AND`` between terms), only search-schema
attributes, the vector's length equal to the index's ``Dimensions``;
``ResourceNotFoundException`` for an unknown table or index. While an index is not
ready (:func:`index_state`) a search is refused as the troubleshooting guide says:
``ValidationException: Cannot search backfilling vector index: <name>`` while it
backfills, ``ValidationException: The table does not have the specified index: <name>``
while it is ``CREATING`` (or just after, the search endpoint lagging).
:func:`failing_searches` makes searches fail with the modelled errors
(``ThrottlingException``, ``RequestLimitExceeded``, ``InternalServerError`` with
HTTP 500, ``ProvisionedThroughputExceededException``), which botocore retries as it
retries the service's. ``COSINE`` scores are
``1 - cos`` (0 identical .. 2 opposite), smallest first; ``EUCLIDEAN`` the distance,
smallest first; ``DOT_PRODUCT`` the product, largest first. Results are not paged.
Unlike the service, the fake's index is updated synchronously with each write.
"""

from __future__ import annotations

import io
import json
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.handlers import BUILTIN_HANDLERS
from botocore.validate import ParamValidator

ACCOUNT = "123456789012"  # moto's default account
MAX_TOP_K = 100

_lock = threading.Lock()
_indexes: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (region, table) -> VectorIndexes
_faults: dict[tuple[str, str], list[Any]] = {}  # (region, table) -> [code, message, left, failed]
_TERM = re.compile(r"^\s*(#?[A-Za-z_][\w]*)\s*(=|<>|<=|>=|<|>)\s*(:[\w]+)\s*$")


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        data = self.read()
        while data:
            yield data
            data = self.read()


class _ServiceError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _region(context: Any, request: Any = None) -> str:
    region = getattr(context, "region_name", None)
    if region:
        return str(region)
    match = re.search(r"\.([a-z]{2}-[a-z]+-\d)\.", getattr(request, "url", "") or "")
    return match.group(1) if match else "us-east-1"


# --- CreateTable / DescribeTable / DeleteTable ---------------------------------------


def _on_create_table(params: dict[str, Any], model: Any, context: Any, **_: Any) -> None:
    vector_indexes = params.get("VectorIndexes")
    if not vector_indexes:
        return
    # Validate what the caller sent against the real service model first.
    report = ParamValidator().validate(params, model.input_shape)
    if report.has_errors():
        from botocore.exceptions import ParamValidationError

        raise ParamValidationError(report=report.generate_report())
    keys = {k["AttributeName"] for k in params.get("KeySchema", [])}
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        for index in params.get(kind, []):
            keys |= {k["AttributeName"] for k in index["KeySchema"]}
    defined = {a["AttributeName"]: a["AttributeType"] for a in params["AttributeDefinitions"]}
    for index in vector_indexes:
        if not 1 <= index["Dimensions"] <= 4096:
            raise _client_error(model, "ValidationException", "Dimensions must be 1-4096")
        for element in index.get("SearchSchema", []):
            if element["AttributeName"] not in defined:
                raise _client_error(
                    model, "ValidationException",
                    "One element in SearchSchema is not defined in attribute definitions",
                )
    params["AttributeDefinitions"] = [
        a for a in params["AttributeDefinitions"] if a["AttributeName"] in keys
    ]
    del params["VectorIndexes"]
    with _lock:
        _indexes[(_region(context), params["TableName"])] = [
            {**index, "IndexStatus": "ACTIVE", "Backfilling": False} for index in vector_indexes
        ]


def _client_error(model: Any, code: str, message: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}}, model.name)


def _on_describe_table(parsed: dict[str, Any], context: Any, **_: Any) -> None:
    table = parsed.get("Table")
    if not table:
        return
    with _lock:
        indexes = _indexes.get((_region(context), table.get("TableName", "")))
    if indexes:
        table["VectorIndexes"] = [
            {k: v for k, v in i.items() if k != "SearchLag"} for i in indexes
        ]


def _on_delete_table(params: dict[str, Any], context: Any, **_: Any) -> None:
    with _lock:
        _indexes.pop((_region(context), params.get("TableName", "")), None)


# --- SearchVectors -------------------------------------------------------------------


def _on_search(request: Any, context: Any = None, **_: Any) -> AWSResponse:
    try:
        body = json.loads(request.body or b"{}")
        payload = _search(_region(context, request), body)
        status, headers = 200, {"Content-Type": "application/x-amz-json-1.0"}
    except _ServiceError as exc:
        payload = {"__type": f"com.amazonaws.dynamodb.v20120810#{exc.code}",
                   "message": exc.message}
        status = 500 if exc.code == "InternalServerError" else 400
        headers = {"Content-Type": "application/x-amz-json-1.0",
                                "x-amzn-ErrorType": exc.code}
    return AWSResponse(request.url, status, headers, _Raw(json.dumps(payload).encode()))  # type: ignore[arg-type]


def _search(region: str, body: dict[str, Any]) -> dict[str, Any]:
    table_name = str(body.get("TableName", "")).rsplit("/", 1)[-1]
    _injected(region, table_name)
    table = _table(region, table_name)
    with _lock:
        indexes = _indexes.get((region, table_name), [])
    index = next((i for i in indexes if i["IndexName"] == body.get("IndexName")), None)
    if index is None:
        raise _ServiceError("ResourceNotFoundException", "Requested resource not found")
    if index.get("Backfilling"):
        raise _ServiceError(
            "ValidationException", f"Cannot search backfilling vector index: {index['IndexName']}"
        )
    if index.get("IndexStatus") != "ACTIVE" or index.get("SearchLag"):
        raise _ServiceError(
            "ValidationException",
            f"The table does not have the specified index: {index['IndexName']}",
        )
    top_k = body.get("TopK")
    if not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise _ServiceError("ValidationException", "Provided TopK value is out of valid range")
    query = _numbers(body.get("SearchVector"))
    dims = index["Dimensions"]
    if query is None or len(query) != dims:
        raise _ServiceError(
            "ValidationException",
            f"The number of dimensions of SearchVector must match the index's ({dims})",
        )
    schema = {
        e["AttributeName"]: e["SearchSchemaElementType"] for e in index.get("SearchSchema", [])
    }
    conditions = _conditions(body, schema)
    attribute = index["VectorAttribute"]["AttributeName"]
    scored = []
    for item in _matching_items(table, conditions):
        vector = _numbers(item.get(attribute, {}).get("L"))
        if vector is None or len(vector) != dims:
            continue  # not a valid vector: the service does not index the item
        if any(e == "HASH" and name not in item for name, e in schema.items()):
            continue
        if any(item.get(name) != value for name, value in conditions.items()):
            continue
        scored.append((_score(index["DistanceFunction"], query, vector), item))
    descending = index["DistanceFunction"] == "DOT_PRODUCT"
    scored.sort(key=lambda pair: -pair[0] if descending else pair[0])
    keys = {table.hash_key_attr, table.range_key_attr} - {None}
    results = [
        {"Item": _project(item, index, {*keys, *schema}, body), "Score": score}
        for score, item in scored[:top_k]
    ]
    return {"SearchResults": results}


def _injected(region: str, table_name: str) -> None:
    with _lock:
        fault = _faults.get((region, table_name))
        if fault is None or fault[2] == 0:
            return
        if fault[2] is not None:
            fault[2] -= 1
        fault[3] += 1
    raise _ServiceError(fault[0], fault[1])


@contextmanager
def failing_searches(
    table: str, code: str, message: str, *, times: int | None = None, region: str = "us-east-1"
) -> Iterator[list[Any]]:
    """Searches of ``table`` fail with ``code`` (``times`` times, else all) inside the block.

    Yields:
        The fault record; its last element counts the requests that failed.
    """
    fault: list[Any] = [code, message, times, 0]
    with _lock:
        _faults[(region, table)] = fault
    try:
        yield fault
    finally:
        with _lock:
            _faults.pop((region, table), None)


@contextmanager
def index_state(
    table: str, *, status: str = "CREATING", backfilling: bool = False,
    search_lag: bool = False, region: str = "us-east-1",
) -> Iterator[None]:
    """The table's vector indexes report ``status``/``backfilling`` inside the block.

    ``search_lag``: ``ACTIVE`` in ``DescribeTable`` while the search endpoint does not
    serve the index yet (the guide's last case).
    """
    key = (region, table)
    with _lock:
        saved = [dict(i) for i in _indexes.get(key, [])]
        for index in _indexes.get(key, []):
            index.update(IndexStatus=status, SearchLag=search_lag)
            if backfilling:
                index["Backfilling"] = True
            else:
                index.pop("Backfilling", None)
    try:
        yield
    finally:
        with _lock:
            if key in _indexes:
                _indexes[key] = saved


def _table(region: str, table_name: str) -> Any:
    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodb.models import dynamodb_backends

    try:
        return dynamodb_backends[ACCOUNT][region].get_table(table_name)
    except ResourceNotFoundException as exc:
        raise _ServiceError("ResourceNotFoundException", "Requested resource not found") from exc


def _matching_items(table: Any, conditions: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The table's items whose string attributes equal the conditions, in wire format."""
    wanted = {name: value.get("S") for name, value in conditions.items()}
    for item in table.all_items():
        attrs = item.attrs
        if all(
            name in attrs and attrs[name].type == "S" and attrs[name].value == value
            for name, value in wanted.items()
        ):
            yield item.to_json()["Attributes"]


def _numbers(values: Any) -> list[float] | None:
    if not isinstance(values, list) or not values:
        return None
    out = []
    for value in values:
        if not isinstance(value, dict) or "N" not in value:
            return None
        out.append(float(value["N"]))
    return out if all(math.isfinite(x) for x in out) else None


def _conditions(body: dict[str, Any], schema: dict[str, str]) -> dict[str, Any]:
    expression = body.get("SearchConditionExpression")
    names = body.get("ExpressionAttributeNames") or {}
    values = body.get("ExpressionAttributeValues") or {}
    hashes = [name for name, kind in schema.items() if kind == "HASH"]
    if not expression:
        if hashes:
            raise _ServiceError(
                "ValidationException",
                "SearchConditionExpression must be provided when SearchSchema has a HASH key",
            )
        return {}
    conditions: dict[str, Any] = {}
    for term in re.split(r"\s+AND\s+", expression, flags=re.IGNORECASE):
        match = _TERM.match(term)
        if match is None:
            raise _ServiceError("ValidationException", f"Invalid SearchConditionExpression: {term}")
        name, operator, placeholder = match.groups()
        if operator != "=":
            raise _ServiceError(
                "ValidationException", "Invalid comparator used in SearchConditionExpression"
            )
        if name.startswith("#"):
            if name not in names:
                raise _ServiceError("ValidationException", f"Undefined attribute name {name}")
            name = names[name]
        if name not in schema:
            raise _ServiceError(
                "ValidationException",
                f"{name} is not an attribute of the vector index's search schema",
            )
        if placeholder not in values:
            raise _ServiceError("ValidationException", f"Undefined attribute value {placeholder}")
        conditions[name] = values[placeholder]
    for name in hashes:
        if name not in conditions:
            raise _ServiceError(
                "ValidationException",
                "SearchConditionExpression must be provided when SearchSchema has a HASH key",
            )
    return conditions


def _score(function: str, a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    if function == "DOT_PRODUCT":
        return dot
    if function == "EUCLIDEAN":
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return 1.0 - dot / norm if norm else 1.0


def _project(
    item: dict[str, Any], index: dict[str, Any], keys: set[str], body: dict[str, Any]
) -> dict[str, Any]:
    """The result's ``Item``: what the index projects (``KEYS_ONLY``: the table's keys and
    the search schema's attributes; ``INCLUDE``: those and ``NonKeyAttributes``; ``ALL``),
    narrowed by the request's ``ProjectionExpression`` ("only attributes projected into
    the vector index can be retrieved")."""
    projection = index["Projection"]
    kind = projection.get("ProjectionType", "ALL")
    if kind == "ALL":
        out = dict(item)
    else:
        keep = set(keys)
        if kind == "INCLUDE":
            keep |= set(projection.get("NonKeyAttributes", []))
        out = {k: v for k, v in item.items() if k in keep}
    wanted = body.get("ProjectionExpression")
    if wanted:
        names = body.get("ExpressionAttributeNames") or {}
        chosen = {names.get(p.strip(), p.strip()) for p in wanted.split(",")}
        out = {k: v for k, v in out.items() if k in chosen}
    return out


def install() -> None:
    """Register the hooks in botocore's built-in handlers (idempotent)."""
    hooks = [
        ("before-parameter-build.dynamodb.CreateTable", _on_create_table),
        ("after-call.dynamodb.DescribeTable", _on_describe_table),
        ("before-parameter-build.dynamodb.DeleteTable", _on_delete_table),
        ("before-send.dynamodb.SearchVectors", _on_search),
    ]
    for hook in hooks:
        if hook not in BUILTIN_HANDLERS:
            BUILTIN_HANDLERS.append(hook)


install()
