"""Hostile values for the query parameters that carry JSON or numbers, for the fuzzers.

The OpenAPI document types ``include``, ``orderBy``, ``filter`` and ``metadata`` as
strings (they are JSON text) and ``page``/``perPage`` as strings too, so Schemathesis
alone draws random text for them, which rarely parses. :func:`install` adds a
per-schema ``flatmap_query`` hook that swaps in values built to hurt: JSON nested far
past the limit, integers beyond JavaScript's and SQLite's ranges, wrong types in
every position of the shapes Mastra sends, dates no UTC timestamp can hold, and
plain garbage. Every answer must still be a 4xx JSON error or a success.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Past JavaScript's exact integers (2**53) and SQLite's (2**63) as often as not.
BIG = st.one_of(
    st.sampled_from([2**53 - 1, 2**53, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63) - 1]),
    st.integers(min_value=2**63, max_value=2**80),
    st.integers(min_value=-(2**80), max_value=-(2**53)),
)
NUMBERS = st.one_of(BIG, st.integers(), st.floats(allow_nan=False, allow_infinity=False))
DATES = st.sampled_from([
    "2024-05-01T12:00:00.000Z", "2024-05-01", "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00", "2024-13-45T99:99:99Z", "", "now",
])
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, DATES, st.text(max_size=12))
KEYS = st.one_of(st.sampled_from(["id", "field", "direction", "dateRange", "start", "__proto__",
                                  "a b", ""]), st.text(max_size=8))
ANY_JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(KEYS, inner, max_size=3), max_leaves=12)


def _deep(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


# Up to 600 levels: past the 64-level limit and the point where the old parser recursed
# into a 500, yet a URL short enough for any HTTP server (about 8 KB encoded).
DEEP = st.builds(_deep, st.integers(min_value=60, max_value=600),
                 st.sampled_from(["list", "object"]))

# A window around the seeded message m-1 with counts out of every range: the values
# that reach the storage query.
WINDOWS = st.lists(st.fixed_dictionaries({"id": st.just("m-1")}, optional={
    "withPreviousMessages": NUMBERS, "withNextMessages": NUMBERS}), min_size=1, max_size=2)

SHAPES: dict[str, st.SearchStrategy[Any]] = {
    "include": WINDOWS | st.lists(st.fixed_dictionaries(
        # "m-1": the seeded message, so a window is really read.
        {"id": st.one_of(st.just("m-1"), st.just("m-1"), st.text(max_size=10), SCALARS)},
        optional={"withPreviousMessages": st.one_of(NUMBERS, NUMBERS, SCALARS),
                  "withNextMessages": st.one_of(NUMBERS, NUMBERS, SCALARS),
                  "threadId": SCALARS}), min_size=1, max_size=3),
    "orderBy": st.fixed_dictionaries({}, optional={
        "field": st.one_of(st.sampled_from(["createdAt", "updatedAt"]), SCALARS),
        "direction": st.one_of(st.sampled_from(["ASC", "DESC", "asc", "up"]), SCALARS)}),
    "filter": st.fixed_dictionaries({}, optional={
        "dateRange": st.one_of(st.fixed_dictionaries({}, optional={
            "start": st.one_of(DATES, SCALARS), "end": st.one_of(DATES, SCALARS),
            "startExclusive": SCALARS, "endExclusive": SCALARS}), SCALARS),
        "roles": ANY_JSON}),
    "metadata": st.dictionaries(KEYS, ANY_JSON, max_size=3),
}


def json_text(name: str) -> st.SearchStrategy[str]:
    """Hostile text for the JSON query parameter ``name``: mostly its own shape, with
    wrong values inside (that is what reaches deepest), else any JSON, deep JSON, text."""
    kinds = [SHAPES[name].map(json.dumps)] * 3 + [ANY_JSON.map(json.dumps), DEEP,
                                                  st.text(max_size=20)]
    return st.integers(min_value=0, max_value=len(kinds) - 1).flatmap(lambda i: kinds[i])


NUMBER_TEXT = st.one_of(
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.sampled_from(["99999999999999999999", "9007199254740992", "1e3", "0x10", " 5", "+5",
                     "\u0665", "1_000", "false", "all", "-0", ""]),
    st.text(max_size=8),
)
STRATEGIES: dict[str, st.SearchStrategy[str]] = {
    **{name: json_text(name) for name in SHAPES},
    "page": NUMBER_TEXT,
    "perPage": NUMBER_TEXT,
}


def install(schema: Any, thread_id: str | None = None) -> None:
    """Make Schemathesis draw the hostile values for these parameters of ``schema``.

    Args:
        thread_id: a thread that exists on the server under test (with a message
            ``m-1``). Half the requests name it (and no ``agentId``), so the hostile
            values get past "no such thread" / "no such agent" to the code that
            parses and uses them.
    """

    @schema.hook  # type: ignore[untyped-decorator]
    def flatmap_query(context: Any, query: dict[str, Any] | None) -> st.SearchStrategy[Any]:
        operation = context.operation
        names = {p.name for p in operation.query} if operation is not None else set()
        hostile = {n: STRATEGIES[n] for n in names if n in STRATEGIES}
        if not hostile:
            return st.just(query)

        def merged(drawn: dict[str, Any], plain: bool) -> dict[str, Any]:
            base = {k: v for k, v in (query or {}).items() if not (plain and k == "agentId")}
            return {**base, **drawn}

        return st.builds(merged, st.fixed_dictionaries({}, optional=hostile), st.booleans())

    if thread_id is None:
        return

    @schema.hook  # type: ignore[untyped-decorator]
    def flatmap_path_parameters(context: Any,
                                path_parameters: dict[str, Any] | None) -> st.SearchStrategy[Any]:
        if not path_parameters or "thread_id" not in path_parameters:
            return st.just(path_parameters)
        return st.sampled_from([path_parameters, {**path_parameters, "thread_id": thread_id}])


__all__ = ["STRATEGIES", "install", "json_text"]
