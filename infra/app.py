"""The CDK app (``cdk.json`` runs ``python -m infra.app``).

The only place that reads CDK context and the environment: everything below receives
a validated ``StowageConfig``. Synth builds the Lambda asset with pip (no Docker) and
runs cdk-nag's AwsSolutions pack; an unacknowledged finding fails the synth.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Tags

from infra.bundling import build_asset, function_requirements
from infra.config import StowageConfig, check_region
from infra.constants import APP_NAME
from infra.nag import add_checks
from infra.stack import StowageStack
from storage.dynamodb.schema import TABLES

ROOT = Path(__file__).resolve().parent.parent
CONTEXT_KEYS = (
    "stage",
    "postgres",
    "postgresDomains",
    "auth",
    "models",
    "spanRetentionDays",
    "retention",
    "pruneIntervalHours",
    "removalPolicy",
    "tablePrefix",
    "agentsModule",
    "extraPackages",
    "lwaLayerVersion",
    "powertoolsLayerArn",
    "corsOrigins",
    "noncurrentVersionDays",
    "throttleRateLimit",
    "throttleBurstLimit",
    "alarmEmail",
    "vectorDimensions",
    "embedder",
)


def build_app(
    context: Mapping[str, Any] | None = None,
    *,
    outdir: str | None = None,
    env: Environment | None = None,
    nag: bool = True,
) -> tuple[App, StowageStack]:
    """Build the app and its one stack (tests call this with their own context).

    Args:
        context: CDK context values (``cdk.json``'s ``context`` or ``-c`` flags).
        outdir: where to write the cloud assembly.
        env: the target account/region; environment-agnostic when ``None``.
        nag: run cdk-nag's AwsSolutions checks on synth.
    """
    app = App(context=dict(context or {}), outdir=outdir)
    values = {key: app.node.try_get_context(key) for key in CONTEXT_KEYS}
    config = StowageConfig.from_context({k: v for k, v in values.items() if v is not None})
    # Before anything is built: a region that lacks a layer or the Data API stops here,
    # with what is missing and what to do, not halfway through a deploy.
    check_region(config, env.region if env is not None else None)
    # No "postgres" extra: the functions reach Aurora through the Data API (boto3), so
    # psycopg and its 14 MB of libpq would never be imported in Lambda.
    asset = build_asset(
        ROOT,
        function_requirements(ROOT),
        packages=("storage", "agents", "handlers", *config.extra_packages),
    )
    stack = StowageStack(
        app,
        config.stack_name,
        config=config,
        asset=asset,
        table_definitions=TABLES,
        env=env,
        description=f"{APP_NAME} ({config.stage}): durable agent memory on AWS serverless",
    )
    Tags.of(stack).add("app", APP_NAME.lower())
    Tags.of(stack).add("stage", config.stage)
    if nag:
        add_checks(app)
    return app, stack


def write_import_mapping(stack: StowageStack, outdir: str | Path) -> Path | None:
    """``<outdir>/<stack>.import.json``: the retained tables, for ``cdk import``.

    A stage that keeps its tables on destroy cannot be deployed again under the same
    table names; ``npx cdk import <stack> --resource-mapping <this file>`` adopts them.

    Returns:
        The file, or ``None`` when the stage retains no table.
    """
    if stack.config.removal != "retain" or not stack.storage.tables:
        return None
    mapping = {
        str(stack.resolve(stack.get_logical_id(table.node.default_child))): {  # type: ignore[arg-type]
            "TableName": f"{stack.config.table_prefix}-{domain}"
        }
        for domain, table in stack.storage.tables.items()
    }
    path = Path(outdir) / f"{stack.stack_name}.import.json"
    path.write_text(json.dumps(mapping, indent=2) + "\n", encoding="utf-8")
    return path


def main() -> None:
    """Entry point for the CDK CLI: synthesize into ``cdk.out``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = os.environ.get("CDK_DEFAULT_REGION")
    env = Environment(account=account, region=region) if region else None
    app, stack = build_app(env=env)
    assembly = app.synth()
    write_import_mapping(stack, assembly.directory)


if __name__ == "__main__":
    main()
