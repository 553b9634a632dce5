"""moto's DynamoDB with a TransactWriteItems that undoes only what it touched.

Why: moto 5.2.5's ``DynamoDBBackend.transact_write_items``
(``moto/dynamodb/models/__init__.py``) takes its rollback copy with
``copy.deepcopy(self.tables[name])`` once for every *action* of every transaction,
before running any of them. A 5-action turn copies the whole table five times, a
100-action delete a hundred times, and concurrent writers hold copies at once: on
the tests' larger tables that made one concurrency test climb to 9.5 GB of resident
memory and run for minutes (issue 12). DynamoDB itself copies nothing.

What replaces it: the same loop, action by action, as moto's (same validations, same
condition checks, same ``put_item``/``update_item``/``delete_item`` calls, the same
``CancellationReasons``), but before an action writes, :class:`_Undo` keeps a copy of
the one item at that action's key (or notes that there was none). Cancelling restores
those items in reverse order, and the table's stream records as they were: the state
moto's whole-table copy restored, at the cost of the items the transaction touched.
One thing differs, on purpose: an error that escapes the loop (a validation error,
two actions on one item, an action with two operations) undoes the earlier actions
too; moto's copy missed the last case and left them written. DynamoDB validates a
transaction before it writes anything, so all-or-nothing is the faithful behaviour.

How it stays honest: :data:`MOTO_VERSION` and :data:`FINGERPRINTS` name the moto code
this mirrors (the function it replaces and the ones whose writes the undo reverses).
:func:`install` patches only when they match and warns otherwise;
``tests/support/test_moto_dynamodb.py`` fails loudly on any mismatch, and checks the
transaction semantics directly, against moto's own function too. On a moto upgrade,
re-read those functions, port the change here, and update the fingerprints.

Where it is active: everywhere moto's DynamoDB runs for this repository.
``tests/conftest.py`` installs it in the pytest process (``mock_aws``, the
``ThreadedMotoServer`` of the concurrency test); :mod:`tests.support.moto_server`
runs moto's server in a child process with it installed; ``bench/`` installs it
before its ``mock_aws``.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import warnings
from typing import Any

import moto
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamShard, Table

MOTO_VERSION = "5.2.5"

# sha256 (first 16 hex digits) of the source of each moto function this module mirrors
# or relies on: the one it replaces, and those whose writes _Undo reverses.
FINGERPRINTS = {
    "DynamoDBBackend.transact_write_items": "81db2cb7d94e39c9",
    "DynamoDBBackend.get_keys_value": "1f948797496ddc2c",
    "DynamoDBBackend.put_item": "f5d9a5042c77b89e",
    "DynamoDBBackend.update_item": "218984588dd689a5",
    "DynamoDBBackend.delete_item": "083a4bb1af18f6fd",
    "Table.put_item": "de23933013ef8426",
    "Table.delete_item": "1594f7b07616c8cb",
    "StreamShard.add": "357dc6da267e5dd7",
}
_OWNERS = {"DynamoDBBackend": DynamoDBBackend, "Table": Table, "StreamShard": StreamShard}

#: moto's own function, kept for the differential tests.
ORIGINAL = DynamoDBBackend.transact_write_items

_OPERATIONS = {"ConditionCheck", "Put", "Delete", "Update"}


def fingerprints() -> dict[str, str]:
    """The fingerprints of the installed moto's functions, named as in FINGERPRINTS."""
    found = {}
    for name in FINGERPRINTS:
        owner, attribute = name.split(".")
        function = getattr(_OWNERS[owner], attribute)
        if name == "DynamoDBBackend.transact_write_items":
            function = ORIGINAL
        found[name] = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]
    return found


def mismatches() -> list[str]:
    """What differs between the installed moto and the one this module mirrors."""
    problems = []
    if moto.__version__ != MOTO_VERSION:
        problems.append(f"moto is {moto.__version__}, this patch mirrors {MOTO_VERSION}")
    found = fingerprints()
    problems += [f"{name} changed (source sha256 {found[name]}, expected {digest})"
                 for name, digest in FINGERPRINTS.items() if found[name] != digest]
    return problems


class _Undo:
    """The items a transaction's actions are about to write, as they were before."""

    def __init__(self) -> None:
        self._items: list[tuple[Table, DynamoType, DynamoType | None, Item | None]] = []
        self._streams: dict[int, tuple[StreamShard, list[Any]]] = {}

    def keep(self, table: Table, hash_key: DynamoType, range_key: DynamoType | None,
             current: Item | None) -> None:
        """Remember the item at this key (``None``: there was none) before a write."""
        shard = table.stream_shard
        if shard is not None and id(shard) not in self._streams:
            self._streams[id(shard)] = (shard, list(shard.items))
        # A deep copy: UpdateItem changes the stored Item in place.
        self._items.append((table, hash_key, range_key, copy.deepcopy(current)))

    def undo(self) -> None:
        """Put every kept item back (remove those that did not exist), newest first."""
        for table, hash_key, range_key, before in reversed(self._items):
            if range_key is not None:
                if before is None:
                    table.items[hash_key].pop(range_key, None)
                else:
                    table.items[hash_key][range_key] = before
            elif before is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = before
        for shard, records in self._streams.values():
            shard.items = records
        self._items.clear()
        self._streams.clear()


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's ``transact_write_items``, undoing only the items it touched."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = _Undo()
    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    # (Code, Message, Item) per action, in order: the CancellationReasons.
    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    try:
        for item in transact_items:
            original_item: dict[str, Any] | None = None
            if len(list(item.keys())) > 1:
                raise TransactWriteSingleOpException
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in _OPERATIONS:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                names = op.get("ExpressionAttributeNames")
                values = op.get("ExpressionAttributeValues")
                return_on_failure = op.get("ReturnValuesOnConditionCheckFailure")

                if op_type == "Put":
                    attrs = op["Item"]
                    table = self.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]

                check_unicity(table_name, key)

                current = self.get_item(table_name, key)
                if condition_expression is not None:
                    condition_op = get_filter_expression(condition_expression, names, values)
                    if not condition_op.expr(current):
                        if return_on_failure == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)

                if op_type != "ConditionCheck":
                    table = self.get_table(table_name)
                    undo.keep(table, *self.get_keys_value(table, key), current)
                if op_type == "Put":
                    self.put_item(
                        table_name,
                        op["Item"],
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        table_name,
                        key,
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Update":
                    self.update_item(
                        table_name,
                        key,
                        update_expression=op["UpdateExpression"],
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))
            except Exception as e:
                errors.append((type(e).__name__, str(e), original_item))
    except BaseException:
        undo.undo()
        raise

    if any(code is not None for code, _, _ in errors):
        undo.undo()
        raise TransactionCanceledException(errors)


def installed() -> bool:
    """Whether moto's DynamoDB in this process runs :func:`transact_write_items`."""
    return DynamoDBBackend.transact_write_items is transact_write_items


def install() -> bool:
    """Replace moto's ``transact_write_items`` in this process (idempotent).

    Returns:
        Whether the patch is active. When the installed moto is not the one this module
        mirrors, it is left alone, with a warning (and the guard test fails).
    """
    if installed():
        return True
    problems = mismatches()
    if problems:
        warnings.warn(
            "tests/support/moto_dynamodb.py not installed: " + "; ".join(problems),
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    return True
