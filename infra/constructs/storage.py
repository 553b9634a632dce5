"""DynamoDB tables (one per domain) and the blob bucket.

Key schemas are not written here: they come from ``storage/dynamodb/schema.py``, the
definitions the DynamoDB backend itself creates tables from, so the deployed tables
and the code that queries them cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constants import BLOBS_PREFIX, BUCKET_ID, TABLE_IDS
from infra.nag import acknowledge
from storage.dynamodb.schema import KeyAttribute, TableSchema, VectorIndexSchema, with_vector_index
from storage.keys import EXPORTS_PREFIX

# Days an exported archive (``exports/`` under the blob prefix) lives in the bucket.
EXPORT_DAYS = 1

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_READ_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
)
_WRITE_ACTIONS = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
)


class StorageConstruct(Construct):
    """The DynamoDB tables of the domains kept in DynamoDB, and the blob bucket.

    Args (besides scope and id):
        table_prefix: tables are ``<prefix>-<suffix>``, as ``dynamodb://<prefix>`` opens them.
        definitions: ``storage.dynamodb.schema.TABLES`` (domain -> key schema).
        domains: the domains to build tables for (all four, or none without DynamoDB).
        removal: applied to the tables and the bucket.
        deletion_protection: DynamoDB deletion protection on every table.
        noncurrent_version_days: days an overwritten or deleted object's old version
            is kept (the bucket is versioned) before S3 expires it.
        cors_origins: origins browsers may upload from with a presigned POST (``*``
            when none are configured).
        ttl_domains: tables whose TTL (on ``expires_at``) is on; ``None``: those the
            definitions give one (the stack passes the domains with a retention age).
        stream_domains: tables with a stream of old images (the memory table when
            expired threads must cascade: ``RetentionConstruct``).
        vector_dimensions: give the memory table the vector index semantic recall
            searches (``schema.with_vector_index``), of this many dimensions; ``None``:
            no vector index.

    Attributes:
        tables: domain -> table (only the domains given).
        bucket: the blob bucket; objects live under ``blobs/``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_prefix: str,
        definitions: Mapping[str, TableSchema],
        domains: Sequence[str],
        removal: RemovalPolicy,
        deletion_protection: bool,
        noncurrent_version_days: int = 30,
        cors_origins: Sequence[str] = (),
        ttl_domains: Sequence[str] | None = None,
        stream_domains: Sequence[str] = (),
        vector_dimensions: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.ttl_domains = tuple(
            d for d in domains if (d in ttl_domains if ttl_domains is not None
                                   else definitions[d].ttl_attribute)
        )
        self.stream_domains = tuple(stream_domains)
        self.noncurrent_version_days = noncurrent_version_days
        self.definitions = {d: definitions[d] for d in domains}
        if vector_dimensions is not None and "memory" in self.definitions:
            self.definitions["memory"] = with_vector_index(
                self.definitions["memory"], vector_dimensions
            )
        self.tables = {
            domain: self._build_table(
                domain,
                f"{table_prefix}-{domain}",
                self.definitions[domain],
                removal=removal,
                deletion_protection=deletion_protection,
            )
            for domain in domains
        }
        self.bucket = self._build_bucket(removal, list(cors_origins) or ["*"])

    def _build_table(
        self,
        domain: str,
        table_name: str,
        definition: TableSchema,
        *,
        removal: RemovalPolicy,
        deletion_protection: bool,
    ) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            TABLE_IDS[domain],
            table_name=table_name,
            partition_key=_attribute(definition.partition_key),
            sort_key=_attribute(definition.sort_key) if definition.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=(
                definition.ttl_attribute if domain in self.ttl_domains else None
            ),
            stream=(
                dynamodb.StreamViewType.OLD_IMAGE if domain in self.stream_domains else None
            ),
            deletion_protection=deletion_protection,
            removal_policy=removal,
        )
        for index in definition.indexes:
            projection, non_key = _projection(index.projection)
            if index.local:
                if index.sort_key is None:
                    raise ValueError(f"local index {index.name} of {domain} needs a sort key")
                table.add_local_secondary_index(
                    index_name=index.name,
                    sort_key=_attribute(index.sort_key),
                    projection_type=projection,
                    non_key_attributes=non_key,
                )
            else:
                table.add_global_secondary_index(
                    index_name=index.name,
                    partition_key=_attribute(index.partition_key),
                    sort_key=_attribute(index.sort_key) if index.sort_key else None,
                    projection_type=projection,
                    non_key_attributes=non_key,
                )
        if definition.vector_index is not None:
            _add_vector_index(table, definition.vector_index, definition.attributes)
        return table

    def _build_bucket(self, removal: RemovalPolicy, origins: list[str]) -> s3.Bucket:
        destroy = removal == RemovalPolicy.DESTROY
        bucket = s3.Bucket(
            self,
            BUCKET_ID,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                # Versioning keeps a deleted blob as a noncurrent version (recoverable
                # from a mistake) for these days, then S3 expires it; the delete marker
                # left behind is removed once no version is under it.
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=Duration.days(self.noncurrent_version_days),
                    expired_object_delete_marker=True,
                ),
                # Exported archives are a resource's personal data behind a link that
                # lives minutes: S3 deletes them after a day, and their noncurrent
                # versions a day later (not after the bucket-wide retention above).
                s3.LifecycleRule(
                    id="expire-exports",
                    prefix=f"{BLOBS_PREFIX}/{EXPORTS_PREFIX}",
                    expiration=Duration.days(EXPORT_DAYS),
                    noncurrent_version_expiration=Duration.days(EXPORT_DAYS),
                ),
            ],
            # Browsers upload large attachments straight to S3 with a presigned POST.
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST, s3.HttpMethods.GET],
                    allowed_origins=origins,
                    allowed_headers=["*"],
                    max_age=3000,
                )
            ],
            removal_policy=removal,
            # A dev stack is disposable: empty the bucket so `cdk destroy` can delete it.
            auto_delete_objects=destroy,
        )
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "Server access logs would need a second bucket per stack; the bucket is private, "
            "TLS-only and reached through the functions' roles and short-lived presigned URLs.",
        )
        return bucket

    def grant_blobs(self, grantee: iam.IGrantable, *, write: bool, delete: bool) -> None:
        """Read (and optionally write/delete) objects under ``blobs/`` only."""
        actions = ["s3:GetObject"]
        if write:
            actions.append("s3:PutObject")
        if delete:
            actions.append("s3:DeleteObject")
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=actions, resources=[self.bucket.arn_for_objects(f"{BLOBS_PREFIX}/*")]
            )
        )
        # Listing (deleting a thread's attachments by prefix) within blobs/ only.
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{BLOBS_PREFIX}/*"]}},
            )
        )

    def grant_setup(self, grantee: iam.IGrantable) -> None:
        """What ``storage.setup()`` reads: DescribeTable on each table, HeadBucket.

        Only the deploy-time setup function gets these; the request functions never
        describe a table or head the bucket.
        """
        if self.tables:
            grantee.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["dynamodb:DescribeTable"],
                    resources=[t.table_arn for t in self.tables.values()],
                )
            )
        # HeadBucket is authorized by s3:ListBucket and carries no prefix.
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn])
        )

    def grant_table(self, grantee: iam.IGrantable, domain: str, *, write: bool) -> None:
        """Item-level access to one domain's table and its named indexes (no wildcards)."""
        table = self.tables[domain]
        resources = [table.table_arn] + [
            f"{table.table_arn}/index/{index.name}" for index in self.definitions[domain].indexes
        ]
        actions = list(_READ_ACTIONS) + (list(_WRITE_ACTIONS) if write else [])
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=resources)
        )
        vector_index = self.definitions[domain].vector_index
        if vector_index is not None:
            # A search is a read; writing a vector is an UpdateItem of the message item.
            grantee.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["dynamodb:SearchVectors"],
                    resources=[f"{table.table_arn}/index/{vector_index.name}"],
                )
            )


def _add_vector_index(
    table: dynamodb.Table, index: VectorIndexSchema, attributes: Mapping[str, str]
) -> None:
    """Declare ``index`` on the table (``VectorIndexes``; aws-cdk-lib has no L2 API yet).

    The search schema's attributes must also be in ``AttributeDefinitions``, which the
    L2 table fills from key attributes only: it is overridden with ``attributes`` (every
    attribute the table definition names), so the two cannot disagree.
    """
    projection, non_key = _projection(index.projection)
    cfn = table.node.default_child
    assert isinstance(cfn, dynamodb.CfnTable)
    cfn.vector_indexes = [
        dynamodb.CfnTable.VectorIndexProperty(
            index_name=index.name,
            vector_attribute=dynamodb.CfnTable.VectorAttributeProperty(
                attribute_name=index.vector_attribute
            ),
            dimensions=index.dimensions,
            distance_function=index.distance,
            search_schema=[
                dynamodb.CfnTable.SearchSchemaElementProperty(
                    attribute_name=index.partition_key.name, search_schema_element_type="HASH"
                ),
                *(
                    dynamodb.CfnTable.SearchSchemaElementProperty(
                        attribute_name=f.name, search_schema_element_type="INLINE_FILTER"
                    )
                    for f in index.filters
                ),
            ],
            projection=dynamodb.CfnTable.ProjectionProperty(
                projection_type=projection.value, non_key_attributes=non_key
            ),
        )
    ]
    cfn.add_property_override(
        "AttributeDefinitions",
        [
            {"AttributeName": name, "AttributeType": kind}
            for name, kind in attributes.items()
        ],
    )
    # E3039 (AttributeDefinitions == key schema attributes) predates vector indexes, in
    # CDK's template validation and in cfn-lint 1.58 alike: it counts key schemas only.
    reason = (
        "A vector index's SearchSchema attributes must be declared in AttributeDefinitions "
        "(AWS::DynamoDB::Table SearchSchemaElement); this rule counts key schemas only."
    )
    acknowledge(cfn, "CloudFormation-Validate::E3039", reason)
    cfn.add_metadata("cfn-lint", {"config": {"ignore_checks": ["E3039"]}})


def _attribute(key: KeyAttribute) -> dynamodb.Attribute:
    if key.type not in _ATTRIBUTE_TYPES:
        raise ValueError(f"key attribute {key.name} has unknown type {key.type!r}")
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


def _projection(
    projection: str | tuple[str, ...],
) -> tuple[dynamodb.ProjectionType, list[str] | None]:
    if projection == "ALL":
        return dynamodb.ProjectionType.ALL, None
    if projection == "KEYS_ONLY":
        return dynamodb.ProjectionType.KEYS_ONLY, None
    if isinstance(projection, tuple):
        return dynamodb.ProjectionType.INCLUDE, list(projection)
    raise ValueError(f"unknown projection {projection!r}")
