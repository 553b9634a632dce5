"""The Stowage stack: composes the constructs and grants each function what it needs.

Environment variables are the functions' only configuration (built in
:mod:`infra.environment`); the outputs are :mod:`infra.outputs`. Grants are per
function and per resource: the api function reads and writes conversations, the
stream function runs agents, the worker writes titles and scores.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Annotations, Aws, CfnRule, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.bedrock import is_inference_profile, model_base_id
from infra.bundling import LambdaAsset
from infra.config import StowageConfig
from infra.constants import (
    API_ID,
    BLOBS_PREFIX,
    DOMAINS,
    MONITORING_ID,
    POSTGRES_ID,
    RETENTION_ID,
    SETUP_ID,
    STORAGE_ID,
    WORKER_ID,
)
from infra.constructs.api import ApiConstruct
from infra.constructs.functions import grant, powertools_layer
from infra.constructs.monitoring import MonitoringConstruct
from infra.constructs.postgres import PostgresConstruct
from infra.constructs.retention import RetentionConstruct
from infra.constructs.setup import SetupConstruct
from infra.constructs.storage import StorageConstruct
from infra.constructs.worker import WorkerConstruct
from infra.environment import (
    function_environment,
    setup_vector_environment,
    storage_urls,
)
from infra.nag import acknowledge
from infra.outputs import add_outputs
from infra.regions import supported_regions
from storage.dynamodb.schema import TableSchema

__all__ = ["REQUEST_RESUME_WAIT_S", "StowageStack", "storage_urls"]

# Which domains each function reads (False) or writes (True).
_TABLE_ACCESS: dict[str, dict[str, bool]] = {
    # Routes: threads/messages/working memory (write), runs/traces/scores (read);
    # generate runs an agent, which records its run and spans.
    "api": {"memory": True, "workflows": True, "observability": True, "scores": False},
    "stream": {"memory": True, "workflows": True, "observability": True, "scores": False},
    # Title jobs update threads; scorer jobs read runs and traces and write scores.
    "worker": {"memory": True, "workflows": False, "observability": False, "scores": True},
}
_BEDROCK_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
# The api and stream functions answer "503, retry later" after waiting this long for a
# paused Aurora cluster, instead of running into API Gateway's 29-second limit.
REQUEST_RESUME_WAIT_S = 2.0


class StowageStack(Stack):
    """Storage, optional Postgres, the API, the worker and monitoring for one stage."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StowageConfig,
        asset: LambdaAsset,
        table_definitions: Mapping[str, TableSchema],
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        removal = RemovalPolicy.DESTROY if config.removal == "destroy" else RemovalPolicy.RETAIN
        protect = not config.is_dev

        self.storage = StorageConstruct(
            self,
            STORAGE_ID,
            table_prefix=str(config.table_prefix),
            definitions=table_definitions,
            # The DynamoDB store sets up its four tables as one unit, so all four exist
            # whenever any domain uses DynamoDB; a domain moved to Postgres leaves its
            # table empty and costs nothing.
            domains=DOMAINS if config.dynamodb_domains else (),
            removal=removal,
            deletion_protection=protect,
            noncurrent_version_days=config.noncurrent_version_days,
            cors_origins=config.cors_origins,
            ttl_domains=config.ttl_domains,
            stream_domains=("memory",) if config.expiry_consumer else (),
            # Semantic recall searches the memory table's vector index (vectors live on
            # the message items); with memory on Aurora the vectors go to pgvector.
            vector_dimensions=(
                config.vector_dimensions if "memory" in config.dynamodb_domains else None
            ),
        )
        self.postgres = (
            PostgresConstruct(self, POSTGRES_ID, removal=removal, deletion_protection=protect)
            if config.postgres
            else None
        )
        layers = [powertools_layer(self, config.powertools_layer_arn)]
        self.setup = SetupConstruct(
            self,
            SETUP_ID,
            asset=asset,
            environment={**self.storage_urls(), **setup_vector_environment(self.config),
                         "POWERTOOLS_SERVICE_NAME": "stowage-setup"},
            layers=layers,
            removal=removal,
            after=[self.storage, *([self.postgres.cluster] if self.postgres else [])],
        )
        # Storage was set up by the deploy: no function touches it at a cold start.
        deployed = {"STOWAGE_SETUP": "deploy"}
        if config.cors_origins:
            deployed["STOWAGE_CORS_ORIGINS"] = ",".join(config.cors_origins)
        self.worker = WorkerConstruct(
            self,
            WORKER_ID,
            asset=asset,
            environment={
                **self._base_environment(resume_wait=None),
                **deployed,
                "POWERTOOLS_SERVICE_NAME": "stowage-worker",
            },
            layers=layers,
            removal=removal,
        )
        self.api = ApiConstruct(
            self,
            API_ID,
            asset=asset,
            environment={
                **self._base_environment(resume_wait=REQUEST_RESUME_WAIT_S),
                **deployed,
                "STOWAGE_JOBS_QUEUE_URL": self.worker.queue.queue_url,
            },
            layers=layers,
            auth=config.auth,
            stage_name=config.stage,
            throttle_rate=config.throttle_rate,
            throttle_burst=config.throttle_burst,
            lwa_layer_version=config.lwa_layer_version,
            cors_origins=config.cors_origins,
            removal=removal,
        )
        self.functions: dict[str, lambda_.Function] = {
            "api": self.api.api_function,
            "stream": self.api.stream_function,
            "worker": self.worker.function,
        }
        self.retention = RetentionConstruct(
            self,
            RETENTION_ID,
            asset=asset,
            environment={**self._base_environment(resume_wait=None), **deployed},
            layers=layers,
            removal=removal,
            retention=config.retention,
            memory_table=self.storage.tables["memory"] if config.expiry_consumer else None,
            prune_every=config.prune_interval_hours if config.pruned_domains else None,
            bucket=self.storage.bucket,
            offload_domains=config.dynamodb_domains,
        )
        for function in [*self.functions.values(), *self._retention_functions().values()]:
            # New code runs only once the storage it expects is set up.
            function.node.add_dependency(self.setup.resource)
        self._grant()
        self._grant_retention()
        self.monitoring = MonitoringConstruct(
            self,
            MONITORING_ID,
            functions={**self.functions, **self._retention_functions()},
            tables=self.storage.tables,
            dlq=self.worker.dlq,
            queue=self.worker.queue,
            rest_api=self.api.rest_api,
            alarm_email=config.alarm_email,
            dead_letters={
                name: queue
                for name, queue in (
                    ("expiry", self.retention.expiry_dlq),
                    ("prune", self.retention.prune_dlq),
                )
                if queue is not None
            },
        )
        add_outputs(self)
        self._check_region()
        if config.removal == "retain":
            self._note_retained()

    def storage_urls(
        self, *, resume_wait: float | None = None, deployed: bool = False
    ) -> dict[str, str]:
        """The ``STOWAGE_*_URL`` variables ``storage.from_env()`` reads.

        Args:
            resume_wait: how long a Postgres call waits for a paused cluster.
            deployed: the schema is migrated by the deploy (no migration on first use).
        """
        postgres_url = (
            self.postgres.url(resume_wait=resume_wait, auto_migrate=not deployed)
            if self.postgres
            else None
        )
        return storage_urls(
            self.config,
            region=self.region,
            bucket_name=self.storage.bucket.bucket_name,
            postgres_url=postgres_url,
        )

    def _base_environment(self, *, resume_wait: float | None) -> dict[str, str]:
        urls = self.storage_urls(resume_wait=resume_wait, deployed=True)
        return function_environment(self.config, urls)

    def _check_region(self) -> None:
        """Refuse, before any resource exists, a region this configuration cannot use.

        A synth for a known region was checked already (``infra.regions.check_region``);
        an environment-agnostic template carries the check as a CloudFormation rule.
        """
        if not Token.is_unresolved(self.region):
            return
        regions = supported_regions(self.config)
        CfnRule(
            self,
            "SupportedRegion",
            assertions=[
                {
                    "assert": Fn.condition_contains(regions, Aws.REGION),
                    "assertDescription": (
                        "Stowage needs the pinned Lambda Web Adapter and Powertools layers"
                        + (" and the RDS Data API" if self.config.postgres else "")
                        + f" in the target region; supported: {', '.join(regions)}. Run "
                        "`make synth` with that region set (AWS_REGION) to see what is "
                        "missing and which context option overrides it."
                    ),
                }
            ],
        )

    def _note_retained(self) -> None:
        """Say at synth that a destroyed stage leaves tables behind under fixed names."""
        names = ", ".join(f"{self.config.table_prefix}-{d}" for d in self.storage.tables)
        if not names:
            return
        Annotations.of(self).add_info(
            f"{self.stack_name} retains its DynamoDB tables ({names}), bucket and cluster "
            "on `make destroy`. Deploying this stage again after a destroy fails on the "
            "existing table names: import them (`npx cdk import` with "
            f"cdk.out/{self.stack_name}.import.json, see README 'Redeploying a retained "
            "stage') or deploy with a new `-c tablePrefix=`."
        )

    def _grant(self) -> None:
        # Every function writes offloaded attributes and replaces them on upserts, and the
        # store deletes a replaced blob then (a leak otherwise): all three need delete.
        blobs = {"api": (True, True), "stream": (True, True), "worker": (True, True)}
        for name, function in self.functions.items():
            for domain, write in _TABLE_ACCESS[name].items():
                if domain in self.config.dynamodb_domains:
                    self.storage.grant_table(function, domain, write=write)
            can_write, can_delete = blobs[name]
            self.storage.grant_blobs(function, write=can_write, delete=can_delete)
            acknowledge(
                function,
                f"AwsSolutions-IAM5[Resource::<{self._logical_id(self.storage.bucket)}.Arn>"
                f"/{BLOBS_PREFIX}/*]",
                "Blob keys are content-addressed and created at run time; the grant is "
                f"limited to the {BLOBS_PREFIX}/ prefix of this stack's bucket.",
            )
            self._grant_bedrock(function)
            if self.postgres is not None:
                self.postgres.grant_data_api(function)
        for name in ("api", "stream"):
            self.worker.queue.grant_send_messages(self.functions[name])
        self.storage.grant_setup(self.setup.function)
        if self.postgres is not None:
            self.postgres.grant_data_api(self.setup.function)

    def _retention_functions(self) -> dict[str, lambda_.Function]:
        functions = {
            "expiry": self.retention.expiry_function,
            "prune": self.retention.prune_function,
        }
        return {name: f for name, f in functions.items() if f is not None}

    def _grant_retention(self) -> None:
        # The expiry cascade writes the memory table (deletes, the thread count, a
        # tombstone) and deletes blobs; the prune deletes in Aurora and blobs.
        for name, function in self._retention_functions().items():
            if name == "expiry":
                self.storage.grant_table(function, "memory", write=True)
            if self.postgres is not None and name == "prune":
                self.postgres.grant_data_api(function)
            self.storage.grant_blobs(function, write=False, delete=True)
            acknowledge(
                function,
                f"AwsSolutions-IAM5[Resource::<{self._logical_id(self.storage.bucket)}.Arn>"
                f"/{BLOBS_PREFIX}/*]",
                "Deleted threads' blobs are found by key prefix at run time; the grant is "
                f"limited to the {BLOBS_PREFIX}/ prefix of this stack's bucket.",
            )

    def _grant_bedrock(self, function: lambda_.Function) -> None:
        resources: list[str] = []
        for model_id in self.config.model_ids:
            base = model_base_id(model_id)
            if is_inference_profile(model_id):
                resources.append(
                    f"arn:{self.partition}:bedrock:{self.region}:{self.account}"
                    f":inference-profile/{model_id}"
                )
                # A cross-region profile routes to the model in any region of its
                # geography, and Bedrock checks the caller's rights in that region.
                any_region = f"arn:{self.partition}:bedrock:*::foundation-model/{base}"
                resources.append(any_region)
                acknowledge(
                    function,
                    f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::"
                    f"foundation-model/{base}]",
                    "A cross-region inference profile invokes this one model in whichever "
                    "region of its geography has capacity; only that model id is allowed.",
                )
            else:
                resources.append(
                    f"arn:{self.partition}:bedrock:{self.region}::foundation-model/{base}"
                )
        grant(function, _BEDROCK_ACTIONS, resources)
        if self.config.embedder_model_id:
            # Queries are embedded on the answer's path (api, stream), messages in the
            # worker's embed jobs: InvokeModel on the one embedding model.
            grant(function, ("bedrock:InvokeModel",), [
                f"arn:{self.partition}:bedrock:{self.region}::foundation-model/"
                f"{self.config.embedder_model_id}"])

    def _logical_id(self, construct: Construct) -> str:
        child = construct.node.default_child
        assert child is not None
        return str(self.resolve(self.get_logical_id(child)))  # type: ignore[arg-type]
