"""Context validation: every bad value is a ConfigError naming the key."""

from __future__ import annotations

import pytest

from infra.config import (
    DEFAULT_MODEL,
    ConfigError,
    StowageConfig,
    is_inference_profile,
    model_base_id,
)
from infra.constants import DOMAINS


def test_defaults_are_a_disposable_dev_stack_on_dynamodb() -> None:
    config = StowageConfig.from_context({})

    assert config.stage == "dev"
    assert config.removal == "destroy"
    assert config.table_prefix == "stowage-dev"
    assert config.dynamodb_domains == DOMAINS
    assert config.postgres_domains == ()
    assert config.auth == "iam"
    assert config.default_model == f"bedrock/{DEFAULT_MODEL}"
    assert config.stack_name == "Stowage-dev"


def test_cli_strings_parse_like_json_values() -> None:
    # Given what `cdk deploy -c key=value` passes: strings only
    config = StowageConfig.from_context(
        {
            "stage": "prod",
            "postgres": "true",
            "postgresDomains": "memory, scores",
            "spanRetentionDays": "14",
            "models": "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
        }
    )

    assert config.postgres is True
    assert config.postgres_domains == ("memory", "scores")
    assert config.dynamodb_domains == ("workflows", "observability")
    assert config.span_retention_days == 14
    assert config.removal == "retain"
    assert config.table_prefix == "stowage-prod"


def test_postgres_without_domains_takes_every_domain() -> None:
    config = StowageConfig.from_context({"postgres": True})

    assert config.postgres_domains == DOMAINS
    assert config.dynamodb_domains == ()


@pytest.mark.parametrize(
    ("context", "fragment"),
    [
        ({"stage": "Prod!"}, "stage"),
        ({"postgres": "maybe"}, "postgres"),
        ({"postgresDomains": "memory"}, "postgres is off"),
        ({"postgres": True, "postgresDomains": "memory,blobs"}, "unknown domains"),
        ({"auth": "basic"}, "auth"),
        ({"models": "gpt-4o"}, "Bedrock model id"),
        ({"models": ["anthropic.claude-v2", ""]}, "empty entry"),
        ({"spanRetentionDays": "0"}, "spanRetentionDays"),
        ({"spanRetentionDays": "ten"}, "spanRetentionDays"),
        ({"removalPolicy": "snapshot"}, "removalPolicy"),
        ({"tablePrefix": "a/b"}, "tablePrefix"),
        ({"agentsModule": "my agents"}, "agentsModule"),
        ({"extraPackages": "pkg.sub"}, "extraPackages"),
        ({"alarmEmail": "nobody"}, "alarmEmail"),
        ({"throttleRateLimit": True}, "throttleRateLimit"),
    ],
)
def test_bad_context_is_rejected_with_the_key_named(context: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        StowageConfig.from_context(context)


def test_config_is_frozen() -> None:
    config = StowageConfig.from_context({})

    with pytest.raises(AttributeError):
        config.stage = "prod"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("model_id", "base", "profile"),
    [
        (
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            True,
        ),
        (
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            True,
        ),
        ("amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0", False),
    ],
)
def test_inference_profiles_map_to_their_foundation_model(
    model_id: str, base: str, profile: bool
) -> None:
    assert model_base_id(model_id) == base
    assert is_inference_profile(model_id) is profile
