"""The read-side patches of moto (tests/support/moto_dynamodb.py) answer as moto's own.

``Table.all_items`` returns the same items in the same order for every key type, and
the direct AttributeValue serializer writes byte-for-byte the JSON moto's generic
serializer writes, for random nested items.
"""

from __future__ import annotations

import random
from typing import Any

import boto3
import moto
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from tests.support import moto_dynamodb

REGION = "us-east-1"


@pytest.mark.parametrize("schema", [
    [("pk", "HASH", "S"), ("sk", "RANGE", "N")],
    [("pk", "HASH", "N"), ("sk", "RANGE", "S")],
    [("pk", "HASH", "B"), ("sk", "RANGE", "B")],
    [("pk", "HASH", "S")],
    [("pk", "HASH", "N")],
])
def test_all_items_sorts_like_motos_own(schema: list[tuple[str, str, str]]) -> None:
    # Numbers that sort differently as text (10 < 9), negatives, decimals, exponents;
    # strings with shared prefixes and non-ASCII: the same order, item for item, and
    # the same Query and Scan answers.
    rng = random.Random(7)
    numbers = ["9", "10", "-3", "0", "2.5", "1e2", "-0.5", "100", "7", "07.0"]
    strings = ["a", "ab", "b", "B", "é", "a#1", "a#10", "a#2", "", "z"]

    def value(kind: str) -> dict[str, Any]:
        if kind == "N":
            return {"N": rng.choice([*numbers, str(rng.randint(-500, 500))])}
        if kind == "B":
            return {"B": bytes([rng.randrange(4) for _ in range(rng.randint(1, 3))])}
        return {"S": rng.choice(strings) + rng.choice(strings) or "x"}

    with moto.mock_aws():
        dynamo = boto3.client("dynamodb", region_name=REGION)
        dynamo.create_table(
            TableName="o",
            KeySchema=[{"AttributeName": n, "KeyType": k} for n, k, _ in schema],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": t}
                                  for n, _, t in schema],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in range(120):
            item = {name: value(kind) for name, _, kind in schema}
            dynamo.put_item(TableName="o", Item={**item, "n": {"N": str(n)}})
        table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table("o")
        ours = moto_dynamodb.all_items(table)
        theirs = moto_dynamodb.ORIGINAL_ALL_ITEMS(table)
        assert [id(i) for i in ours] == [id(i) for i in theirs]
        assert len(ours) > 15


def _random_value(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    kinds = ["S", "N", "BOOL", "NULL", "SS", "NS", "B", "BS"] + (["M", "L"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "S":
        return {"S": rng.choice(["", "x", "é\u2028\"\\", "a" * 40, "12"])}
    if kind == "N":
        return {"N": rng.choice(["0", "-1.5", "1e3", "12345678901234567890"])}
    if kind in ("BOOL", "NULL"):
        return {kind: rng.random() < 0.7}
    if kind == "SS":
        return {"SS": rng.sample(["a", "b", "", "é"], rng.randint(1, 3))}
    if kind == "NS":
        return {"NS": rng.sample(["1", "2.5", "-3"], rng.randint(1, 3))}
    if kind == "B":
        return {"B": rng.choice([b"\x00\xff", b"abc", "YWJj"])}
    if kind == "BS":
        return {"BS": [b"\x01", b"\x02"]}
    if kind == "M":
        return {"M": {rng.choice(["a", "b", "c", "", "é"]) + str(n): _random_value(rng, depth + 1)
                      for n in range(rng.randint(0, 3))}}
    return {"L": [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]}


@pytest.mark.parametrize("operation", ["Query", "GetItem", "TransactGetItems"])
def test_attribute_values_serialize_like_motos_own(operation: str) -> None:
    from moto.core.serialize import JSONSerializer, XFormedAttributePicker
    from moto.core.utils import get_service_model

    class Generic(JSONSerializer):
        _serialize_type_structure = moto_dynamodb.ORIGINAL_SERIALIZE_STRUCTURE

    model = get_service_model("dynamodb").operation_model(operation)
    rng = random.Random(3)
    fast_paths = 0
    for _ in range(150):
        items = [{f"a{n}": _random_value(rng) for n in range(rng.randint(1, 6))}
                 for _ in range(rng.randint(0, 4))]
        result: dict[str, Any] = {
            "Query": {"Items": items, "Count": len(items), "ScannedCount": len(items),
                      "LastEvaluatedKey": items[0] if items else None},
            "GetItem": {"Item": items[0] if items else None},
            "TransactGetItems": {"Responses": [{"Item": i} for i in items]},
        }[operation]
        bodies = [cls(operation_model=model, value_picker=XFormedAttributePicker())
                  .serialize(result)["body"] for cls in (JSONSerializer, Generic)]
        assert bodies[0] == bodies[1]
        fast_paths += sum(moto_dynamodb._attribute_value(v) is not None
                          for i in items for v in i.values())
    assert fast_paths > 200  # the direct path was taken, not only the fallback
