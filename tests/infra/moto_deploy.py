"""Deploy a synthesized template into moto's CloudFormation, and run functions as Lambda would.

What ``cdk deploy`` does, offline: the asset zips are published to the bootstrap bucket,
the stack is created from the template, and custom resources are answered by their
provider function. moto creates the resources it supports; the functions' environment
is then read back from moto's Lambda, resolved exactly as CloudFormation resolved it.

Two stand-ins, both at the edge moto leaves open:

* **Lambda's runtime** for custom resources: moto would run the provider in Docker
  (none here). :func:`deploy` runs ``handlers.setup`` in-process with the function's
  environment as moto holds it and delivers its answer to the stack, as CloudFormation's
  response URL would. Other providers (CDK's bucket auto-delete) answer SUCCESS: they
  act only on delete.
* **Resources moto's CloudFormation cannot create** (Aurora clusters, Secrets Manager
  secrets): created through their own moto APIs first, and the template's references to
  them replaced by the identifiers those APIs returned ("as far as moto allows").
"""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
ASSETS_BUCKET = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"
BOOTSTRAP_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
SETUP_HANDLER = "handlers.setup.handler"
# Types moto's CloudFormation cannot create (an Aurora instance fails on its engine; a
# user pool's Ref resolves to None).
OUTSIDE_CLOUDFORMATION = frozenset({
    "AWS::SecretsManager::Secret",
    "AWS::SecretsManager::SecretTargetAttachment",
    "AWS::RDS::DBCluster",
    "AWS::RDS::DBInstance",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
})


@dataclass
class Deployed:
    """A stack moto created: its resources and each function's environment."""

    stack_name: str
    # logical id -> (type, physical id)
    resources: dict[str, tuple[str, str]]
    # handler -> environment variables, as Lambda holds them
    environments: dict[str, dict[str, str]]
    setup_answers: list[dict[str, Any]] = field(default_factory=list)

    def physical_ids(self, cfn_type: str) -> set[str]:
        """Physical ids of every created resource of one type."""
        return {p for t, p in self.resources.values() if t == cfn_type}


def _asset_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "asset stand-in: the test runs the handlers in-process")
    return buffer.getvalue()


def _publish_assets(template: dict[str, Any]) -> None:
    """What ``cdk deploy`` does first: the bootstrap version and the code assets."""
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name=BOOTSTRAP_PARAMETER, Value="30", Type="String"
    )
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=ASSETS_BUCKET)
    body = _asset_zip()
    for resource in template["Resources"].values():
        code = resource.get("Properties", {}).get("Code", {})
        if resource["Type"] == "AWS::Lambda::Function" and "S3Key" in code:
            s3.put_object(Bucket=ASSETS_BUCKET, Key=code["S3Key"], Body=body)


def _replace_refs(node: Any, physical: dict[str, str], attributes: dict[str, dict[str, str]]
                  ) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in physical:
            return physical[node["Ref"]]
        if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][0] in attributes:
            logical, attribute = node["Fn::GetAtt"]
            return attributes[logical][attribute]
        return {k: _replace_refs(v, physical, attributes) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_refs(v, physical, attributes) for v in node]
    return node


def _create_outside_cloudformation(
    template: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Create what moto's CloudFormation cannot through its API; point the template at it.

    Returns:
        The template, and ``{"cluster_arn", "secret_arn"}`` when it had a cluster.
    """
    resources = template["Resources"]
    physical: dict[str, str] = {}
    attributes: dict[str, dict[str, str]] = {}
    secrets = boto3.client("secretsmanager", region_name=REGION)
    rds = boto3.client("rds", region_name=REGION)
    for logical, resource in list(resources.items()):
        if resource["Type"] == "AWS::SecretsManager::Secret":
            arn = secrets.create_secret(
                Name=f"{logical}-secret",
                SecretString=json.dumps({"username": "stowage", "password": "p" * 20}),
            )["ARN"]
            physical[logical] = arn
    for logical, resource in list(resources.items()):
        if resource["Type"] == "AWS::SecretsManager::SecretTargetAttachment":
            secret_ref = resource["Properties"]["SecretId"]["Ref"]
            physical[logical] = physical[secret_ref]  # an attachment's Ref is the secret ARN
    for logical, resource in list(resources.items()):
        if resource["Type"] == "AWS::RDS::DBCluster":
            props = resource["Properties"]
            identifier = f"{logical.lower()}-cluster"
            cluster = rds.create_db_cluster(
                DBClusterIdentifier=identifier,
                Engine=props["Engine"],
                EngineVersion=props["EngineVersion"],
                MasterUsername="stowage",
                MasterUserPassword="p" * 20,
                DatabaseName=props.get("DatabaseName", "stowage"),
                EnableHttpEndpoint=True,
            )["DBCluster"]
            physical[logical] = identifier
            attributes[logical] = {
                "Endpoint.Address": cluster["Endpoint"],
                "Endpoint.Port": str(cluster.get("Port", 5432)),
                "DBClusterArn": cluster["DBClusterArn"],
            }
    idp = boto3.client("cognito-idp", region_name=REGION)
    for logical, resource in list(resources.items()):
        if resource["Type"] == "AWS::Cognito::UserPool":
            pool = idp.create_user_pool(PoolName=f"{logical}-pool")["UserPool"]
            physical[logical] = pool["Id"]
            attributes[logical] = {"Arn": pool["Arn"], "ProviderName": pool["Id"]}
    for logical, resource in list(resources.items()):
        if resource["Type"] == "AWS::Cognito::UserPoolClient":
            props = resource["Properties"]
            made = idp.create_user_pool_client(
                UserPoolId=physical[props["UserPoolId"]["Ref"]],
                ClientName=f"{logical}-client",
                ExplicitAuthFlows=props.get("ExplicitAuthFlows", []),
            )["UserPoolClient"]
            physical[logical] = made["ClientId"]
    outside = {k for k, r in resources.items() if r["Type"] in OUTSIDE_CLOUDFORMATION}
    kept = {k: v for k, v in resources.items() if k not in outside}
    for resource in kept.values():
        depends = resource.get("DependsOn")
        if isinstance(depends, list):
            resource["DependsOn"] = [d for d in depends if d not in outside]
    template = {**template, "Resources": kept}
    created = {}
    for logical, resource in resources.items():
        if resource["Type"] == "AWS::RDS::DBCluster":
            created["cluster_arn"] = attributes[logical]["DBClusterArn"]
        if resource["Type"] == "AWS::SecretsManager::Secret":
            created["secret_arn"] = physical[logical]
    return _replace_refs(template, physical, attributes), created


@contextmanager
def deploy(
    template: dict[str, Any],
    stack_name: str,
    monkeypatch: Any,
    *,
    before_stack: Callable[[dict[str, str]], None] | None = None,
) -> Iterator[Deployed]:
    """Create ``template`` as ``stack_name`` in moto (call inside ``mock_aws``).

    Args:
        before_stack: called with the cluster and secret ARNs created outside
            CloudFormation, before the stack (and its storage setup) is created.
    """
    from moto.awslambda.models import LambdaFunction
    from moto.cloudformation import cloudformation_backends

    from handlers import setup as setup_handler

    template, outside = _create_outside_cloudformation(json.loads(json.dumps(template)))
    if before_stack is not None:
        before_stack(outside)
    _publish_assets(template)
    answers: list[dict[str, Any]] = []

    def deliver(_url: str, body: bytes) -> None:
        # CloudFormation's side of the response URL (moto's cfnresponse endpoint).
        document = json.loads(body)
        answers.append(document)
        if document["Status"] != "SUCCESS":
            return
        stack = cloudformation_backends[ACCOUNT][REGION].get_stack(document["StackId"])
        stack.get_custom_resource(document["LogicalResourceId"]).set_data(document["Data"])
        stack.verify_readiness()

    created = threading.Event()

    def invoke(function: Any, body: str, *_: Any, **__: Any) -> bytes:
        # CloudFormation honours DependsOn (tables, cluster before the setup); moto starts
        # the provider in a thread as it meets the resource. Wait for the rest first.
        created.wait(30)
        event = json.loads(body)
        assert "ResponseURL" in event, f"unexpected invocation of {function.handler}"
        if function.handler == SETUP_HANDLER:
            env = dict(function.environment_vars)
            setup_handler.respond_to(
                event, None, setup=lambda: setup_handler.run_setup(env), send=deliver
            )
        else:
            setup_handler.respond_to(event, None, setup=dict, send=deliver)
        return b"null"

    monkeypatch.setattr(LambdaFunction, "invoke", invoke)
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    created.set()
    deadline = time.monotonic() + 60
    while True:
        status = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
        failed = [a for a in answers if a["Status"] != "SUCCESS"]
        assert not failed, f"a custom resource failed: {failed}"
        if status == "CREATE_COMPLETE":
            break
        # moto runs each custom resource in a thread; an answer that arrives while the
        # stack is still creating its other resources is only noticed on the next check.
        stack = cloudformation_backends[ACCOUNT][REGION].get_stack(stack_name)
        stack.verify_readiness()
        assert time.monotonic() < deadline, f"stack stuck in {status}; answers={answers}"
        time.sleep(0.05)
    described = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    created = {
        r["LogicalResourceId"]: (r.get("ResourceType", "?"), r.get("PhysicalResourceId", ""))
        for r in described
        if "LogicalResourceId" in r  # moto lists the types it skipped without one
    }
    lam = boto3.client("lambda", region_name=REGION)
    # The test plays Lambda's SQS poller itself (moto would invoke the worker inside
    # SendMessage, through the Docker runtime it lacks).
    for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    environments: dict[str, dict[str, str]] = {}
    for cfn_type, physical in created.values():
        if cfn_type != "AWS::Lambda::Function":
            continue
        config = lam.get_function_configuration(FunctionName=physical)
        environments[config["Handler"]] = dict(config.get("Environment", {}).get("Variables", {}))
    yield Deployed(stack_name, created, environments, answers)
