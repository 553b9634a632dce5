"""The TransactWriteItems patch of moto (tests/support/moto_dynamodb.py) is exact.

The guard tests fail when moto's code moves under the patches; the rest check
DynamoDB's transaction semantics through a real boto3 client (all or nothing,
cancellation reasons in order, several kinds of action at once, racing writers),
and compare the patch with moto's own function on the same random transactions.
The read-side patches are checked in ``test_moto_reads.py``.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import moto
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.table import Table

from tests.storage.dynamodb_support import ROOT, atomic_moto_dynamodb, moto_server_endpoint
from tests.support import moto_dynamodb, moto_server

REGION = "us-east-1"


# -- the guard ---------------------------------------------------------------------------


def test_the_patch_mirrors_the_installed_moto() -> None:
    problems = moto_dynamodb.mismatches()
    assert not problems, (
        "moto changed under tests/support/moto_dynamodb.py: " + "; ".join(problems)
        + ". Re-read those functions in moto, port the change, update MOTO_VERSION and "
        "FINGERPRINTS."
    )


def test_the_patch_is_active_in_the_pytest_process() -> None:
    assert moto_dynamodb.installed()
    assert DynamoDBBackend.transact_write_items is moto_dynamodb.transact_write_items
    assert Table.all_items is moto_dynamodb.all_items
    assert moto_dynamodb.ORIGINAL is not moto_dynamodb.transact_write_items
    assert moto_dynamodb.ORIGINAL_ALL_ITEMS is not moto_dynamodb.all_items


def test_the_patch_is_active_in_the_moto_server_child_process() -> None:
    from tests.storage.dynamodb_support import _SERVER

    moto_server_endpoint()
    log = _SERVER["log"].read_text()
    assert moto_server.BANNER in log, log[-2000:]


def test_the_launcher_runs_moto_server_with_the_patch() -> None:
    code = ("import sys; from tests.support import moto_server as m; "
            "m.server.main = lambda argv: print('moto main', argv); m.main(['-p', '1'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True)
    assert moto_server.BANNER in out.stderr
    assert "moto main ['-p', '1']" in out.stdout


# -- semantics through a boto3 client ---------------------------------------------------


@pytest.fixture
def client() -> Iterator[Any]:
    """A DynamoDB client on moto with table ``t`` (pk, sk), item writes made atomic."""
    with moto.mock_aws(), atomic_moto_dynamodb():
        dynamo = boto3.client("dynamodb", region_name=REGION)
        dynamo.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield dynamo


def _key(sk: str, pk: str = "p") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _put(dynamo: Any, sk: str, **attrs: Any) -> None:
    dynamo.put_item(TableName="t", Item={**_key(sk), **attrs})


def _items(dynamo: Any, pk: str = "p") -> dict[str, dict[str, Any]]:
    out = dynamo.query(TableName="t", KeyConditionExpression="pk = :p",
                       ExpressionAttributeValues={":p": {"S": pk}}, ConsistentRead=True)
    return {item["sk"]["S"]: item for item in out["Items"]}


def _cancelled(dynamo: Any, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with pytest.raises(ClientError) as caught:
        dynamo.transact_write_items(TransactItems=actions)
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    return list(caught.value.response["CancellationReasons"])


def test_a_failing_condition_check_in_the_middle_writes_nothing(client: Any) -> None:
    # Given an item to update and an item whose condition will fail
    _put(client, "c", n={"N": "1"})
    _put(client, "b", state={"S": "closed"})
    before = _items(client)

    # When Put(a), ConditionCheck(b) that fails, Update(c) run as one transaction
    reasons = _cancelled(client, [
        {"Put": {"TableName": "t", "Item": {**_key("a"), "v": {"S": "new"}}}},
        {"ConditionCheck": {"TableName": "t", "Key": _key("b"),
                            "ConditionExpression": "#s = :open",
                            "ExpressionAttributeNames": {"#s": "state"},
                            "ExpressionAttributeValues": {":open": {"S": "open"}}}},
        {"Update": {"TableName": "t", "Key": _key("c"), "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
    ])

    # Then nothing was written, and the reasons name the failing action in its place
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed", "None"]
    assert _items(client) == before


def test_cancellation_reasons_are_in_action_order_with_old_items(client: Any) -> None:
    _put(client, "x", v={"S": "1"})
    _put(client, "y", v={"S": "2"})
    reasons = _cancelled(client, [
        {"Put": {"TableName": "t", "Item": {**_key("x"), "v": {"S": "9"}},
                 "ConditionExpression": "attribute_not_exists(pk)",
                 "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        {"Delete": {"TableName": "t", "Key": _key("z")}},
        {"Update": {"TableName": "t", "Key": _key("y"), "UpdateExpression": "SET v = :v",
                    "ConditionExpression": "v = :old",
                    "ExpressionAttributeValues": {":v": {"S": "3"}, ":old": {"S": "0"}}}},
    ])
    assert [r["Code"] for r in reasons] == ["ConditionalCheckFailed", "None",
                                            "ConditionalCheckFailed"]
    assert reasons[0]["Item"] == {**_key("x"), "v": {"S": "1"}}
    assert "Item" not in reasons[2]  # no ReturnValuesOnConditionCheckFailure asked
    assert _items(client) == {"x": {**_key("x"), "v": {"S": "1"}},
                              "y": {**_key("y"), "v": {"S": "2"}}}


def test_put_update_delete_in_one_transaction(client: Any) -> None:
    _put(client, "u", n={"N": "5"}, tags={"SS": ["a"]})
    _put(client, "d", v={"S": "gone"})
    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": "t", "Item": {**_key("p1"), "v": {"S": "new"}},
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": "t", "Key": _key("u"),
                    "UpdateExpression": "SET n = n + :one ADD tags :b",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":b": {"SS": ["b"]}}}},
        {"Delete": {"TableName": "t", "Key": _key("d"),
                    "ConditionExpression": "attribute_exists(pk)"}},
    ])
    items = _items(client)
    assert set(items) == {"p1", "u"}
    assert items["p1"]["v"] == {"S": "new"}
    assert items["u"]["n"] == {"N": "6"} and sorted(items["u"]["tags"]["SS"]) == ["a", "b"]


def test_a_cancelled_put_update_delete_restores_every_item_exactly(client: Any) -> None:
    # An Update changes moto's stored item in place; a Put over an item replaces it; an
    # Update on a missing key creates one: the undo must restore all three.
    _put(client, "over", v={"S": "old"})
    _put(client, "upd", n={"N": "1"}, m={"M": {"k": {"L": [{"S": "x"}]}}})
    _put(client, "del", v={"S": "kept"})
    before = _items(client)
    reasons = _cancelled(client, [
        {"Put": {"TableName": "t", "Item": {**_key("over"), "v": {"S": "new"}}}},
        {"Update": {"TableName": "t", "Key": _key("upd"),
                    "UpdateExpression": "SET n = n + :one, m.k[0] = :y REMOVE gone",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":y": {"S": "y"}}}},
        {"Update": {"TableName": "t", "Key": _key("fresh"), "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"S": "created"}}}},
        {"Delete": {"TableName": "t", "Key": _key("del")}},
        {"ConditionCheck": {"TableName": "t", "Key": _key("absent"),
                            "ConditionExpression": "attribute_exists(pk)"}},
    ])
    assert [r["Code"] for r in reasons] == ["None"] * 4 + ["ConditionalCheckFailed"]
    assert _items(client) == before
    # and the table still takes the same writes once the condition holds
    _put(client, "absent")
    client.transact_write_items(TransactItems=[
        {"Update": {"TableName": "t", "Key": _key("upd"), "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"ConditionCheck": {"TableName": "t", "Key": _key("absent"),
                            "ConditionExpression": "attribute_exists(pk)"}},
    ])
    assert _items(client)["upd"]["n"] == {"N": "2"}


def test_a_retried_transaction_applies_once_per_success(client: Any) -> None:
    # The store's turn: create-if-absent items of one collection plus a counter bump.
    turn = [
        {"Put": {"TableName": "t", "Item": {**_key("m1"), "v": {"S": "q"}},
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Put": {"TableName": "t", "Item": {**_key("m2"), "v": {"S": "a"}},
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": "t", "Key": _key("thread"), "UpdateExpression": "ADD n :two",
                    "ExpressionAttributeValues": {":two": {"N": "2"}}}},
    ]
    client.transact_write_items(TransactItems=turn)
    reasons = _cancelled(client, turn)  # the same turn again: its items exist
    assert [r["Code"] for r in reasons] == ["ConditionalCheckFailed",
                                            "ConditionalCheckFailed", "None"]
    assert _items(client)["thread"]["n"] == {"N": "2"}  # counted once
    assert set(_items(client)) == {"m1", "m2", "thread"}


def test_an_invalid_transaction_writes_nothing(client: Any) -> None:
    _put(client, "a", v={"S": "1"})
    before = _items(client)
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": {**_key("b"), "v": {"S": "2"}}}},
            {"Delete": {"TableName": "t", "Key": _key("a")}},
            {"Update": {"TableName": "t", "Key": _key("a"), "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"S": "3"}}}},
        ])
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "multiple operations on one item" in caught.value.response["Error"]["Message"]
    assert _items(client) == before


def test_two_transactions_racing_on_one_item_lose_no_update(client: Any) -> None:
    # Optimistic writers: read the version, then bump it on condition it is unchanged,
    # appending a log item in the same transaction. Every success is counted exactly once.
    _put(client, "counter", version={"N": "0"})
    successes = [0, 0]
    barrier = threading.Barrier(2)

    def writer(n: int) -> None:
        barrier.wait()
        attempt = 0
        while successes[n] < 40:
            attempt += 1
            seen = client.get_item(TableName="t", Key=_key("counter"), ConsistentRead=True)
            version = int(seen["Item"]["version"]["N"])
            try:
                client.transact_write_items(TransactItems=[
                    {"Update": {"TableName": "t", "Key": _key("counter"),
                                "UpdateExpression": "SET version = :next",
                                "ConditionExpression": "version = :seen",
                                "ExpressionAttributeValues": {":seen": {"N": str(version)},
                                                              ":next": {"N": str(version + 1)}}}},
                    {"Put": {"TableName": "t", "Item": {**_key(f"log-{version + 1:04d}"),
                                                        "writer": {"N": str(n)}},
                             "ConditionExpression": "attribute_not_exists(pk)"}},
                ])
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "TransactionCanceledException"
                continue
            successes[n] += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    items = _items(client)
    logs = sorted(sk for sk in items if sk.startswith("log-"))
    assert items["counter"]["version"] == {"N": "80"}
    assert logs == [f"log-{v:04d}" for v in range(1, 81)]
    assert sorted(int(items[sk]["writer"]["N"]) for sk in logs) == [0] * 40 + [1] * 40


# -- the patch against moto's own function -----------------------------------------------


def _random_transaction(rng: random.Random, table: str) -> list[dict[str, Any]]:
    actions = []
    keys = rng.sample(range(8), rng.randint(1, 5))
    if rng.random() < 0.05:  # now and then, two actions on one item (a validation error)
        keys.append(keys[0])
    for k in keys:
        key = _key(f"k{k}", pk=f"p{k % 2}")
        kind = rng.choice(["Put", "Update", "Delete", "ConditionCheck"])
        condition = rng.choice([None, "attribute_exists(pk)", "attribute_not_exists(pk)",
                                "n < :limit"])
        op: dict[str, Any] = {"TableName": table}
        values: dict[str, Any] = {}
        if kind == "Put":
            op["Item"] = {**key, "n": {"N": str(rng.randint(0, 9))}}
        else:
            op["Key"] = key
        if kind == "Update":
            op["UpdateExpression"] = "SET n = if_not_exists(n, :zero) + :one, l = :l"
            values.update({":zero": {"N": "0"}, ":one": {"N": "1"},
                           ":l": {"L": [{"S": "x"}, {"M": {"k": {"N": str(k)}}}]}})
        if condition is not None or kind == "ConditionCheck":
            op["ConditionExpression"] = condition or "attribute_exists(pk)"
            if "limit" in op["ConditionExpression"]:
                values[":limit"] = {"N": str(rng.randint(0, 12))}
            if rng.random() < 0.5:
                op["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if values:
            op["ExpressionAttributeValues"] = values
        actions.append({kind: op})
    return actions


def _outcome(backend: Any, function: Any, actions: list[dict[str, Any]]) -> Any:
    try:
        function(backend, actions)
    except Exception as exc:
        return type(exc).__name__, getattr(exc, "description", str(exc))
    return "ok"


def _state(backend: Any, table: str) -> list[tuple[Any, ...]]:
    return [(i.hash_key.value, i.range_key.value, sorted(i.to_json()["Attributes"].items()))
            for i in backend.get_table(table).all_items()]


def test_the_patch_matches_motos_own_function_on_random_transactions() -> None:
    # Two identical tables, one per implementation; each random transaction runs on
    # both: the same outcome (cancellation reasons included), the same items after.
    with moto.mock_aws():
        dynamo = boto3.client("dynamodb", region_name=REGION)
        for name in ("theirs", "ours"):
            dynamo.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                           {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
            )
        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
        rng = random.Random(12)
        outcomes = set()
        for _ in range(400):
            actions = _random_transaction(rng, "theirs")
            mine = [{kind: {**op, "TableName": "ours"}} for a in actions
                    for kind, op in a.items()]
            theirs = _outcome(backend, moto_dynamodb.ORIGINAL, actions)
            ours = _outcome(backend, moto_dynamodb.transact_write_items, mine)
            assert ours == (theirs if theirs == "ok" else
                            (theirs[0], theirs[1].replace("theirs", "ours")))
            assert _state(backend, "ours") == _state(backend, "theirs")
            assert (len(backend.get_table("ours").stream_shard.items)
                    == len(backend.get_table("theirs").stream_shard.items))
            outcomes.add(ours if ours == "ok" else ours[0])
        # the sequence exercised commits, cancellations and validation errors alike
        assert outcomes == {"ok", "TransactionCanceledException",
                            "MultipleTransactionsException"}
