"""The stack's CloudFormation outputs (names in :mod:`infra.constants`, read by tests
and by ``make`` targets that talk to a deployed stage)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import CfnOutput

from infra.constants import (
    OUTPUT_API_URL,
    OUTPUT_BUCKET,
    OUTPUT_CLUSTER_ARN,
    OUTPUT_DASHBOARD,
    OUTPUT_DLQ_URL,
    OUTPUT_QUEUE_URL,
    OUTPUT_SECRET_ARN,
    OUTPUT_STORAGE_URL,
    OUTPUT_STREAM_URL,
    OUTPUT_TABLE_PREFIX,
    OUTPUT_USER_POOL_CLIENT_ID,
    OUTPUT_USER_POOL_ID,
)

if TYPE_CHECKING:
    from infra.stack import StowageStack


def add_outputs(stack: StowageStack) -> None:
    """The API's URLs, the bucket, tables, queues, dashboard, storage URL and, when
    deployed, the cluster's and the user pool's identifiers."""
    api = stack.api
    CfnOutput(stack, OUTPUT_API_URL, value=api.url(), description="REST API stage URL")
    CfnOutput(
        stack,
        OUTPUT_STREAM_URL,
        value=f"{api.url()}api/agents/<agentId>/stream",
        description="POST here for a streamed answer (text/event-stream)",
    )
    CfnOutput(stack, OUTPUT_BUCKET, value=stack.storage.bucket.bucket_name)
    CfnOutput(stack, OUTPUT_TABLE_PREFIX, value=str(stack.config.table_prefix))
    CfnOutput(stack, OUTPUT_QUEUE_URL, value=stack.worker.queue.queue_url)
    CfnOutput(stack, OUTPUT_DLQ_URL, value=stack.worker.dlq.queue_url)
    CfnOutput(stack, OUTPUT_DASHBOARD, value=stack.monitoring.dashboard.dashboard_name)
    CfnOutput(
        stack,
        OUTPUT_STORAGE_URL,
        value=stack.storage_urls()["STOWAGE_STORAGE_URL"],
        description="STOWAGE_STORAGE_URL for scripts that share the deployed storage",
    )
    if stack.postgres is not None:
        CfnOutput(stack, OUTPUT_CLUSTER_ARN, value=stack.postgres.cluster.cluster_arn)
        CfnOutput(stack, OUTPUT_SECRET_ARN, value=stack.postgres.secret_arn)
    if api.user_pool is not None and api.user_pool_client is not None:
        CfnOutput(stack, OUTPUT_USER_POOL_ID, value=api.user_pool.user_pool_id)
        CfnOutput(
            stack, OUTPUT_USER_POOL_CLIENT_ID, value=api.user_pool_client.user_pool_client_id
        )
