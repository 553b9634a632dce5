"""moto's DynamoDB without its whole-table copies and sorts (test support for moto 5.2.5).

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

A second, smaller patch: ``Table.all_items`` (every Query on a table's key, every
Scan) sorts the whole table by ``(hash key, range key)`` comparing moto's
``DynamoType`` objects, whose ``<`` and ``==`` rebuild a ``Decimal`` or a string on
every comparison: 15% of the concurrency test's CPU. :func:`all_items` sorts the same
items, in the same stable order, by those values computed once per item
(``DynamoType.__lt__`` is ``cast_value < other.cast_value``, and a key attribute has
one type per table, so the orders are identical).

A third: moto answers through a generic serializer driven by botocore's shapes, which
looks up each of the ten members of every ``AttributeValue`` (``S``, ``N``, ... ``BOOL``)
through alias providers: a third of the concurrency test's CPU went to serializing
the 41 items of each turn's recall Query. :func:`_serialize_type_structure` writes a
DynamoDB ``AttributeValue`` made only of ``S``/``N`` strings, ``BOOL``/``NULL``,
string sets, maps and lists directly, as the generic path would; anything else
(binary values, unexpected types) goes the generic way.

How it stays honest: :data:`MOTO_VERSION` and :data:`FINGERPRINTS` name the moto code
these mirror (the functions replaced and those they rely on). :func:`install`
patches only when they match and warns otherwise;
``tests/support/test_moto_dynamodb.py`` fails loudly on any mismatch and checks the
transaction semantics directly; it and ``test_moto_reads.py`` compare each replacement
with moto's own function.
On a moto upgrade, re-read those functions, port the change here, update the fingerprints.

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
from moto.core.serialize import AttributePicker, BaseJSONSerializer, ResponseSerializer
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
# or relies on: the ones it replaces, those whose writes _Undo reverses, the ordering.
FINGERPRINTS = {
    "DynamoDBBackend.transact_write_items": "81db2cb7d94e39c9",
    "Table.all_items": "c80d2ee3c896acd0",
    "DynamoType.__lt__": "44033f9fbd16ab92",
    "DynamoType.__eq__": "48f12362c49f00c1",
    "DynamoType.cast_value": "135da387dfcc7c1c",
    "DynamoDBBackend.get_keys_value": "1f948797496ddc2c",
    "DynamoDBBackend.put_item": "f5d9a5042c77b89e",
    "DynamoDBBackend.update_item": "218984588dd689a5",
    "DynamoDBBackend.delete_item": "083a4bb1af18f6fd",
    "Table.put_item": "de23933013ef8426",
    "Table.delete_item": "1594f7b07616c8cb",
    "StreamShard.add": "357dc6da267e5dd7",
    "BaseJSONSerializer._serialize_type_structure": "36873909cd0aeb4d",
    "ResponseSerializer._serialize_type_structure": "f9b47068f40ce489",
    "ResponseSerializer._serialize_structure_member": "437fdce43aa5ac84",
    "BaseJSONSerializer._serialize_type_map": "faa32d1fa9a8bfc9",
    "BaseJSONSerializer._serialize_type_list": "f87b14fe9166e099",
    "BaseJSONSerializer._serialize_type_string": "44954e02145012ba",
    "AttributePicker.__call__": "c15da8ec29c1afa4",
}
_OWNERS = {"DynamoDBBackend": DynamoDBBackend, "Table": Table, "StreamShard": StreamShard,
           "DynamoType": DynamoType, "BaseJSONSerializer": BaseJSONSerializer,
           "ResponseSerializer": ResponseSerializer, "AttributePicker": AttributePicker}

#: moto's own functions, kept for the differential tests.
ORIGINAL = DynamoDBBackend.transact_write_items
ORIGINAL_ALL_ITEMS = Table.all_items
ORIGINAL_SERIALIZE_STRUCTURE = BaseJSONSerializer._serialize_type_structure
_REPLACED = {
    "DynamoDBBackend.transact_write_items": ORIGINAL,
    "Table.all_items": ORIGINAL_ALL_ITEMS,
    "BaseJSONSerializer._serialize_type_structure": ORIGINAL_SERIALIZE_STRUCTURE,
}

_OPERATIONS = {"ConditionCheck", "Put", "Delete", "Update"}


def fingerprints() -> dict[str, str]:
    """The fingerprints of the installed moto's functions, named as in FINGERPRINTS."""
    found = {}
    for name in FINGERPRINTS:
        owner, attribute = name.split(".")
        function = _REPLACED.get(name)
        if function is None:
            function = getattr(_OWNERS[owner], attribute)
        if isinstance(function, property):
            function = function.fget
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


def _sort_key(item: Item) -> Any:
    if item.range_key is not None:
        return (item.hash_key.cast_value, item.range_key.cast_value)
    return item.hash_key.cast_value


def all_items(self: Table) -> list[Item]:
    """moto 5.2.5's ``Table.all_items``, each item's key values computed once."""
    items: list[Item] = []
    for hash_set in self.items.values():
        if self.range_key_attr:
            items.extend(hash_set.values())
        else:
            items.append(hash_set)
    return sorted(items, key=_sort_key)


_STRINGS = ("S", "N")
_BOOLEANS = ("BOOL", "NULL")
_STRING_SETS = ("SS", "NS")


def _attribute_value(value: Any) -> dict[str, Any] | None:
    """A DynamoDB AttributeValue as moto's JSON serializer writes it; None: not a simple one."""
    if type(value) is not dict or len(value) != 1:
        return None
    ((kind, inner),) = value.items()
    if kind in _STRINGS:
        return {kind: inner} if type(inner) is str else None
    if kind in _BOOLEANS:
        return {kind: inner} if type(inner) is bool else None
    if kind in _STRING_SETS:
        ok = type(inner) is list and all(type(x) is str for x in inner)
        return {kind: list(inner)} if ok else None
    if kind == "M" and type(inner) is dict:
        members = {}
        for name, member in inner.items():
            if (written := _attribute_value(member)) is None:
                return None
            members[name] = written
        return {"M": members}
    if kind == "L" and type(inner) is list:
        elements = []
        for element in inner:
            if (written := _attribute_value(element)) is None:
                return None
            elements.append(written)
        return {"L": elements}
    return None


def _serialize_type_structure(self: BaseJSONSerializer, serialized: Any, value: Any,
                              shape: Any, key: str) -> None:
    """moto's JSON structure serializer, with DynamoDB's simple AttributeValues written directly."""
    if key and shape.name == "AttributeValue" and self.service_model.service_name == "dynamodb":
        written = _attribute_value(value)
        if written is not None:
            serialized[self.get_serialized_name(shape, key)] = written
            return
    ORIGINAL_SERIALIZE_STRUCTURE(self, serialized, value, shape, key)


def installed() -> bool:
    """Whether moto's DynamoDB in this process runs this module's functions."""
    return (DynamoDBBackend.transact_write_items is transact_write_items
            and Table.all_items is all_items
            and BaseJSONSerializer._serialize_type_structure is _serialize_type_structure)


def install() -> bool:
    """Replace moto's functions named above in this process (idempotent).

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
    Table.all_items = all_items  # type: ignore[method-assign]
    BaseJSONSerializer._serialize_type_structure = _serialize_type_structure  # type: ignore[method-assign]
    return True
