"""The functions' environment variables: their only configuration.

``storage.from_env()`` reads the storage URLs; the handlers read the rest. Built from
the validated config and the values the stack knows only once its resources exist
(the bucket name, the cluster's Data API URL).
"""

from __future__ import annotations

from infra.config import StowageConfig
from infra.constants import BLOBS_PREFIX


def storage_urls(
    config: StowageConfig, *, region: str, bucket_name: str, postgres_url: str | None
) -> dict[str, str]:
    """``STOWAGE_STORAGE_URL``, per-domain overrides and ``STOWAGE_BLOBS_URL``.

    DynamoDB is the default store while any domain lives there; the Postgres domains
    get ``STOWAGE_<DOMAIN>_URL`` overrides. With every domain in Postgres, the Data API
    URL becomes the default itself.
    """
    urls = {"STOWAGE_BLOBS_URL": f"s3://{bucket_name}/{BLOBS_PREFIX}?region={region}"}
    dynamodb_url = f"dynamodb://{config.table_prefix}?region={region}"
    if postgres_url is None:
        urls["STOWAGE_STORAGE_URL"] = dynamodb_url
    elif not config.dynamodb_domains:
        urls["STOWAGE_STORAGE_URL"] = postgres_url
    else:
        urls["STOWAGE_STORAGE_URL"] = dynamodb_url
        for domain in config.postgres_domains:
            urls[f"STOWAGE_{domain.upper()}_URL"] = postgres_url
    return urls


def function_environment(config: StowageConfig, urls: dict[str, str]) -> dict[str, str]:
    """What every deployed function shares: its storage ``urls``, the model, retention,
    Powertools' settings, the agents module and semantic recall's switch."""
    env = {
        **urls,
        "STOWAGE_MODEL": config.default_model,
        "STOWAGE_RETENTION": str(config.retention),
        "STOWAGE_STAGE": config.stage,
        "POWERTOOLS_METRICS_NAMESPACE": "Stowage",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    if config.agents_module:
        env["STOWAGE_AGENTS_MODULE"] = config.agents_module
    return {**env, **recall_environment(config)}


def setup_vector_environment(config: StowageConfig) -> dict[str, str]:
    """The vector size the setup function creates indexes and tables for, if any."""
    dims = config.vector_dimensions
    return {"STOWAGE_VECTOR_DIMENSIONS": str(dims)} if dims and config.embedder else {}


def recall_environment(config: StowageConfig) -> dict[str, str]:
    """Semantic recall's switch: on with the configured embedder, else off outright.

    Off is said explicitly: left to ``auto``, a function whose bundle happened to
    hold a local model would embed into a table that has no vector index.
    """
    if not (config.vector_dimensions and config.embedder):
        return {"STOWAGE_SEMANTIC_RECALL": "off"}
    # The default agent embeds with this; the vector index has the same size.
    dims = str(config.vector_dimensions)
    return {"STOWAGE_EMBEDDER": config.embedder, "STOWAGE_EMBEDDER_DIMENSIONS": dims,
            "STOWAGE_VECTOR_DIMENSIONS": dims}
