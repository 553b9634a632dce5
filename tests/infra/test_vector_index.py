"""The memory table's vector index (semantic recall on DynamoDB), from ``vectorDimensions``.

The index is the one ``storage.dynamodb.schema.with_vector_index`` defines and
``DynamoDBStore.setup()`` creates, so the deployed table and the code that searches it
agree; the functions may search that one index and nothing else.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.constants import DOMAINS
from storage.dynamodb.schema import MEMORY, MESSAGE_VECTORS, VECTOR_ATTRIBUTE, with_vector_index

from .conftest import Synth, _synth
from .test_iam import HANDLERS, _actions, _resources, _statements

DIMENSIONS = 512


@pytest.fixture(scope="module")
def recall(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth(
        tmp_path_factory, "vector-index", {"stage": "dev", "vectorDimensions": str(DIMENSIONS)}
    )


def _table(synth: Synth, domain: str) -> dict[str, Any]:
    logical_id = synth.logical_id(synth.stack.storage.tables[domain])
    return dict(synth.raw["Resources"][logical_id]["Properties"])


def _search_grants(synth: Synth, name: str) -> list[dict[str, Any]]:
    return [s for s in _statements(synth, name) if "dynamodb:SearchVectors" in _actions(s)]


def test_the_memory_table_has_the_vector_index_the_store_searches(recall: Synth) -> None:
    props = _table(recall, "memory")

    assert props["VectorIndexes"] == [
        {
            "IndexName": MESSAGE_VECTORS,
            "VectorAttribute": {"AttributeName": VECTOR_ATTRIBUTE},
            "Dimensions": DIMENSIONS,
            "DistanceFunction": "COSINE",
            # Partitioned by the message's resource: a search must name one.
            "SearchSchema": [
                {"AttributeName": "resource_id", "SearchSchemaElementType": "HASH"},
                {"AttributeName": "thread_id", "SearchSchemaElementType": "INLINE_FILTER"},
            ],
            # Each result carries its neighbours' sort keys: recall reads the windows of
            # every match with one BatchGetItem (storage/dynamodb/neighbours.py).
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["nbp", "nbn"]},
        }
    ]
    # Search-schema attributes must be declared; the keys and GSIs keep theirs.
    definitions = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert definitions == with_vector_index(MEMORY, DIMENSIONS).attributes
    assert definitions["resource_id"] == definitions["thread_id"] == "S"
    assert len(props["AttributeDefinitions"]) == len(definitions)  # no duplicates
    assert {g["IndexName"] for g in props["GlobalSecondaryIndexes"]} == {
        i.name for i in MEMORY.indexes
    }
    # Vector indexes need on-demand capacity.
    assert props["BillingMode"] == "PAY_PER_REQUEST"


def test_only_the_memory_table_gets_one(recall: Synth, dev: Synth) -> None:
    for domain in DOMAINS:
        if domain != "memory":
            assert "VectorIndexes" not in _table(recall, domain), domain
        assert "VectorIndexes" not in _table(dev, domain), domain


@pytest.mark.parametrize("name", list(HANDLERS))
def test_every_function_may_search_that_index_only(recall: Synth, name: str) -> None:
    (statement,) = _search_grants(recall, name)

    assert _actions(statement) == ["dynamodb:SearchVectors"]
    (resource,) = _resources(statement)
    text = json.dumps(resource)
    assert recall.logical_id(recall.stack.storage.tables["memory"]) in text
    assert text.endswith(f'/index/{MESSAGE_VECTORS}"]]}}')


@pytest.mark.parametrize("name", list(HANDLERS))
def test_no_search_grant_without_vector_dimensions(dev: Synth, name: str) -> None:
    assert _search_grants(dev, name) == []


def test_functions_are_told_the_index_dimensions(recall: Synth) -> None:
    for function in recall.resources("AWS::Lambda::Function").values():
        env = function["Properties"].get("Environment", {}).get("Variables", {})
        if "STOWAGE_STORAGE_URL" in env:
            assert env["STOWAGE_VECTOR_DIMENSIONS"] == str(DIMENSIONS)


def test_cdk_nag_and_cfn_lint_stay_clean(recall: Synth) -> None:
    from cfnlint.api import lint

    report = json.loads((recall.outdir / "validation-report.json").read_text())
    assert [v for p in report["pluginReports"] for v in p.get("violations", [])] == []
    template = recall.outdir / f"{recall.stack.stack_name}.template.json"
    matches = lint(template.read_text(), regions=["us-east-1"])
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")] == []


def test_with_memory_on_aurora_the_table_gets_no_vector_index(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # The vectors then live beside the messages, in pgvector; the DynamoDB memory table
    # (kept empty for the store's setup) needs no index and nobody may search it.
    synth = _synth(tmp_path_factory, "vector-index-aurora", {
        "stage": "dev", "postgres": "true", "postgresDomains": "memory",
        "vectorDimensions": str(DIMENSIONS),
    })
    assert "VectorIndexes" not in _table(synth, "memory")
    for name in HANDLERS:
        assert _search_grants(synth, name) == []
