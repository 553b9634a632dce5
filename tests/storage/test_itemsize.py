"""Item sizes in DynamoDB's accounting (AWS developer guide, "Item sizes and formats")."""

from __future__ import annotations

import base64

import pytest

from storage.dynamodb.codec import to_av
from storage.dynamodb.itemsize import ITEM_LIMIT, attribute_size, item_size, number_size


def test_strings_count_utf8_bytes_of_name_and_value() -> None:
    # "é" is 2 bytes and "😀" 4 in UTF-8: characters are not bytes.
    assert attribute_size("a", {"S": "héllo"}) == 1 + 6
    assert attribute_size("名前", {"S": "😀"}) == 6 + 4
    assert attribute_size("e", {"S": ""}) == 1


@pytest.mark.parametrize(
    ("number", "size"),
    [
        ("0", 2),
        ("1", 2),
        ("12", 2),
        ("123", 3),
        ("1234", 3),
        ("12345", 4),
        ("-5.5", 3),
        ("1.23", 3),  # 01|23
        ("123.4", 4),  # 01|23|40: digit pairs align on the decimal point
        ("0.001", 2),  # leading zeros trimmed: 10 x 100^-2
        ("100", 2),  # trailing zeros trimmed: 1 x 100^1
        ("1E+20", 2),
        ("1700000000000", 3),  # an epoch-ms timestamp: 17 x 100^6
        ("1" * 38, 20),  # the most digits DynamoDB allows
    ],
)
def test_numbers_take_one_byte_plus_one_per_digit_pair(number: str, size: int) -> None:
    assert number_size(number) == size


def test_binary_counts_raw_bytes_not_base64() -> None:
    raw = bytes(range(30))
    assert attribute_size("b", {"B": raw}) == 1 + 30
    assert attribute_size("b", {"B": base64.b64encode(raw).decode()}) == 1 + 30


def test_null_and_boolean_are_one_byte() -> None:
    assert attribute_size("flag", {"BOOL": True}) == 4 + 1
    assert attribute_size("n", {"NULL": True}) == 1 + 1


def test_maps_and_lists_cost_three_bytes_plus_one_per_element() -> None:
    assert attribute_size("m", {"M": {}}) == 1 + 3
    assert attribute_size("l", {"L": []}) == 1 + 3
    # 3 overhead + (1 element byte + "ab" + "xyz")
    assert attribute_size("m", {"M": {"ab": {"S": "xyz"}}}) == 1 + 3 + (1 + 2 + 3)
    # 3 overhead + (1 + "a") + (1 + number "1")
    assert attribute_size("l", {"L": [{"S": "a"}, {"N": "1"}]}) == 1 + 3 + (1 + 1) + (1 + 2)
    nested = {"L": [{"M": {"k": {"L": [{"BOOL": False}]}}}]}
    # outer list 3 + 1, map 3 + 1 + "k", inner list 3 + 1 + bool 1
    assert attribute_size("x", nested) == 1 + (3 + 1) + (3 + 1 + 1) + (3 + 1 + 1)


def test_sets_sum_their_members() -> None:
    assert attribute_size("ss", {"SS": ["a", "bc"]}) == 2 + 3
    assert attribute_size("ns", {"NS": ["1", "123"]}) == 2 + 2 + 3
    assert attribute_size("bs", {"BS": [b"ab", b"c"]}) == 2 + 3


def test_item_size_is_the_sum_of_its_attributes() -> None:
    item = {
        "pk": {"S": "THREAD#t1"},
        "sk": {"S": "THREAD"},
        "count": {"N": "42"},
        "metadata": to_av({"a": 1, "b": [True, None]}),
    }
    expected = (2 + 9) + (2 + 6) + (5 + 2) + (8 + 3 + (1 + 1 + 2) + (1 + 1 + 3 + 1 + 1 + 1 + 1))
    assert item_size(item) == expected


def test_the_limit_is_400_kb() -> None:
    assert ITEM_LIMIT == 409_600


def test_unknown_types_are_refused() -> None:
    with pytest.raises(ValueError):
        attribute_size("x", {"Q": "?"})
