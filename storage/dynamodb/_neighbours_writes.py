"""The writes of a refresh: each item's lists (and vector), the thread's certificate,
and their packing into transactions, every one conditional on the thread's ``sv``.

The design is in ``neighbours.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from storage.dynamodb._neighbours_lists import (
    CERTIFICATE,
    NEXT,
    PREVIOUS,
    VERSION,
    list_values,
)
from storage.dynamodb._neighbours_refresh import ListWrite, ThreadState
from storage.dynamodb.codec import s
from storage.dynamodb.driver import TRANSACTION_ACTIONS, TRANSACTION_BYTES, action_size, update
from storage.dynamodb.keys import thread_key
from storage.dynamodb.schema import PENDING_EMBEDDINGS, VECTOR_ATTRIBUTE

_BYTES_MARGIN = 64 * 1024


def write_action(table: str, thread_id: str, write: ListWrite) -> dict[str, Any]:
    """The UpdateItem storing one item's lists (and vector)."""
    previous, following = list_values(write.previous, write.following)
    names = {"#p": PREVIOUS, "#n": NEXT}
    values: dict[str, Any] = {":p": previous, ":n": following}
    expression = "SET #p = :p, #n = :n"
    condition = "attribute_exists(pk)"
    if write.vector is not None:
        names["#vec"] = VECTOR_ATTRIBUTE
        values[":vec"] = write.vector
        values[":resource"] = s(write.resource_id or "")
        expression += ", #vec = :vec"
        # A message deleted or moved since it was embedded: skipped, never recreated.
        condition += " AND resource_id = :resource"
    return update(
        table,
        {"pk": s(f"THREAD#{thread_id}"), "sk": s(write.sk)},
        expression,
        ConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def _unchanged(version: int) -> tuple[str, dict[str, Any]]:
    """The condition that the thread's structure version is still ``version``."""
    if version == 0:
        return "attribute_exists(pk) AND (attribute_not_exists(#sv) OR #sv = :sv)", {
            ":sv": {"N": "0"}
        }
    return "attribute_exists(pk) AND #sv = :sv", {":sv": {"N": str(version)}}


def certify_action(table: str, state: ThreadState, embedded: Iterable[str] = ()
                   ) -> dict[str, Any]:
    """The UpdateItem of the thread's certificate, conditional on ``sv`` unchanged.

    ``embedded``: ids of messages getting their vector in the same transaction; those
    marked for re-embedding leave the thread's ``pe`` set.
    """
    condition, values = _unchanged(state.version)
    cert: dict[str, Any] = {"sv": {"N": str(state.version)}, "count": {"N": str(state.count)}}
    if state.rows:
        cert["tail"] = s(state.rows[-1].sk)
    names = {"#c": CERTIFICATE, "#sv": VERSION}
    expression = "SET #c = :cert"
    done = sorted(state.pending.intersection(embedded))
    if done:
        names["#pe"] = PENDING_EMBEDDINGS
        values = {**values, ":done": {"SS": done}}
        expression += " DELETE #pe :done"
    return update(
        table,
        thread_key(state.thread_id),
        expression,
        ConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={**values, ":cert": {"M": cert}},
    )


def check_action(table: str, state: ThreadState) -> dict[str, Any]:
    """A ConditionCheck that the thread's ``sv`` is unchanged (for a chunk without the
    certificate, when one thread's writes take more than one transaction)."""
    condition, values = _unchanged(state.version)
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": thread_key(state.thread_id),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#sv": VERSION},
            "ExpressionAttributeValues": values,
        }
    }


def transactions(
    first: list[dict[str, Any]],
    plans: list[tuple[ThreadState, list[dict[str, Any]]]],
    table: str,
) -> list[tuple[list[dict[str, Any]], set[str]]]:
    """Pack ``first`` and each thread's writes (its certificate last) into transactions.

    Several threads share a transaction while they fit (100 actions, 4 MB). A thread
    whose writes run over one transaction gets a ConditionCheck of its ``sv`` in each
    transaction but the last, which holds its certificate: every list it writes is
    exact for the same state, or the transaction is cancelled.

    Returns:
        (actions, the threads certified by them) per transaction, in order.
    """
    limit, room = TRANSACTION_ACTIONS, TRANSACTION_BYTES - _BYTES_MARGIN
    out: list[tuple[list[dict[str, Any]], set[str]]] = []
    current = list(first)
    size = sum(action_size(a) for a in current)
    checks: dict[str, dict[str, Any]] = {}  # threads with writes here but no certificate
    finished: set[str] = set()
    for state, actions in plans:
        check = check_action(table, state)
        for index, action in enumerate(actions):
            certificate = index == len(actions) - 1
            pending = dict(checks)
            if certificate:
                pending.pop(state.thread_id, None)
            else:
                pending[state.thread_id] = check
            needed = len(current) + 1 + len(pending)
            weight = size + action_size(action) + sum(action_size(c) for c in pending.values())
            if current and (needed > limit or weight > room):
                out.append(([*current, *checks.values()], finished))
                current, size, checks, finished = [], 0, {}, set()
            current.append(action)
            size += action_size(action)
            if certificate:
                checks.pop(state.thread_id, None)
                finished.add(state.thread_id)
            else:
                checks[state.thread_id] = check
    if current:
        out.append(([*current, *checks.values()], finished))
    return out
