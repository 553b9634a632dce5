"""Mastra's trace query predicates (``where``), evaluated on trace rows.

A predicate is a tree: ``{"op": "eq"|"ne"|"lt"|"lte"|"gt"|"gte", "left", "right"}``
with ``{"path": ...}`` or ``{"literal": ...}`` operands, ``{"op": "in"|"notIn",
"value", "set"}``, ``{"op": "exists"|"notExists", "path"}``, ``{"op":
"includes"|"notIncludes", "path", "value"}`` and ``and``/``or``/``not``. Paths are a
trace row's fields (``status``, ``entityName``, ``durationMs``...) or
``metadata.<key>``. Span, score and feedback predicates (``{"spans": ...}``) are
refused with a 400: Stowage evaluates trace-level predicates only. Mastra's limits
hold: 100 nodes, 12 levels, 100 values per set.

Values compared with a row are JSON scalars (a ``value`` of ``includes`` included:
anything else is a 400), and matching is total: a row field of another type (an
object under ``metadata.<key>``, a number where a string was asked) simply does not
match; it never raises (a 500).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from handlers.errors import HTTPError
from storage.timeutil import from_iso

MAX_DEPTH = 12
MAX_NODES = 100
MAX_SET = 100
Row = Mapping[str, Any]
Matcher = Callable[[Row], bool]
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}
_TIME_FIELDS = ("startedAt", "endedAt", "createdAt")


def compile_predicate(tree: Any) -> Matcher:
    """A function telling whether a trace row matches ``tree``.

    Raises:
        HTTPError: 400 naming what is wrong with the predicate.
    """
    nodes = [0]
    return _compile(tree, 1, nodes)


def _compile(tree: Any, depth: int, nodes: list[int]) -> Matcher:
    nodes[0] += 1
    if depth > MAX_DEPTH or nodes[0] > MAX_NODES:
        raise HTTPError(400, "Predicates are limited to 100 nodes and 12 levels")
    if not isinstance(tree, Mapping):
        raise HTTPError(400, "where: each predicate must be an object")
    if any(k in tree for k in ("spans", "scores", "feedback")):
        raise HTTPError(400, "where: span, score and feedback predicates are not supported")
    op = tree.get("op")
    if not isinstance(op, str):
        raise HTTPError(400, "where: each predicate needs an op (a string)")
    if op in ("and", "or"):
        args = tree.get("args")
        if not isinstance(args, list) or not args:
            raise HTTPError(400, f"where: {op} needs a non-empty args list")
        parts = [_compile(a, depth + 1, nodes) for a in args]
        if op == "and":
            return lambda row: all(p(row) for p in parts)
        return lambda row: any(p(row) for p in parts)
    if op == "not":
        inner = _compile(tree.get("arg"), depth + 1, nodes)
        return lambda row: not inner(row)
    if op in _COMPARE:
        left, right = _operand(tree.get("left")), _operand(tree.get("right"))
        compare = _COMPARE[op]

        def match(row: Row) -> bool:
            a, b = _comparable(left(row), right(row))
            if a is None or b is None:
                return bool(op == "ne" and a != b)
            try:
                return bool(compare(a, b))
            except TypeError:
                return False

        return match
    if op in ("in", "notIn"):
        value = _operand(tree.get("value"))
        values = tree.get("set")
        if not isinstance(values, list) or len(values) > MAX_SET:
            raise HTTPError(400, f"where: {op} needs a set of at most {MAX_SET} values")
        wanted = set(v for v in values if _is_scalar(v))
        if op == "in":
            return lambda row: _member(value(row), wanted)
        return lambda row: not _member(value(row), wanted)
    if op in ("exists", "notExists"):
        path = _path(tree.get("path"))
        if op == "exists":
            return lambda row: _lookup(row, path) is not None
        return lambda row: _lookup(row, path) is None
    if op in ("includes", "notIncludes"):
        path, item = _path(tree.get("path")), tree.get("value")
        if not _is_scalar(item):
            raise HTTPError(400, f"where: {op} needs a value that is a string, number, "
                                 "boolean or null")

        def contains(row: Row) -> bool:
            found = _lookup(row, path)
            if isinstance(found, str):
                return isinstance(item, str) and item in found
            return isinstance(found, list) and item in found

        return contains if op == "includes" else (lambda row: not contains(row))
    raise HTTPError(400, f"where: unknown op {op!r}")


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _member(value: Any, wanted: set[Any]) -> bool:
    # An object or a list in the row (metadata values may be either) is in no set of
    # scalars; asking would raise TypeError (unhashable).
    return _is_scalar(value) and value in wanted


def _operand(raw: Any) -> Callable[[Row], Any]:
    if isinstance(raw, Mapping) and "path" in raw:
        path = _path(raw["path"])
        return lambda row: _lookup(row, path)
    if isinstance(raw, Mapping) and "literal" in raw:
        literal = raw["literal"]
        if not _is_scalar(literal):
            raise HTTPError(400, "where: a literal must be a string, number, boolean or null")
        return lambda row: literal
    raise HTTPError(400, "where: an operand must be {path} or {literal}")


def _path(raw: Any) -> str:
    if not isinstance(raw, str) or not raw or len(raw.encode()) > 128:
        raise HTTPError(400, "where: a path must be a non-empty string of at most 128 bytes")
    return raw


def _lookup(row: Row, path: str) -> Any:
    if path.startswith("metadata."):
        metadata = row.get("metadata") or {}
        return metadata.get(path.removeprefix("metadata.")) if isinstance(metadata, Mapping) \
            else None
    if path == "durationMs":
        started, ended = row.get("startedAt"), row.get("endedAt")
        if not started or not ended:
            return None
        return (from_iso(ended) - from_iso(started)).total_seconds() * 1000
    if path == "tags":
        return []
    return row.get(path)


def _comparable(a: Any, b: Any) -> tuple[Any, Any]:
    """Timestamps compare as instants, whatever their ISO spelling."""
    if isinstance(a, str) and isinstance(b, str):
        try:
            return from_iso(a), from_iso(b)
        except ValueError:
            return a, b
    return a, b


__all__ = ["compile_predicate"]
