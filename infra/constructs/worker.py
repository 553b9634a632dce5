"""Background jobs: an SQS queue with a dead-letter queue, drained by the worker function."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import LambdaAsset
from infra.constants import DLQ_ID, QUEUE_ID, WORKER_FUNCTION_ID, WORKER_HANDLER
from infra.constructs.functions import python_function
from infra.nag import acknowledge

WORKER_TIMEOUT = Duration.minutes(2)
MAX_RECEIVE_COUNT = 5


class WorkerConstruct(Construct):
    """Title generation and scorers run here, off the request path.

    Attributes:
        queue: where the api and stream functions enqueue jobs.
        dlq: jobs that failed ``MAX_RECEIVE_COUNT`` times.
        function: the worker (Powertools batch processing, partial batch failures).
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
    ) -> None:
        super().__init__(scope, construct_id)
        self.dlq = sqs.Queue(
            self,
            DLQ_ID,
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=removal,
        )
        acknowledge(
            self.dlq,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the jobs queue; a DLQ of a DLQ "
            "would only move the same poison messages once more.",
        )
        self.queue = sqs.Queue(
            self,
            QUEUE_ID,
            # AWS's guidance for SQS event sources: six times the function timeout, so a
            # message is not redelivered while a (retried) batch is still running.
            visibility_timeout=Duration.seconds(WORKER_TIMEOUT.to_seconds() * 6),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dlq, max_receive_count=MAX_RECEIVE_COUNT
            ),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=removal,
        )
        self.function = python_function(
            self,
            WORKER_FUNCTION_ID,
            asset=asset,
            handler=WORKER_HANDLER,
            description="Stowage worker: titles and scorers from the jobs queue",
            environment=environment,
            layers=layers,
            timeout=WORKER_TIMEOUT,
            removal=removal,
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=10,
                max_batching_window=Duration.seconds(1),
                # Only the failed records return to the queue, not the whole batch.
                report_batch_item_failures=True,
            )
        )
