"""The optional Aurora Serverless v2 cluster and how the functions reach it."""

from __future__ import annotations

import json

from infra.config import StowageConfig
from infra.stack import storage_urls

from .conftest import Synth

_HANDLERS = ("handlers.api.handler", "run.sh", "handlers.worker.handler")


def _functions(synth: Synth) -> dict[str, dict]:
    return {
        r["Properties"]["Handler"]: r["Properties"]
        for r in synth.resources("AWS::Lambda::Function").values()
        if r["Properties"]["Handler"] in _HANDLERS
    }


def test_no_database_or_vpc_without_postgres(dev: Synth) -> None:
    assert not dev.resources("AWS::RDS::DBCluster")
    assert not dev.resources("AWS::EC2::VPC")
    assert not dev.resources("AWS::SecretsManager::Secret")


def test_cluster_is_serverless_v2_postgres_16_scaling_to_zero(full: Synth) -> None:
    (cluster,) = full.resources("AWS::RDS::DBCluster").values()
    props = cluster["Properties"]

    assert props["Engine"] == "aurora-postgresql"
    assert int(props["EngineVersion"].split(".")[0]) >= 16
    assert props["ServerlessV2ScalingConfiguration"]["MinCapacity"] == 0
    assert props["ServerlessV2ScalingConfiguration"]["SecondsUntilAutoPause"] > 0
    assert props["EnableHttpEndpoint"] is True  # the Data API
    assert props["StorageEncrypted"] is True
    assert props["DeletionProtection"] is True
    assert props["EnableIAMDatabaseAuthentication"] is True
    (instance,) = full.resources("AWS::RDS::DBInstance").values()
    assert instance["Properties"]["DBInstanceClass"] == "db.serverless"
    assert instance["Properties"]["PubliclyAccessible"] is False


def test_credentials_live_in_secrets_manager(full: Synth) -> None:
    (cluster,) = full.resources("AWS::RDS::DBCluster").values()
    (secret_id,) = full.resources("AWS::SecretsManager::Secret")

    assert secret_id in json.dumps(cluster["Properties"]["MasterUserPassword"])
    assert "resolve:secretsmanager" in json.dumps(cluster["Properties"]["MasterUserPassword"])


def test_vpc_is_isolated_with_no_nat_and_no_ingress(full: Synth) -> None:
    assert not full.resources("AWS::EC2::NatGateway")
    assert not full.resources("AWS::EC2::InternetGateway")
    for subnet in full.resources("AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
    assert not full.resources("AWS::EC2::SecurityGroupIngress")
    for group in full.resources("AWS::EC2::SecurityGroup").values():
        assert not group["Properties"].get("SecurityGroupIngress")
    assert full.resources("AWS::EC2::FlowLog")


def test_functions_use_the_data_api_url_for_postgres_domains_only(full: Synth) -> None:
    (cluster_id,) = full.resources("AWS::RDS::DBCluster")
    for handler, props in _functions(full).items():
        env = props["Environment"]["Variables"]
        for domain in ("WORKFLOWS", "SCORES"):
            url = json.dumps(env[f"STOWAGE_{domain}_URL"])
            assert url.startswith('{"Fn::Join"') and "postgres+data-api://" in url, handler
            # The secret attachment's Ref is the secret's ARN.
            assert cluster_id in url and "SecretAttachment" in url, handler
            assert "database=stowage" in url
        assert "STOWAGE_MEMORY_URL" not in env  # memory stays on the DynamoDB default
        assert "dynamodb://stowage-prod?region=" in json.dumps(env["STOWAGE_STORAGE_URL"])
        assert "VpcConfig" not in props


def test_every_domain_on_postgres_makes_it_the_default_store() -> None:
    config = StowageConfig.from_context({"postgres": True})

    urls = storage_urls(config, region="eu-west-1", bucket_name="b", postgres_url="PG")

    assert urls == {
        "STOWAGE_STORAGE_URL": "PG",
        "STOWAGE_BLOBS_URL": "s3://b/blobs?region=eu-west-1",
    }


def test_without_postgres_everything_but_blobs_is_dynamodb() -> None:
    config = StowageConfig.from_context({"stage": "qa"})

    urls = storage_urls(config, region="eu-west-1", bucket_name="b", postgres_url=None)

    assert urls == {
        "STOWAGE_STORAGE_URL": "dynamodb://stowage-qa?region=eu-west-1",
        "STOWAGE_BLOBS_URL": "s3://b/blobs?region=eu-west-1",
    }
