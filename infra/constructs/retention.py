"""Retention in the stack: the TTL cascade of expired threads and the scheduled prune.

Present only when a retention age needs it (``infra.config.StowageConfig``):

* DynamoDB threads with an age: the memory table streams old images; an expiry
  function (``handlers.expiry``) takes the TTL deletes of thread items (the event
  source mapping filters to them, so no other write invokes it) and deletes what was
  under each thread. Failed records are reported one by one, the batch is bisected on
  error, and a record still failing after the retries lands in a dead-letter queue.
* PostgreSQL domains with an age: an EventBridge schedule runs ``handlers.prune``.
* DynamoDB runs, spans and scores with an age: TTL deletes their items, and a bucket
  lifecycle rule expires their offloaded attributes a day after the items can go.

Grants are the stack's (it composes constructs and grants); this construct builds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import LambdaAsset
from infra.constants import (
    BLOBS_PREFIX,
    EXPIRY_DLQ_ID,
    EXPIRY_FUNCTION_ID,
    EXPIRY_HANDLER,
    PRUNE_DLQ_ID,
    PRUNE_FUNCTION_ID,
    PRUNE_HANDLER,
    PRUNE_SCHEDULE_ID,
)
from infra.constructs.functions import python_function
from infra.nag import acknowledge
from storage.lifecycle.retention import Retention

EXPIRY_TIMEOUT = Duration.minutes(5)
EXPIRY_BATCH_SIZE = 25
EXPIRY_RETRIES = 10
PRUNE_TIMEOUT = Duration.minutes(15)
TTL_PRINCIPAL = "dynamodb.amazonaws.com"


def expiry_filter() -> Mapping[str, Any]:
    """The event filter: TTL deletes (by DynamoDB itself) of thread items, nothing else."""
    return lambda_.FilterCriteria.filter(
        {
            "eventName": lambda_.FilterRule.is_equal("REMOVE"),
            "userIdentity": {
                "type": lambda_.FilterRule.is_equal("Service"),
                "principalId": lambda_.FilterRule.is_equal(TTL_PRINCIPAL),
            },
            "dynamodb": {"OldImage": {"sk": {"S": lambda_.FilterRule.is_equal("THREAD")}}},
        }
    )


class RetentionConstruct(Construct):
    """The expiry consumer and the prune schedule a configuration needs.

    Args (besides scope and id):
        asset, environment, layers, removal: as every function's.
        retention: the ages.
        memory_table: the memory table (with a stream) when threads expire by TTL.
        prune_every: hours between scheduled prunes; ``None``: no schedule.
        bucket: the blob bucket; ``offload_domains`` get a lifecycle rule there.
        offload_domains: DynamoDB domains whose TTL'd items may leave offloaded objects.

    Attributes:
        expiry_function, expiry_dlq: the consumer and where failing records go (or None).
        prune_function, prune_rule, prune_dlq: the scheduled prune (or None).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        asset: LambdaAsset,
        environment: Mapping[str, str],
        layers: list[lambda_.ILayerVersion],
        removal: RemovalPolicy,
        retention: Retention,
        memory_table: dynamodb.ITable | None,
        prune_every: int | None,
        bucket: s3.Bucket,
        offload_domains: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.expiry_function: lambda_.Function | None = None
        self.expiry_dlq: sqs.Queue | None = None
        self.prune_function: lambda_.Function | None = None
        self.prune_rule: events.Rule | None = None
        self.prune_dlq: sqs.Queue | None = None
        if memory_table is not None:
            self._build_expiry(asset, environment, layers, removal, memory_table)
        if prune_every is not None:
            self._build_prune(asset, environment, layers, removal, prune_every)
        self._build_offload_rules(bucket, retention, offload_domains)

    def _dlq(self, construct_id: str, removal: RemovalPolicy, what: str) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            construct_id,
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=removal,
        )
        acknowledge(
            queue,
            "AwsSolutions-SQS3",
            f"This queue is itself the dead-letter destination of {what}; nothing consumes "
            "it but an operator, so a DLQ of it would only move the same records again.",
        )
        return queue

    def _build_expiry(
        self,
        asset: LambdaAsset,
        environment: Mapping[str, str],
        layers: list[lambda_.ILayerVersion],
        removal: RemovalPolicy,
        table: dynamodb.ITable,
    ) -> None:
        self.expiry_dlq = self._dlq(EXPIRY_DLQ_ID, removal, "the expired-thread stream")
        self.expiry_function = python_function(
            self,
            EXPIRY_FUNCTION_ID,
            asset=asset,
            handler=EXPIRY_HANDLER,
            description="Stowage expiry: deletes what was under a thread DynamoDB's TTL removed",
            environment={**environment, "POWERTOOLS_SERVICE_NAME": "stowage-expiry"},
            layers=layers,
            timeout=EXPIRY_TIMEOUT,
            memory_size=512,
            removal=removal,
        )
        self.expiry_function.add_event_source(
            sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=EXPIRY_BATCH_SIZE,
                max_batching_window=Duration.seconds(5),
                # Only the failed records are retried; a failing batch is split to find them.
                report_batch_item_failures=True,
                bisect_batch_on_error=True,
                retry_attempts=EXPIRY_RETRIES,
                on_failure=sources.SqsDlq(self.expiry_dlq),
                filters=[expiry_filter()],
            )
        )

    def _build_prune(
        self,
        asset: LambdaAsset,
        environment: Mapping[str, str],
        layers: list[lambda_.ILayerVersion],
        removal: RemovalPolicy,
        hours: int,
    ) -> None:
        self.prune_function = python_function(
            self,
            PRUNE_FUNCTION_ID,
            asset=asset,
            handler=PRUNE_HANDLER,
            description="Stowage prune: deletes what is past its retention (SQL domains)",
            environment={**environment, "POWERTOOLS_SERVICE_NAME": "stowage-prune"},
            layers=layers,
            timeout=PRUNE_TIMEOUT,
            memory_size=512,
            removal=removal,
        )
        self.prune_dlq = self._dlq(PRUNE_DLQ_ID, removal, "the prune schedule")
        self.prune_rule = events.Rule(
            self,
            PRUNE_SCHEDULE_ID,
            description="Stowage: prune what is past its retention",
            schedule=events.Schedule.rate(Duration.hours(hours)),
            targets=[
                targets.LambdaFunction(
                    self.prune_function,
                    retry_attempts=2,
                    max_event_age=Duration.hours(1),
                    dead_letter_queue=self.prune_dlq,
                )
            ],
        )

    @staticmethod
    def _build_offload_rules(
        bucket: s3.Bucket, retention: Retention, domains: tuple[str, ...]
    ) -> None:
        # An item TTL deletes takes nothing with it: its offloaded attributes (written
        # with or after the item, so never older than it) expire a day after it may.
        ages = {"workflows": retention.runs, "observability": retention.spans,
                "scores": retention.scores}
        for domain in domains:
            age = ages.get(domain)
            if age is None:
                continue
            days = math.ceil(age.total_seconds() / 86_400) + 1
            bucket.add_lifecycle_rule(
                id=f"expire-offloaded-{domain}",
                prefix=f"{BLOBS_PREFIX}/offload/{domain}/",
                expiration=Duration.days(days),
            )
