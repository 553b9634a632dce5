"""Whether a region has what a configuration needs (infra/constants.py ``REGIONS``).

A synth for a known region is checked here (:func:`check_region`); an
environment-agnostic template carries :func:`supported_regions` as a CloudFormation
rule instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.constants import (
    DATA_API,
    LWA_LAYER_ACCOUNT,
    LWA_LAYER_NAME,
    POWERTOOLS,
    POWERTOOLS_LAYER_NAME,
    POWERTOOLS_LAYER_VERSION,
    POWERTOOLS_VERSION,
    REGIONS,
    WEB_ADAPTER,
)
from infra.context import ConfigError

if TYPE_CHECKING:
    from infra.config import StowageConfig


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
