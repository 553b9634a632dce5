"""Storage setup at deploy time: a custom resource backed by a function from the shared asset.

CDK creates the tables and the bucket; the Postgres schema needs its migrations run.
Both used to happen at every cold start of every function (``storage.setup()``: four
DescribeTable and a HeadBucket, or a statement that wakes a paused Aurora cluster).
Here they run once per deploy instead: the custom resource carries the asset's hash,
so any code change (new migrations included) sends CloudFormation an ``Update`` that
runs ``handlers.setup`` before the request functions (which depend on it) change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct, IConstruct

from infra.bundling import LambdaAsset
from infra.constants import SETUP_FUNCTION_ID, SETUP_HANDLER, SETUP_RESOURCE_ID
from infra.constructs.functions import python_function

# Long enough to wait for an auto-paused cluster to resume and run every migration.
SETUP_TIMEOUT = Duration.minutes(5)
RESOURCE_TYPE = "Custom::StowageStorageSetup"


class SetupConstruct(Construct):
    """The setup function and the custom resource that runs it on every deploy.

    Args (besides scope and id):
        asset: the shared Lambda asset.
        environment: the storage variables (as the request functions get them).
        layers: the Powertools layer (the handler imports nothing from it, but the
            storage code shares the functions' runtime exactly).
        removal: applied to the function's log group.
        after: what must exist before the setup runs (tables, bucket, the cluster and
            its writer instance).

    Attributes:
        function: the setup function (grant it what ``storage.setup()`` touches).
        resource: the custom resource; make the request functions depend on it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        asset: LambdaAsset,
        environment: Mapping[str, str],
        layers: Sequence[lambda_.ILayerVersion],
        removal: RemovalPolicy,
        after: Sequence[IConstruct],
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = python_function(
            self,
            SETUP_FUNCTION_ID,
            asset=asset,
            handler=SETUP_HANDLER,
            description="Stowage storage setup (tables check, migrations), run by each deploy",
            environment=environment,
            layers=layers,
            timeout=SETUP_TIMEOUT,
            memory_size=512,
            removal=removal,
        )
        self.resource = CustomResource(
            self,
            SETUP_RESOURCE_ID,
            service_token=self.function.function_arn,
            resource_type=RESOURCE_TYPE,
            # A new asset (code, migrations) or other storage is an Update: it runs again.
            properties={
                "AssetHash": asset.asset_hash,
                "Storage": {k: v for k, v in environment.items() if k.endswith("_URL")},
            },
        )
        for construct in after:
            self.resource.node.add_dependency(construct)
