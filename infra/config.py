"""The deployment's configuration: a frozen dataclass validated from CDK context.

Only ``infra/app.py`` reads context; constructs receive typed values from this.
Context comes from ``cdk.json`` (JSON types) or ``cdk deploy -c key=value`` (strings),
so every parser accepts both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from infra.constants import (
    DATA_API,
    DOMAINS,
    LWA_DEFAULT_VERSION,
    LWA_LAYER_ACCOUNT,
    LWA_LAYER_NAME,
    POWERTOOLS,
    POWERTOOLS_LAYER_NAME,
    POWERTOOLS_LAYER_VERSION,
    POWERTOOLS_VERSION,
    REGIONS,
    WEB_ADAPTER,
)
from storage.errors import ValidationError
from storage.lifecycle.retention import STORAGE_DOMAIN, Retention

AuthMode = Literal["iam", "cognito"]
RemovalMode = Literal["destroy", "retain"]

DEFAULT_MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
DEFAULT_EMBEDDER = "bedrock/amazon.titan-embed-text-v2:0"
# Titan Text Embeddings V2 offers these vector sizes (Bedrock user guide).
EMBEDDER_DIMENSIONS = {DEFAULT_EMBEDDER: (256, 512, 1024)}
_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_TABLE_PREFIX = re.compile(r"^[a-zA-Z0-9_.-]{3,200}$")
_MODEL_ID = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+(:[0-9]+)?(:[0-9]+k)?$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
_LAYER_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[A-Za-z0-9_-]+:[0-9]+$")
# Cross-region inference profiles are the model id with a geography prefix.
_PROFILE_PREFIXES = ("us", "eu", "apac", "us-gov", "ca", "jp", "au", "global")


class ConfigError(ValueError):
    """A context value is missing, malformed or inconsistent with another."""


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
        _check(bool(_STAGE.match(self.stage)), f"stage {self.stage!r} must match {_STAGE.pattern}")
        if self.removal is None:
            object.__setattr__(self, "removal", "destroy" if self.is_dev else "retain")
        if self.table_prefix is None:
            object.__setattr__(self, "table_prefix", f"stowage-{self.stage}")
        unknown = sorted(set(self.postgres_domains) - set(DOMAINS))
        _check(not unknown, f"postgresDomains: unknown domains {unknown}; known: {DOMAINS}")
        _check(
            self.postgres or not self.postgres_domains, "postgresDomains is set but postgres is off"
        )
        _check(self.auth in ("iam", "cognito"), f"auth {self.auth!r} must be iam or cognito")
        _check(bool(self.model_ids), "models: at least one Bedrock model id is required")
        for model_id in self.model_ids:
            _check(
                bool(_MODEL_ID.match(model_id)),
                f"model id {model_id!r} does not look like a Bedrock model id",
            )
        _check(1 <= self.span_retention_days <= 3650, "spanRetentionDays must be 1..3650")
        _check(self.removal in ("destroy", "retain"), "removalPolicy must be destroy or retain")
        _check(
            bool(_TABLE_PREFIX.match(self.table_prefix or "")),
            f"tablePrefix {self.table_prefix!r} must match {_TABLE_PREFIX.pattern}",
        )
        _check(
            self.agents_module is None or bool(_MODULE.match(self.agents_module)),
            f"agentsModule {self.agents_module!r} is not a dotted module name",
        )
        for package in self.extra_packages:
            _check(
                bool(_MODULE.match(package)) and "." not in package,
                f"extraPackages: {package!r} must be a top-level package folder",
            )
        _check(self.lwa_layer_version >= 1, "lwaLayerVersion must be positive")
        _check(
            self.powertools_layer_arn is None or bool(_LAYER_ARN.match(self.powertools_layer_arn)),
            f"powertoolsLayerArn {self.powertools_layer_arn!r} is not a Lambda layer version ARN",
        )
        for origin in self.cors_origins:
            _check(
                origin == "*" or bool(_ORIGIN.match(origin)),
                f"corsOrigins: {origin!r} must be * or scheme://host[:port] (no path)",
            )
        _check(
            "*" not in self.cors_origins or len(self.cors_origins) == 1,
            "corsOrigins: * allows every origin and cannot be combined with others",
        )
        _check(
            1 <= self.noncurrent_version_days <= 3650, "noncurrentVersionDays must be 1..3650"
        )
        _check(self.throttle_rate >= 1 and self.throttle_burst >= 1, "throttling must be >= 1")
        _check(
            self.alarm_email is None or bool(_EMAIL.match(self.alarm_email)),
            f"alarmEmail {self.alarm_email!r} is not an email address",
        )
        _check(isinstance(self.retention, Retention), "retention must be a Retention")
        _check(1 <= self.prune_interval_hours <= 24 * 7, "pruneIntervalHours must be 1..168")
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
            _check(self.embedder is None, "embedder is set but vectorDimensions is not")
            return
        if self.embedder is None:
            object.__setattr__(self, "embedder", DEFAULT_EMBEDDER)
        sizes = EMBEDDER_DIMENSIONS.get(self.embedder or "")
        _check(sizes is not None,
               f"embedder {self.embedder!r}: known embedders are {sorted(EMBEDDER_DIMENSIONS)}")
        _check(self.vector_dimensions in (sizes or ()),
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
        stage = _text(context, "stage") or "dev"
        postgres = _flag(context, "postgres")
        span_days = _int(context, "spanRetentionDays", 30)
        models = _names(context, "models") or (DEFAULT_MODEL,)
        return cls(
            stage=stage,
            postgres=postgres,
            postgres_domains=_names(context, "postgresDomains"),
            auth=_text(context, "auth") or "iam",  # type: ignore[arg-type]
            model_ids=models,
            span_retention_days=span_days,
            removal=_text(context, "removalPolicy"),  # type: ignore[arg-type]
            table_prefix=_text(context, "tablePrefix"),
            agents_module=_text(context, "agentsModule"),
            extra_packages=_names(context, "extraPackages"),
            lwa_layer_version=_int(context, "lwaLayerVersion", LWA_DEFAULT_VERSION),
            lwa_layer_version_given=context.get("lwaLayerVersion") not in (None, ""),
            powertools_layer_arn=_text(context, "powertoolsLayerArn"),
            cors_origins=_names(context, "corsOrigins"),
            noncurrent_version_days=_int(context, "noncurrentVersionDays", 30),
            throttle_rate=_int(context, "throttleRateLimit", 50),
            throttle_burst=_int(context, "throttleBurstLimit", 100),
            alarm_email=_text(context, "alarmEmail"),
            retention=_retention(context, span_days),
            prune_interval_hours=_int(context, "pruneIntervalHours", 24),
            vector_dimensions=_int(context, "vectorDimensions", 0) or None,
            embedder=_text(context, "embedder"),
        )


def region_problems(config: StowageConfig, region: str) -> list[str]:
    """What ``region`` lacks for this configuration, each with what to do about it."""
    offered = REGIONS.get(region)
    if offered is None:
        return [
            f"{region} is not in Stowage's region table (infra/constants.py REGIONS), so "
            "the Lambda Web Adapter and Powertools layer versions and the Data API are "
            "unverified there: deploy to a listed region, or check them and add the region"
        ]
    problems = []
    if WEB_ADAPTER not in offered and not config.lwa_layer_version_given:
        problems.append(
            f"the Lambda Web Adapter arm64 layer version {config.lwa_layer_version} is not "
            f"published in {region} (layer versions are numbered per region): list them with "
            f"`aws lambda list-layer-versions --region {region} --layer-name "
            f"arn:aws:lambda:{region}:{LWA_LAYER_ACCOUNT}:layer:{LWA_LAYER_NAME}` and pass "
            "the newest as `-c lwaLayerVersion=<n>`"
        )
    if POWERTOOLS not in offered and config.powertools_layer_arn is None:
        problems.append(
            f"the Powertools layer {POWERTOOLS_LAYER_NAME}:{POWERTOOLS_LAYER_VERSION} "
            f"(Powertools {POWERTOOLS_VERSION}) is not published in {region}: publish "
            f"aws-lambda-powertools[all]=={POWERTOOLS_VERSION} as a python3.13 arm64 layer "
            "in your account and pass its ARN as `-c powertoolsLayerArn=<arn>`"
        )
    if config.postgres and DATA_API not in offered:
        problems.append(
            f"the RDS Data API (Aurora PostgreSQL) is not available in {region}, and the "
            "functions reach Aurora only through it: leave postgres off (DynamoDB) or "
            "deploy to a region that has it"
        )
    return problems


def check_region(config: StowageConfig, region: str | None) -> None:
    """Stop the synth when ``region`` lacks a layer or service the deploy needs.

    An environment-agnostic synth (no region known) is checked by CloudFormation
    instead: the template's rule (:func:`supported_regions`) refuses other regions
    before any resource is created.

    Raises:
        ConfigError: naming each missing thing and what to do.
    """
    if not region:
        return
    problems = region_problems(config, region)
    if problems:
        raise ConfigError(f"cannot deploy {config.stack_name} to {region}: " + "; ".join(problems))


def supported_regions(config: StowageConfig) -> list[str]:
    """The regions of the table where this configuration deploys as it is."""
    return sorted(r for r in REGIONS if not region_problems(config, r))


def model_base_id(model_id: str) -> str:
    """The foundation model behind an id: ``us.anthropic.x`` -> ``anthropic.x``."""
    head, _, rest = model_id.partition(".")
    return rest if head in _PROFILE_PREFIXES else model_id


def is_inference_profile(model_id: str) -> bool:
    """Cross-region inference profile ids start with a geography (``us.``, ``eu.``...)."""
    return model_base_id(model_id) != model_id


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _text(context: Mapping[str, Any], key: str) -> str | None:
    value = context.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {value!r}")
    return value.strip()


def _flag(context: Mapping[str, Any], key: str) -> bool:
    value = context.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (
        "true",
        "1",
        "yes",
        "on",
        "false",
        "0",
        "no",
        "off",
        "",
    ):
        return value.lower() in ("true", "1", "yes", "on")
    raise ConfigError(f"{key} must be true or false, got {value!r}")


def _int(context: Mapping[str, Any], key: str, default: int) -> int:
    value = context.get(key, default)
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ConfigError(f"{key} must be an integer, got {value!r}")


def _retention(context: Mapping[str, Any], span_days: int) -> Retention:
    """``retention`` (an object, or ``threads=90d,...`` from ``-c``); spans default to
    ``spanRetentionDays``, as they expired before retention existed."""
    value = context.get("retention")
    try:
        if value is None or value == "":
            entries: dict[str, Any] = {}
        elif isinstance(value, str):
            entries = dict(Retention.entries(value, source="retention"))
        elif isinstance(value, Mapping):
            entries = dict(value)
        else:
            raise ConfigError("retention must be an object like {\"threads\": \"90d\"}")
        if "spans" not in entries:
            _check(1 <= span_days <= 3650, "spanRetentionDays must be 1..3650")
            entries["spans"] = timedelta(days=span_days)
        return Retention.from_mapping(entries, source="retention")
    except ValidationError as exc:
        raise ConfigError(str(exc)) from exc


def _names(context: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """A list in cdk.json, or a comma-separated string from ``-c``."""
    value = context.get(key)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        raise ConfigError(f"{key} must be a list of strings or a comma-separated string")
    if any(not item for item in items):
        raise ConfigError(f"{key} has an empty entry: {value!r}")
    return tuple(dict.fromkeys(items))
