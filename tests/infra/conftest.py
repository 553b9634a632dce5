"""Synthesize the stack once per configuration per session; tests read the templates.

Synth runs the real pipeline: pip bundling (cached under build/lambda), every construct,
and cdk-nag, which fails the synth on any unacknowledged finding.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.node import pinned_node

# jsii runs its kernel on this Node (the one package.json pins: Node 20 is end-of-life
# and jsii would print its warning box, as bytes, on every process start).
os.environ.setdefault("JSII_NODE", str(pinned_node()))

from aws_cdk.assertions import Template

from infra.app import build_app
from infra.stack import StowageStack

DEV_CONTEXT: dict[str, Any] = {"stage": "dev"}
# Everything optional switched on: Postgres for two domains, Cognito, a non-dev stage.
FULL_CONTEXT: dict[str, Any] = {
    "stage": "prod",
    "postgres": "true",
    "postgresDomains": "workflows,scores",
    "auth": "cognito",
    "models": "us.anthropic.claude-haiku-4-5-20251001-v1:0,amazon.nova-lite-v1:0",
    "spanRetentionDays": "7",
    "alarmEmail": "ops@example.com",
    "corsOrigins": "https://chat.example.com,http://localhost:4111",
    "noncurrentVersionDays": "7",
}
# The production shape: every domain in Aurora, Cognito, a retained stage.
PROD_CONTEXT: dict[str, Any] = {"stage": "prod", "postgres": "true", "auth": "cognito"}


@dataclass
class Synth:
    """One synthesized configuration."""

    stack: StowageStack
    template: Template
    raw: dict[str, Any]
    outdir: Path
    started: float

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource, for one CloudFormation type."""
        return {k: v for k, v in self.raw["Resources"].items() if v["Type"] == cfn_type}

    def logical_id(self, construct: Any) -> str:
        """The logical id CloudFormation knows a construct's main resource by."""
        return str(self.stack.resolve(self.stack.get_logical_id(construct.node.default_child)))


def _synth(tmp_path_factory: pytest.TempPathFactory, name: str, context: dict[str, Any]) -> Synth:
    outdir = tmp_path_factory.mktemp(name)
    started = time.time()
    app, stack = build_app(context, outdir=str(outdir))
    assembly = app.synth()
    raw = assembly.get_stack_by_name(stack.stack_name).template
    # Round-trip through JSON: the assembly's dict holds jsii proxies for nested values.
    raw = json.loads(json.dumps(raw))
    return Synth(
        stack=stack, template=Template.from_json(raw), raw=raw, outdir=outdir, started=started
    )


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The default deployment: DynamoDB + S3, IAM auth, dev stage."""
    return _synth(tmp_path_factory, "dev", DEV_CONTEXT)


@pytest.fixture(scope="session")
def full(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Postgres on (workflows, scores), Cognito auth, prod stage, two models."""
    return _synth(tmp_path_factory, "full", FULL_CONTEXT)


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Every domain in Postgres (no DynamoDB table at all), Cognito auth, prod stage."""
    return _synth(tmp_path_factory, "prod", PROD_CONTEXT)


@pytest.fixture(params=["dev", "full"])
def synth(request: pytest.FixtureRequest) -> Synth:
    """Each configuration in turn."""
    return request.getfixturevalue(request.param)
