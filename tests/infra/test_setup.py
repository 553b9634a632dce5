"""Storage setup runs at deploy time, once, before the request functions change."""

from __future__ import annotations

import json
from pathlib import Path

from infra import bundling
from infra.app import ROOT, write_import_mapping
from infra.constants import API_HANDLER, SETUP_HANDLER, STREAM_HANDLER, WORKER_HANDLER
from infra.constructs.setup import RESOURCE_TYPE

from .conftest import Synth

REQUEST_HANDLERS = (API_HANDLER, STREAM_HANDLER, WORKER_HANDLER)


def _functions(synth: Synth) -> dict[str, tuple[str, dict]]:
    return {
        r["Properties"]["Handler"]: (k, r)
        for k, r in synth.resources("AWS::Lambda::Function").items()
        if r["Properties"]["Handler"] in (*REQUEST_HANDLERS, SETUP_HANDLER)
    }


def test_one_custom_resource_runs_the_setup_function_from_the_shared_asset(synth: Synth) -> None:
    functions = _functions(synth)
    setup_id, setup = functions[SETUP_HANDLER]
    (resource,) = synth.resources(RESOURCE_TYPE).values()

    assert resource["Properties"]["ServiceToken"] == {"Fn::GetAtt": [setup_id, "Arn"]}
    # Same asset as the request functions, so the setup runs the code they will run.
    keys = {r["Properties"]["Code"]["S3Key"] for _, r in functions.values()}
    assert len(keys) == 1
    # A new asset is an Update of the resource: migrations run on every code change.
    asset = bundling.build_asset(ROOT, bundling.function_requirements(ROOT))  # cached
    assert resource["Properties"]["AssetHash"] == asset.asset_hash
    assert setup["Properties"]["Timeout"] >= 120


def test_request_functions_wait_for_the_setup_and_skip_it_at_cold_start(synth: Synth) -> None:
    (resource_id,) = synth.resources(RESOURCE_TYPE)
    functions = _functions(synth)
    for handler in REQUEST_HANDLERS:
        _, function = functions[handler]
        assert resource_id in function["DependsOn"], handler
        assert function["Properties"]["Environment"]["Variables"]["STOWAGE_SETUP"] == "deploy"
    setup_env = functions[SETUP_HANDLER][1]["Properties"]["Environment"]["Variables"]
    assert "STOWAGE_SETUP" not in setup_env


def test_setup_waits_for_tables_bucket_and_the_database_writer(dev: Synth, full: Synth) -> None:
    (dev_resource,) = dev.resources(RESOURCE_TYPE).values()
    for table in dev.stack.storage.tables.values():
        assert dev.logical_id(table) in dev_resource["DependsOn"]
    (full_resource,) = full.resources(RESOURCE_TYPE).values()
    (writer_id,) = full.resources("AWS::RDS::DBInstance")
    assert writer_id in full_resource["DependsOn"]


def test_postgres_urls_defer_migrations_to_the_deploy(full: Synth) -> None:
    functions = _functions(full)
    for handler in REQUEST_HANDLERS:
        url = json.dumps(functions[handler][1]["Properties"]["Environment"]["Variables"][
            "STOWAGE_WORKFLOWS_URL"])
        assert "auto_migrate=false" in url, handler
        # api and stream answer 503 + Retry-After rather than wait out a resume.
        assert ("resume_wait=2" in url) == (handler != WORKER_HANDLER), handler
    setup_url = json.dumps(functions[SETUP_HANDLER][1]["Properties"]["Environment"][
        "Variables"]["STOWAGE_WORKFLOWS_URL"])
    assert "auto_migrate" not in setup_url and "resume_wait" not in setup_url


def test_a_retained_stage_gets_an_import_mapping_for_its_tables(
    dev: Synth, full: Synth, tmp_path: Path
) -> None:
    assert write_import_mapping(dev.stack, tmp_path) is None  # dev deletes its tables

    path = write_import_mapping(full.stack, tmp_path)

    assert path is not None and path.name == "Stowage-prod.import.json"
    mapping = json.loads(path.read_text())
    tables = {full.logical_id(t): d for d, t in full.stack.storage.tables.items()}
    assert set(mapping) == set(tables)
    for logical_id, domain in tables.items():
        assert mapping[logical_id] == {"TableName": f"stowage-prod-{domain}"}


def test_synth_says_how_to_redeploy_a_retained_stage(full: Synth, dev: Synth) -> None:
    def infos(synth: Synth) -> list[str]:
        stack = synth.stack.node
        return [
            str(entry.data) for entry in stack.metadata if entry.type == "aws:cdk:info"
        ]

    (note,) = infos(full)
    assert "stowage-prod-memory" in note and "cdk import" in note and "tablePrefix" in note
    assert not infos(dev)
