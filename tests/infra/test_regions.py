"""Regions: a synth for a region that lacks a layer or the Data API stops, saying what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import Environment

from infra.app import build_app
from infra.config import ConfigError, StowageConfig, check_region, supported_regions
from infra.constants import DATA_API, LWA_DEFAULT_VERSION, POWERTOOLS, REGIONS, WEB_ADAPTER

from .conftest import Synth


@pytest.mark.parametrize(
    ("region", "fragment"),
    [
        # The adapter's arm64 layer arrived later there: its numbers are not 27.
        ("ap-south-2", "lwaLayerVersion"),
        ("eu-central-2", "list-layer-versions --region eu-central-2"),
        ("me-central-1", "lwaLayerVersion"),
        # Release 1.0.0 was not published in me-south-1; Powertools' parameter is missing.
        ("me-south-1", "powertoolsLayerArn"),
        ("ap-east-2", "Powertools"),
        ("ap-southeast-6", "Powertools"),
        ("xx-nowhere-1", "not in Stowage's region table"),
    ],
)
def test_a_region_missing_a_layer_stops_the_synth_naming_it(
    region: str, fragment: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"cannot deploy Stowage-dev to") as caught:
        build_app({"stage": "dev"}, outdir=str(tmp_path), env=Environment(region=region),
                  nag=False)
    assert fragment in str(caught.value)
    assert not list(tmp_path.iterdir())  # stopped before anything was synthesized


@pytest.mark.parametrize("region", ["ap-south-2", "ap-southeast-4", "ap-southeast-6"])
def test_postgres_in_a_region_without_the_data_api_is_refused(region: str) -> None:
    config = StowageConfig.from_context({"postgres": "true"})

    with pytest.raises(ConfigError, match="RDS Data API"):
        check_region(config, region)


def test_overrides_let_a_region_with_other_layer_versions_through() -> None:
    # ap-south-2 has both layers, numbered differently: the deployer names the versions.
    config = StowageConfig.from_context(
        {"lwaLayerVersion": "3",
         "powertoolsLayerArn": "arn:aws:lambda:ap-south-2:123456789012:layer:pt:1"}
    )

    check_region(config, "ap-south-2")  # no error
    with pytest.raises(ConfigError, match="Data API"):
        check_region(StowageConfig.from_context({"postgres": "true", "lwaLayerVersion": "3"}),
                     "ap-south-2")


def test_every_listed_default_region_offers_all_three() -> None:
    config = StowageConfig.from_context({"postgres": "true"})

    for region in supported_regions(config):
        assert REGIONS[region] == {WEB_ADAPTER, POWERTOOLS, DATA_API}
        check_region(config, region)
    assert {"us-east-1", "eu-west-1", "ap-northeast-1"} <= set(supported_regions(config))
    assert LWA_DEFAULT_VERSION == 27


def test_an_environment_agnostic_template_checks_the_region_before_creating_anything(
    dev: Synth, full: Synth
) -> None:
    for synth in (dev, full):
        rule = synth.raw["Rules"]["SupportedRegion"]
        (assertion,) = rule["Assertions"]
        regions, ref = assertion["Assert"]["Fn::Contains"]
        assert ref == {"Ref": "AWS::Region"}
        assert sorted(regions) == supported_regions(synth.stack.config)
        assert "ap-south-2" not in regions and "us-east-1" in regions
        assert "make synth" in assertion["AssertDescription"]
    assert "Data API" in full.raw["Rules"]["SupportedRegion"]["Assertions"][0][
        "AssertDescription"]


def test_a_known_good_region_synthesizes_without_the_rule(tmp_path: Path) -> None:
    app, stack = build_app({"stage": "dev"}, outdir=str(tmp_path),
                           env=Environment(region="eu-west-1"), nag=False)
    template = app.synth().get_stack_by_name(stack.stack_name).template

    assert "SupportedRegion" not in template.get("Rules", {})
