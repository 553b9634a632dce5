"""The deployment's configuration: a frozen dataclass validated from CDK context.

Only ``infra/app.py`` reads context; constructs receive typed values from this.
Reading the context values is :mod:`infra.context`; the Bedrock ids are
:mod:`infra.bedrock`; whether a region can take the configuration is
:mod:`infra.regions` (its checks are importable from here too).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from infra import context as ctx
from infra.bedrock import (
    DEFAULT_EMBEDDER,
    DEFAULT_MODEL,
    EMBEDDER_DIMENSIONS,
    MODEL_ID,
    is_inference_profile,
    model_base_id,
)
from infra.constants import DOMAINS, LWA_DEFAULT_VERSION
from infra.context import ConfigError, check
from infra.regions import check_region, region_problems, supported_regions
from storage.lifecycle.retention import STORAGE_DOMAIN, Retention

__all__ = [
    "DEFAULT_EMBEDDER",
    "DEFAULT_MODEL",
    "EMBEDDER_DIMENSIONS",
    "AuthMode",
    "ConfigError",
    "RemovalMode",
    "StowageConfig",
    "check_region",
    "is_inference_profile",
    "model_base_id",
    "region_problems",
    "supported_regions",
]

AuthMode = Literal["iam", "cognito"]
RemovalMode = Literal["destroy", "retain"]

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_TABLE_PREFIX = re.compile(r"^[a-zA-Z0-9_.-]{3,200}$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
_LAYER_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[A-Za-z0-9_-]+:[0-9]+$")


@dataclass(frozen=True, kw_only=True)
class StowageConfig:
    """Everything the stack needs to know, already validated.

    Attributes:
        stage: deployment stage (``dev``, ``prod``...); names the stack and the tables.
        postgres: deploy the Aurora Serverless v2 cluster.
        postgres_domains: domains stored in Postgres instead of DynamoDB.
        auth: ``iam`` (SigV4 callers) or ``cognito`` (a user pool's JWTs).
        model_ids: Bedrock model or inference-profile ids the functions may invoke;
            the first one is the default model.
        span_retention_days: spans expire (DynamoDB TTL) after this many days.
        removal: what ``cdk destroy`` does with stateful resources; ``destroy`` in dev,
            ``retain`` elsewhere unless given.
        table_prefix: DynamoDB tables are ``<prefix>-<domain>``; ``stowage-<stage>`` unless
            given.
        agents_module: the module defining the agents (``STOWAGE_AGENTS_MODULE``), if any.
        extra_packages: project folders added to the Lambda asset (e.g. your agents).
        lwa_layer_version: version of the Lambda Web Adapter arm64 layer.
        lwa_layer_version_given: ``lwaLayerVersion`` was set (the region check then
            trusts it: layer versions are numbered per region).
        powertools_layer_arn: a Powertools layer ARN instead of the pinned public one
            (for a region where it is not published).
        cors_origins: browser origins allowed to call the API (``*`` for any); empty:
            no CORS (SigV4 and server-side callers need none).
        noncurrent_version_days: days an overwritten or deleted blob stays in the bucket
            as a noncurrent version before S3 removes it.
        throttle_rate: steady-state requests per second the API stage accepts.
        throttle_burst: burst of requests the API stage accepts.
        alarm_email: subscribed to the alarm topic when given.
        retention: the maximum age per domain (context ``retention``: an object
            ``{"threads": "90d", ...}`` or ``threads=90d,...``); ``spans`` defaults to
            ``spanRetentionDays``. Functions get it as ``STOWAGE_RETENTION``.
        prune_interval_hours: how often the scheduled prune runs on the PostgreSQL
            domains with an age (``pruneIntervalHours``; each run may wake a paused
            Aurora cluster, hence daily by default).
        vector_dimensions: semantic recall on, with vectors of this size (the memory
            table's vector index and the embedder agree on it); ``None``: off.
        embedder: the embedder semantic recall uses (``bedrock/<model-id>``); Titan
            Text Embeddings V2 unless given.
    """

    stage: str = "dev"
    postgres: bool = False
    postgres_domains: tuple[str, ...] = ()
    auth: AuthMode = "iam"
    model_ids: tuple[str, ...] = (DEFAULT_MODEL,)
    span_retention_days: int = 30
    removal: RemovalMode | None = None
    table_prefix: str | None = None
    agents_module: str | None = None
    extra_packages: tuple[str, ...] = ()
    lwa_layer_version: int = LWA_DEFAULT_VERSION
    lwa_layer_version_given: bool = False
    powertools_layer_arn: str | None = None
    cors_origins: tuple[str, ...] = ()
    noncurrent_version_days: int = 30
    throttle_rate: int = 50
    throttle_burst: int = 100
    alarm_email: str | None = None
    retention: Retention = field(default_factory=Retention)
    prune_interval_hours: int = 24
    vector_dimensions: int | None = None
    embedder: str | None = None
    dynamodb_domains: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        check(bool(_STAGE.match(self.stage)), f"stage {self.stage!r} must match {_STAGE.pattern}")
        if self.removal is None:
            object.__setattr__(self, "removal", "destroy" if self.is_dev else "retain")
        if self.table_prefix is None:
            object.__setattr__(self, "table_prefix", f"stowage-{self.stage}")
        unknown = sorted(set(self.postgres_domains) - set(DOMAINS))
        check(not unknown, f"postgresDomains: unknown domains {unknown}; known: {DOMAINS}")
        check(
            self.postgres or not self.postgres_domains, "postgresDomains is set but postgres is off"
        )
        check(self.auth in ("iam", "cognito"), f"auth {self.auth!r} must be iam or cognito")
        check(bool(self.model_ids), "models: at least one Bedrock model id is required")
        for model_id in self.model_ids:
            check(
                bool(MODEL_ID.match(model_id)),
                f"model id {model_id!r} does not look like a Bedrock model id",
            )
        check(1 <= self.span_retention_days <= 3650, "spanRetentionDays must be 1..3650")
        check(self.removal in ("destroy", "retain"), "removalPolicy must be destroy or retain")
        check(
            bool(_TABLE_PREFIX.match(self.table_prefix or "")),
            f"tablePrefix {self.table_prefix!r} must match {_TABLE_PREFIX.pattern}",
        )
        check(
            self.agents_module is None or bool(_MODULE.match(self.agents_module)),
            f"agentsModule {self.agents_module!r} is not a dotted module name",
        )
        for package in self.extra_packages:
            check(
                bool(_MODULE.match(package)) and "." not in package,
                f"extraPackages: {package!r} must be a top-level package folder",
            )
        check(self.lwa_layer_version >= 1, "lwaLayerVersion must be positive")
        check(
            self.powertools_layer_arn is None or bool(_LAYER_ARN.match(self.powertools_layer_arn)),
            f"powertoolsLayerArn {self.powertools_layer_arn!r} is not a Lambda layer version ARN",
        )
        for origin in self.cors_origins:
            check(
                origin == "*" or bool(_ORIGIN.match(origin)),
                f"corsOrigins: {origin!r} must be * or scheme://host[:port] (no path)",
            )
        check(
            "*" not in self.cors_origins or len(self.cors_origins) == 1,
            "corsOrigins: * allows every origin and cannot be combined with others",
        )
        check(
            1 <= self.noncurrent_version_days <= 3650, "noncurrentVersionDays must be 1..3650"
        )
        check(self.throttle_rate >= 1 and self.throttle_burst >= 1, "throttling must be >= 1")
        check(
            self.alarm_email is None or bool(_EMAIL.match(self.alarm_email)),
            f"alarmEmail {self.alarm_email!r} is not an email address",
        )
        check(isinstance(self.retention, Retention), "retention must be a Retention")
        check(1 <= self.prune_interval_hours <= 24 * 7, "pruneIntervalHours must be 1..168")
        self._check_semantic_recall()
        if self.postgres and not self.postgres_domains:
            object.__setattr__(self, "postgres_domains", DOMAINS)
        object.__setattr__(
            self, "dynamodb_domains", tuple(d for d in DOMAINS if d not in self.postgres_domains)
        )

    def _aged_domains(self) -> tuple[str, ...]:
        """Storage domains whose records have a maximum age."""
        return tuple(STORAGE_DOMAIN[key] for key in self.retention.ages())

    @property
    def ttl_domains(self) -> tuple[str, ...]:
        """DynamoDB tables whose TTL must be on (observability always: spans expire)."""
        aged = set(self._aged_domains()) | {"observability"}
        return tuple(d for d in self.dynamodb_domains if d in aged)

    @property
    def expiry_consumer(self) -> bool:
        """Threads expire by TTL on DynamoDB, so their expiry must cascade (a stream)."""
        return self.retention.threads is not None and "memory" in self.dynamodb_domains

    @property
    def pruned_domains(self) -> tuple[str, ...]:
        """PostgreSQL domains with an age: the scheduled prune deletes there."""
        return tuple(d for d in self.postgres_domains if d in self._aged_domains())

    def _check_semantic_recall(self) -> None:
        if self.vector_dimensions is None:
            check(self.embedder is None, "embedder is set but vectorDimensions is not")
            return
        if self.embedder is None:
            object.__setattr__(self, "embedder", DEFAULT_EMBEDDER)
        sizes = EMBEDDER_DIMENSIONS.get(self.embedder or "")
        check(sizes is not None,
               f"embedder {self.embedder!r}: known embedders are {sorted(EMBEDDER_DIMENSIONS)}")
        check(self.vector_dimensions in (sizes or ()),
               f"vectorDimensions must be one of {sizes} for {self.embedder}")

    @property
    def embedder_model_id(self) -> str | None:
        """The Bedrock model id of the embedder (``None`` when semantic recall is off)."""
        return self.embedder.partition("/")[2] if self.embedder else None

    @property
    def is_dev(self) -> bool:
        """Dev stacks are disposable: no deletion protection, resources destroyed with it."""
        return self.stage == "dev"

    @property
    def stack_name(self) -> str:
        """``Stowage-<stage>``."""
        return f"Stowage-{self.stage}"

    @property
    def default_model(self) -> str:
        """The agents' model as ``STOWAGE_MODEL`` names it (``bedrock/<id>``)."""
        return f"bedrock/{self.model_ids[0]}"

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> StowageConfig:
        """Validate CDK context values (``cdk.json`` or ``-c key=value``) into a config.

        Raises:
            ConfigError: a value is malformed or contradicts another.
        """
        stage = ctx.text(context, "stage") or "dev"
        postgres = ctx.flag(context, "postgres")
        span_days = ctx.integer(context, "spanRetentionDays", 30)
        models = ctx.names(context, "models") or (DEFAULT_MODEL,)
        return cls(
            stage=stage,
            postgres=postgres,
            postgres_domains=ctx.names(context, "postgresDomains"),
            auth=ctx.text(context, "auth") or "iam",  # type: ignore[arg-type]
            model_ids=models,
            span_retention_days=span_days,
            removal=ctx.text(context, "removalPolicy"),  # type: ignore[arg-type]
            table_prefix=ctx.text(context, "tablePrefix"),
            agents_module=ctx.text(context, "agentsModule"),
            extra_packages=ctx.names(context, "extraPackages"),
            lwa_layer_version=ctx.integer(context, "lwaLayerVersion", LWA_DEFAULT_VERSION),
            lwa_layer_version_given=context.get("lwaLayerVersion") not in (None, ""),
            powertools_layer_arn=ctx.text(context, "powertoolsLayerArn"),
            cors_origins=ctx.names(context, "corsOrigins"),
            noncurrent_version_days=ctx.integer(context, "noncurrentVersionDays", 30),
            throttle_rate=ctx.integer(context, "throttleRateLimit", 50),
            throttle_burst=ctx.integer(context, "throttleBurstLimit", 100),
            alarm_email=ctx.text(context, "alarmEmail"),
            retention=ctx.retention(context, span_days),
            prune_interval_hours=ctx.integer(context, "pruneIntervalHours", 24),
            vector_dimensions=ctx.integer(context, "vectorDimensions", 0) or None,
            embedder=ctx.text(context, "embedder"),
        )
