"""Tables and bucket: the properties that keep data safe and queries possible."""

from __future__ import annotations

from aws_cdk.assertions import Match

from infra.constants import DOMAINS
from storage.dynamodb.schema import TABLES, KeyAttribute, TableSchema, table_name

from .conftest import Synth


def _key_schema(partition: KeyAttribute, sort: KeyAttribute | None) -> list[dict]:
    keys = [{"AttributeName": partition.name, "KeyType": "HASH"}]
    if sort is not None:
        keys.append({"AttributeName": sort.name, "KeyType": "RANGE"})
    return keys


def _projection(schema_projection: object) -> dict:
    if isinstance(schema_projection, tuple):
        return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(schema_projection)}
    return {"ProjectionType": schema_projection}


def _expected_indexes(schema: TableSchema, *, local: bool) -> dict[str, dict]:
    return {
        index.name: {
            "KeySchema": _key_schema(index.partition_key, index.sort_key),
            "Projection": _projection(index.projection),
        }
        for index in schema.indexes
        if index.local is local
    }


def _tables(synth: Synth) -> dict[str, dict]:
    """Domain -> table resource, found by the name ``dynamodb://<prefix>`` opens."""
    prefix = str(synth.stack.config.table_prefix)
    by_name = {
        r["Properties"]["TableName"]: r for r in synth.resources("AWS::DynamoDB::Table").values()
    }
    tables = {
        d: by_name.pop(table_name(prefix, d)) for d in DOMAINS if table_name(prefix, d) in by_name
    }
    assert not by_name, f"tables not named after a domain: {sorted(by_name)}"
    return tables


def test_key_schemas_equal_the_backends_definitions(synth: Synth) -> None:
    for domain, table in _tables(synth).items():
        schema = TABLES[domain]
        props = table["Properties"]

        assert props["KeySchema"] == _key_schema(schema.partition_key, schema.sort_key), domain
        assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == (
            schema.attributes
        ), domain
        for cfn_key, local in (("GlobalSecondaryIndexes", False), ("LocalSecondaryIndexes", True)):
            synthesized = {
                i["IndexName"]: {"KeySchema": i["KeySchema"], "Projection": i["Projection"]}
                for i in props.get(cfn_key, [])
            }
            assert synthesized == _expected_indexes(schema, local=local), (domain, cfn_key)
        ttl = props.get("TimeToLiveSpecification")
        # TTL is on where the domain has a retention age (tests/infra/test_retention.py).
        expected_ttl = (
            {"AttributeName": schema.ttl_attribute, "Enabled": True}
            if schema.ttl_attribute and domain in synth.stack.config.ttl_domains
            else None
        )
        assert ttl == expected_ttl, domain


def test_one_table_per_domain_whenever_dynamodb_is_used(dev: Synth, full: Synth) -> None:
    assert set(_tables(dev)) == set(DOMAINS)
    # workflows and scores live in Postgres in the full configuration, but the DynamoDB
    # store's setup() describes its four tables as a unit, so all four still exist.
    assert set(_tables(full)) == set(DOMAINS)


def test_tables_are_on_demand_with_point_in_time_recovery(synth: Synth) -> None:
    for domain, table in _tables(synth).items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", domain
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, (
            domain
        )
        assert "ProvisionedThroughput" not in props


def test_spans_expire_through_ttl_and_nothing_else_does(synth: Synth) -> None:
    for domain, table in _tables(synth).items():
        ttl = table["Properties"].get("TimeToLiveSpecification")
        if domain == "observability":
            assert ttl == {"AttributeName": TABLES["observability"].ttl_attribute, "Enabled": True}
        else:
            assert ttl is None, domain


def test_deletion_protection_and_retention_outside_dev(dev: Synth, full: Synth) -> None:
    for table in _tables(dev).values():
        assert table["Properties"]["DeletionProtectionEnabled"] is False
        assert table["DeletionPolicy"] == "Delete"
    for table in _tables(full).values():
        assert table["Properties"]["DeletionProtectionEnabled"] is True
        assert table["DeletionPolicy"] == "Retain"
        assert table["UpdateReplacePolicy"] == "Retain"


def test_bucket_is_private_encrypted_and_versioned(synth: Synth) -> None:
    synth.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        },
    )


def test_bucket_lifecycle_aborts_uploads_and_expires_old_versions(synth: Synth) -> None:
    (bucket,) = synth.resources("AWS::S3::Bucket").values()
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]

    assert {"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}.items() <= next(
        r for r in rules if "AbortIncompleteMultipartUpload" in r
    ).items()
    noncurrent = next(r for r in rules if r.get("Id") == "expire-old-versions")
    days = synth.stack.config.noncurrent_version_days
    assert noncurrent["NoncurrentVersionExpiration"]["NoncurrentDays"] == days
    # Once its noncurrent versions expire, the delete marker left alone goes too.
    assert noncurrent["ExpiredObjectDeleteMarker"] is True
    assert all(r["Status"] == "Enabled" for r in rules)


def test_exported_archives_expire_after_a_day_with_their_old_versions(synth: Synth) -> None:
    (bucket,) = synth.resources("AWS::S3::Bucket").values()
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    (rule,) = [r for r in rules if r.get("Id") == "expire-exports"]
    # Only the HTTP exports: the blob store's exports/ prefix under the bucket's blobs/
    assert rule["Prefix"] == "blobs/exports/"
    assert rule["ExpirationInDays"] == 1
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    assert rule["Status"] == "Enabled"
    # Attachments are no export: no rule without a prefix expires current objects
    assert not [r for r in rules if "ExpirationInDays" in r and not r.get("Prefix")]


def test_noncurrent_retention_comes_from_context(dev: Synth, full: Synth) -> None:
    def days(synth: Synth) -> int:
        (bucket,) = synth.resources("AWS::S3::Bucket").values()
        rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
        (rule,) = [r for r in rules if r.get("Id") == "expire-old-versions"]
        return int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])

    assert days(dev) == 30  # the default
    assert days(full) == 7  # -c noncurrentVersionDays=7


def test_bucket_policy_denies_plain_http_and_old_tls(synth: Synth) -> None:
    synth.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ),
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}},
                            }
                        ),
                    ]
                )
            }
        },
    )


def test_dev_bucket_is_emptied_on_destroy_and_prod_bucket_is_kept(dev: Synth, full: Synth) -> None:
    (dev_bucket,) = dev.resources("AWS::S3::Bucket").values()
    (prod_bucket,) = full.resources("AWS::S3::Bucket").values()

    assert dev_bucket["DeletionPolicy"] == "Delete"
    assert dev.resources("Custom::S3AutoDeleteObjects")
    assert prod_bucket["DeletionPolicy"] == "Retain"
    assert not full.resources("Custom::S3AutoDeleteObjects")
