"""Whole-stack checks: cdk-nag, cfn-lint, outputs, alarms, the functions' environment."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from aws_cdk import App, Stack

from infra import constants as c
from infra.nag import acknowledge
from storage.lifecycle import Retention
from tests.node import node_env

from .conftest import Synth

FUNCTION_HANDLERS = (c.API_HANDLER, c.STREAM_HANDLER, c.WORKER_HANDLER)


def test_cdk_nag_reports_no_unacknowledged_finding(synth: Synth) -> None:
    # Synth would have raised on an error; the report must also hold no warning.
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    violations = [
        (v["ruleName"], [x["constructPath"] for x in v["violatingConstructs"]])
        for plugin in report["pluginReports"]
        for v in plugin.get("violations", [])
    ]
    assert violations == []


def test_cdk_nag_actually_runs_and_fails_synth_on_a_finding(tmp_path: Path) -> None:
    from aws_cdk import aws_sqs as sqs

    from infra.nag import add_checks

    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Probe")
    sqs.Queue(stack, "Plain")  # no DLQ, no TLS-only policy: AwsSolutions findings
    add_checks(app)

    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-SQS3", "AwsSolutions-SQS4"} <= rules


def test_an_acknowledgment_needs_a_real_reason() -> None:
    stack = Stack(App(), "Probe")

    with pytest.raises(ValueError, match="specific reason"):
        acknowledge(stack, "AwsSolutions-S1", "not needed")


def test_cfn_lint_reports_no_errors(synth: Synth) -> None:
    from cfnlint.api import lint

    template = synth.outdir / f"{synth.stack.stack_name}.template.json"
    matches = lint(template.read_text(), regions=["us-east-1", "eu-west-1"])

    # Rule ids starting with E are errors; W (warnings) are CDK's own redundant DependsOn.
    errors = [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id.startswith("E")]
    assert errors == []
    assert all(m.rule.id[0] in "WI" for m in matches)


def test_outputs_name_what_a_user_needs_after_deploy(dev: Synth, full: Synth) -> None:
    common = {
        c.OUTPUT_API_URL,
        c.OUTPUT_STREAM_URL,
        c.OUTPUT_BUCKET,
        c.OUTPUT_TABLE_PREFIX,
        c.OUTPUT_QUEUE_URL,
        c.OUTPUT_DLQ_URL,
        c.OUTPUT_DASHBOARD,
        c.OUTPUT_STORAGE_URL,
    }
    optional = {
        c.OUTPUT_CLUSTER_ARN,
        c.OUTPUT_SECRET_ARN,
        c.OUTPUT_USER_POOL_ID,
        c.OUTPUT_USER_POOL_CLIENT_ID,
    }

    assert common <= set(dev.raw["Outputs"]) and not optional & set(dev.raw["Outputs"])
    assert common | optional <= set(full.raw["Outputs"])
    assert "api/agents/<agentId>/stream" in json.dumps(dev.raw["Outputs"][c.OUTPUT_STREAM_URL])


def test_alarms_cover_errors_throttles_dlq_and_dynamodb(synth: Synth) -> None:
    alarms = [a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()]
    (topic_id,) = synth.resources("AWS::SNS::Topic")
    by_metric: dict[str, int] = {}
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["Threshold"] == 1
        names = (
            [alarm["MetricName"]]
            if "MetricName" in alarm
            else [
                q["MetricStat"]["Metric"]["MetricName"]
                for q in alarm["Metrics"]
                if "MetricStat" in q
            ]
        )
        for name in names:
            by_metric[name] = by_metric.get(name, 0) + 1

    assert by_metric["Errors"] == 3 and by_metric["Throttles"] == 3
    assert by_metric["ApproximateNumberOfMessagesVisible"] == 1
    tables = len(synth.stack.storage.tables)
    assert by_metric["ReadThrottleEvents"] == tables == by_metric["WriteThrottleEvents"]
    assert by_metric["5XXError"] == 1
    assert len(synth.resources("AWS::CloudWatch::Dashboard")) == 1


def test_alarm_email_subscribes_to_the_topic(dev: Synth, full: Synth) -> None:
    assert not dev.resources("AWS::SNS::Subscription")
    full.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


@pytest.mark.parametrize("handler", FUNCTION_HANDLERS)
def test_each_function_receives_the_environment_it_reads(synth: Synth, handler: str) -> None:
    config = synth.stack.config
    (props,) = [
        r["Properties"]
        for r in synth.resources("AWS::Lambda::Function").values()
        if r["Properties"]["Handler"] == handler
    ]
    env = props["Environment"]["Variables"]
    bucket = synth.logical_id(synth.stack.storage.bucket)

    assert f"dynamodb://{config.table_prefix}?region=" in json.dumps(env["STOWAGE_STORAGE_URL"])
    assert bucket in json.dumps(env["STOWAGE_BLOBS_URL"])
    assert '"s3://"' in json.dumps(env["STOWAGE_BLOBS_URL"])
    assert env["STOWAGE_MODEL"] == f"bedrock/{config.model_ids[0]}"
    assert env["STOWAGE_RETENTION"] == str(config.retention)
    spans = Retention.parse(env["STOWAGE_RETENTION"]).spans
    assert spans == timedelta(days=config.span_retention_days)
    assert env["POWERTOOLS_SERVICE_NAME"].startswith("stowage-")
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Stowage"
    assert ("STOWAGE_AUTH" in env) == (handler != c.WORKER_HANDLER)
    assert "STOWAGE_AGENTS_MODULE" not in env  # set only when agentsModule is configured


@pytest.mark.node
@pytest.mark.early  # its own CDK app (~1 GB): before this process's synths grow jsii's heap
def test_the_pinned_cdk_cli_synthesizes_the_app(tmp_path: Path) -> None:
    # `make synth`: the CLI pinned in package.json runs cdk.json's app (python -m infra.app)
    # and reads its output.
    from tests.conftest import skip_or_fail

    root = Path(__file__).resolve().parents[2]
    cli = root / "node_modules" / ".bin" / "cdk"
    if not cli.exists():
        skip_or_fail("node_modules/.bin/cdk is missing (run `make node`)")
    package = json.loads((root / "package.json").read_text())
    assert package["devDependencies"]["aws-cdk"].startswith("2.1148.")
    settings = json.loads((root / "cdk.json").read_text())
    assert settings["notices"] is False and settings["cli-telemetry"] is False

    context = ["-c", "stage=ci", "-c", "agentsModule=agents.examples"]
    # No credentials: the CLI would otherwise ask STS for the account (tests never reach
    # AWS), and synth needs none.
    env = node_env({k: v for k, v in os.environ.items() if not k.startswith("AWS_")})
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    done = subprocess.run(
        [str(cli), "synth", "--quiet", "--output", str(tmp_path / "out"), *context],
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
        env=env,
        timeout=600,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    # The CLI and jsii ran on the pinned Node 22: no end-of-life box (printed as bytes).
    assert "end-of-life" not in done.stderr and "b'!!" not in done.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert "Stowage-ci" in manifest["artifacts"]
    # -c values reach the config: a non-dev stage keeps its data, the agents module is passed.
    template = json.loads((tmp_path / "out" / "Stowage-ci.template.json").read_text())
    resources = template["Resources"].values()
    envs = [
        r["Properties"]["Environment"]["Variables"]
        for r in resources
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] in FUNCTION_HANDLERS
    ]
    assert len(envs) == 3
    assert all(e["STOWAGE_AGENTS_MODULE"] == "agents.examples" for e in envs)
    tables = [r for r in resources if r["Type"] == "AWS::DynamoDB::Table"]
    assert all(t["Properties"]["DeletionProtectionEnabled"] for t in tables)
    assert {t["DeletionPolicy"] for t in tables} == {"Retain"}
