"""What every Stowage function shares: runtime, CPU, asset, log group, Powertools layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import ArnFormat, AssetHashType, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.bundling import LambdaAsset
from infra.constants import (
    LWA_LAYER_ACCOUNT,
    LWA_LAYER_NAME,
    POWERTOOLS_LAYER_ACCOUNT,
    POWERTOOLS_LAYER_NAME,
    POWERTOOLS_LAYER_VERSION,
)
from infra.nag import acknowledge

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64


def powertools_layer(scope: Construct, arn: str | None = None) -> lambda_.ILayerVersion:
    """The Powertools layer for Python 3.13/arm64: the pinned public version, or ``arn``.

    Pinned, not the ``latest`` SSM parameter: a deploy must not change the library
    under the code because Powertools released. Call it once per stack and share it.
    """
    if arn is None:
        arn = Stack.of(scope).format_arn(
            service="lambda",
            account=POWERTOOLS_LAYER_ACCOUNT,
            resource="layer",
            resource_name=f"{POWERTOOLS_LAYER_NAME}:{POWERTOOLS_LAYER_VERSION}",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
    return lambda_.LayerVersion.from_layer_version_arn(scope, "PowertoolsLayer", arn)


def web_adapter_layer(scope: Construct, version: int) -> lambda_.ILayerVersion:
    """The Lambda Web Adapter arm64 layer, published in every commercial region."""
    stack = Stack.of(scope)
    arn = stack.format_arn(
        service="lambda",
        account=LWA_LAYER_ACCOUNT,
        resource="layer",
        resource_name=f"{LWA_LAYER_NAME}:{version}",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    return lambda_.LayerVersion.from_layer_version_arn(scope, "WebAdapterLayer", arn)


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    asset: LambdaAsset,
    handler: str,
    description: str,
    environment: Mapping[str, str],
    layers: Sequence[lambda_.ILayerVersion] = (),
    timeout: Duration,
    memory_size: int = 1024,
    removal: RemovalPolicy,
    tracing: lambda_.Tracing = lambda_.Tracing.ACTIVE,
) -> lambda_.Function:
    """A Python 3.13 arm64 function from the shared asset, with its own log group.

    Args:
        scope: parent construct.
        construct_id: the function's id (see ``infra.constants``).
        asset: the built asset folder (``infra.bundling.build_asset``).
        handler: module path (``handlers.api.handler``) or the adapter's ``run.sh``.
        description: shown in the console.
        environment: the function's environment variables.
        layers: the function's layers (Powertools, the web adapter).
        timeout: the function timeout.
        memory_size: MB; more memory also means more CPU for cold starts.
        removal: applied to the log group.
        tracing: X-Ray mode (Lambda records its own segments with ``ACTIVE``).
    """
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=removal,
    )
    function = lambda_.Function(
        scope,
        construct_id,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        # Our own content hash: CDK need not fingerprint ~40 MB on every synth.
        code=lambda_.Code.from_asset(
            str(asset.path), asset_hash=asset.asset_hash, asset_hash_type=AssetHashType.CUSTOM
        ),
        handler=handler,
        description=description,
        environment=dict(environment),
        layers=list(layers),
        timeout=timeout,
        memory_size=memory_size,
        log_group=log_group,
        tracing=tracing,
    )
    acknowledge(
        function,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]",
        "The AWS managed basic execution role only lets the function write its own "
        "CloudWatch logs; nothing broader.",
    )
    acknowledge(
        function,
        "AwsSolutions-L1",
        "Python 3.13 is the runtime Stowage is built and tested for (and the Powertools "
        "layer parameter matches it); moving to 3.14 is a deliberate upgrade.",
    )
    acknowledge(
        function,
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions "
        "(added by active tracing).",
    )
    return function


def grant(function: lambda_.IFunction, actions: Sequence[str], resources: Sequence[str]) -> None:
    """Add one statement to a function's role: these actions on these resources only."""
    function.add_to_role_policy(
        iam.PolicyStatement(actions=list(actions), resources=list(resources))
    )
