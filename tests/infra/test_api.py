"""The REST API: routes, the streaming integration, auth, logs, throttling, the functions."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from infra.constants import (
    API_HANDLER,
    LWA_DEFAULT_VERSION,
    LWA_LAYER_ACCOUNT,
    LWA_LAYER_NAME,
    POWERTOOLS_LAYER_ACCOUNT,
    POWERTOOLS_LAYER_NAME,
    POWERTOOLS_LAYER_VERSION,
    SETUP_HANDLER,
    STREAM_HANDLER,
    WORKER_HANDLER,
)

from .conftest import Synth


def _function(synth: Synth, handler: str) -> tuple[str, dict]:
    for logical_id, resource in synth.resources("AWS::Lambda::Function").items():
        if resource["Properties"]["Handler"] == handler:
            return logical_id, resource["Properties"]
    raise AssertionError(f"no function with handler {handler}")


def _methods(synth: Synth, *, preflights: bool = False) -> dict[str, dict]:
    """The API's methods; CORS preflights (OPTIONS) only when asked."""
    return {
        k: v["Properties"]
        for k, v in synth.resources("AWS::ApiGateway::Method").items()
        if (v["Properties"]["HttpMethod"] == "OPTIONS") == preflights
    }


def _path_of(synth: Synth, resource_ref: dict) -> str:
    """Rebuild a method's path from the chain of AWS::ApiGateway::Resource parents."""
    resources = synth.resources("AWS::ApiGateway::Resource")
    parts: list[str] = []
    ref = resource_ref.get("Ref")
    while ref in resources:
        props = resources[ref]["Properties"]
        parts.insert(0, props["PathPart"])
        ref = props["ParentId"].get("Ref")
    return "/" + "/".join(parts)


def _integration_target(integration: dict) -> str:
    return json.dumps(integration["Uri"])


def test_stream_route_streams_from_the_stream_function_for_15_minutes(synth: Synth) -> None:
    stream_id, _ = _function(synth, STREAM_HANDLER)
    (stream,) = [
        m
        for m in _methods(synth).values()
        if _path_of(synth, m["ResourceId"]) == "/api/agents/{id}/stream"
    ]
    integration = stream["Integration"]

    assert stream["HttpMethod"] == "POST"
    assert integration["Type"] == "AWS_PROXY"
    assert integration["ResponseTransferMode"] == "STREAM"
    assert integration["TimeoutInMillis"] == 15 * 60 * 1000
    target = _integration_target(integration)
    assert "/2021-11-15/functions/" in target and "/response-streaming-invocations" in target
    assert stream_id in target


def test_every_other_route_proxies_to_the_api_function(synth: Synth) -> None:
    api_id, _ = _function(synth, API_HANDLER)
    stream_id, _ = _function(synth, STREAM_HANDLER)
    by_path = {_path_of(synth, m["ResourceId"]): m for m in _methods(synth).values()}

    assert set(by_path) == {"/api/{proxy+}", "/api/agents/{id}/stream", "/api/health"}
    assert api_id in _integration_target(by_path["/api/health"]["Integration"])
    proxy = by_path["/api/{proxy+}"]
    assert proxy["HttpMethod"] == "ANY"
    assert proxy["Integration"].get("ResponseTransferMode", "BUFFERED") == "BUFFERED"
    target = _integration_target(proxy["Integration"])
    assert api_id in target and stream_id not in target
    assert "/2015-03-31/functions/" in target


def _guarded(synth: Synth) -> dict[str, dict]:
    """Every method but the health check, which probes reach without credentials."""
    return {k: m for k, m in _methods(synth).items()
            if _path_of(synth, m["ResourceId"]) != "/api/health"}


def test_iam_auth_on_every_method_by_default(dev: Synth) -> None:
    assert {m["AuthorizationType"] for m in _guarded(dev).values()} == {"AWS_IAM"}
    assert not _methods(dev, preflights=True)  # no corsOrigins: no preflight routes
    assert not dev.resources("AWS::Cognito::UserPool")


def test_only_the_health_check_needs_no_credentials_in_either_mode(dev: Synth,
                                                                   full: Synth) -> None:
    for synth in (dev, full):
        (health,) = [m for m in _methods(synth).values()
                     if _path_of(synth, m["ResourceId"]) == "/api/health"]
        assert (health["HttpMethod"], health["AuthorizationType"]) == ("GET", "NONE")
        assert len(_guarded(synth)) == len(_methods(synth)) - 1


def test_cognito_option_puts_the_user_pool_authorizer_on_every_method(full: Synth) -> None:
    (authorizer_id,) = full.resources("AWS::ApiGateway::Authorizer")
    full.template.has_resource_properties(
        "AWS::ApiGateway::Authorizer", {"Type": "COGNITO_USER_POOLS"}
    )
    for method in _guarded(full).values():
        assert method["AuthorizationType"] == "COGNITO_USER_POOLS"
        assert method["AuthorizerId"] == {"Ref": authorizer_id}
    full.template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "Policies": {"PasswordPolicy": Match.object_like({"MinimumLength": 12})},
        },
    )


def test_functions_verify_jwts_from_that_pool_in_cognito_mode(dev: Synth, full: Synth) -> None:
    (pool_id,) = full.resources("AWS::Cognito::UserPool")
    (client_id,) = full.resources("AWS::Cognito::UserPoolClient")
    for handler in (API_HANDLER, STREAM_HANDLER):
        env = _function(full, handler)[1]["Environment"]["Variables"]
        assert env["STOWAGE_AUTH"] == "jwt"
        assert pool_id in json.dumps(env["STOWAGE_JWT_ISSUER"])
        assert "cognito-idp." in json.dumps(env["STOWAGE_JWT_ISSUER"])
        assert env["STOWAGE_JWT_AUDIENCE"] == {"Ref": client_id}
        dev_env = _function(dev, handler)[1]["Environment"]["Variables"]
        assert dev_env["STOWAGE_AUTH"] == "iam"
        assert "STOWAGE_JWT_ISSUER" not in dev_env


def test_stage_has_access_logs_throttling_and_metrics(synth: Synth) -> None:
    config = synth.stack.config
    (stage,) = synth.resources("AWS::ApiGateway::Stage").values()
    props = stage["Properties"]

    assert props["StageName"] == config.stage
    log_group_arn = json.dumps(props["AccessLogSetting"]["DestinationArn"])
    assert any(lid in log_group_arn for lid in synth.resources("AWS::Logs::LogGroup"))
    assert "$context.requestId" in props["AccessLogSetting"]["Format"]
    (settings,) = props["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == config.throttle_rate
    assert settings["ThrottlingBurstLimit"] == config.throttle_burst
    assert settings["MetricsEnabled"] is True
    assert settings["LoggingLevel"] == "ERROR"


def test_functions_are_python313_on_arm64_with_the_pinned_powertools_layer(synth: Synth) -> None:
    pinned = (
        f":{POWERTOOLS_LAYER_ACCOUNT}:layer:{POWERTOOLS_LAYER_NAME}:{POWERTOOLS_LAYER_VERSION}"
    )
    for handler in (API_HANDLER, STREAM_HANDLER, WORKER_HANDLER, SETUP_HANDLER):
        _, props = _function(synth, handler)
        assert props["Runtime"] == "python3.13", handler
        assert props["Architectures"] == ["arm64"], handler
        layers = [json.dumps(layer) for layer in props["Layers"]]
        assert sum(pinned in layer for layer in layers) == 1, handler
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert "LogGroup" in props["LoggingConfig"]
        assert "VpcConfig" not in props, handler  # Data API: no VPC, fast cold starts
    # No SSM parameter: nothing follows Powertools' `latest` any more.
    assert "powertools" not in json.dumps(synth.raw.get("Parameters", {})).lower()


def test_stream_function_leaves_xray_to_lambda(synth: Synth) -> None:
    # uvicorn never gets the invocation's trace id; the SDK would only warn (issue 15).
    _, stream = _function(synth, STREAM_HANDLER)
    assert stream["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert stream["TracingConfig"] == {"Mode": "Active"}
    for handler in (API_HANDLER, WORKER_HANDLER):
        assert "POWERTOOLS_TRACE_DISABLED" not in _function(synth, handler)[1]["Environment"][
            "Variables"
        ]


def test_stream_function_runs_uvicorn_behind_the_web_adapter(synth: Synth) -> None:
    _, props = _function(synth, STREAM_HANDLER)
    env = props["Environment"]["Variables"]

    assert props["Handler"] == "run.sh"
    assert props["Timeout"] == 900
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env["PORT"] == "8080"
    layers = [json.dumps(layer) for layer in props["Layers"]]
    adapter = [layer for layer in layers if LWA_LAYER_NAME in layer]
    assert len(adapter) == 1
    assert f":{LWA_LAYER_ACCOUNT}:layer:{LWA_LAYER_NAME}:" in adapter[0]
    assert f"{LWA_LAYER_NAME}:{synth.stack.config.lwa_layer_version}" in adapter[0]
    # The adapter's 1.0.0 release (layer 27): AWS_LWA_* names, PORT still honoured.
    assert synth.stack.config.lwa_layer_version == LWA_DEFAULT_VERSION == 27


def test_only_the_stream_function_has_the_adapter(synth: Synth) -> None:
    for handler in (API_HANDLER, WORKER_HANDLER):
        _, props = _function(synth, handler)
        assert LWA_LAYER_NAME not in json.dumps(props["Layers"])
        assert "AWS_LAMBDA_EXEC_WRAPPER" not in props["Environment"]["Variables"]


def test_api_gateway_may_invoke_each_function_only_from_its_routes(synth: Synth) -> None:
    permissions = [
        r["Properties"]
        for r in synth.resources("AWS::Lambda::Permission").values()
        if r["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    stream_id, _ = _function(synth, STREAM_HANDLER)
    stream_sources = [
        json.dumps(p["SourceArn"])
        for p in permissions
        if p["FunctionName"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    ]
    assert stream_sources
    assert all("/POST/api/agents/*/stream" in s for s in stream_sources)
