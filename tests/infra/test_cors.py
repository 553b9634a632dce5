"""CORS on the REST API: preflights answer without credentials, for the configured origins."""

from __future__ import annotations

import json

import pytest

from infra.config import ConfigError, StowageConfig
from infra.constants import API_HANDLER, STREAM_HANDLER, WORKER_HANDLER

from .conftest import Synth

ORIGINS = ["https://chat.example.com", "http://localhost:4111"]  # conftest.FULL_CONTEXT


def _path(synth: Synth, resource_ref: dict) -> str:
    resources = synth.resources("AWS::ApiGateway::Resource")
    parts: list[str] = []
    ref = resource_ref.get("Ref")
    while ref in resources:
        props = resources[ref]["Properties"]
        parts.insert(0, props["PathPart"])
        ref = props["ParentId"].get("Ref")
    return "/" + "/".join(parts)


def _preflights(synth: Synth) -> dict[str, dict]:
    return {
        _path(synth, m["Properties"]["ResourceId"]): m["Properties"]
        for m in synth.resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "OPTIONS"
    }


def test_every_route_answers_a_preflight_without_auth(full: Synth) -> None:
    preflights = _preflights(full)

    assert {"/api/{proxy+}", "/api/agents/{id}/stream"} <= set(preflights)
    for path, method in preflights.items():
        assert method["AuthorizationType"] == "NONE", path
        assert "AuthorizerId" not in method, path
        assert method["Integration"]["Type"] == "MOCK", path


def test_preflight_allows_the_configured_origins_only(full: Synth) -> None:
    method = _preflights(full)["/api/agents/{id}/stream"]
    (response,) = method["Integration"]["IntegrationResponses"]
    headers = response["ResponseParameters"]
    template = response["ResponseTemplates"]["application/json"]

    # The first origin is the static answer; the others are echoed only when they match.
    assert headers["method.response.header.Access-Control-Allow-Origin"] == f"'{ORIGINS[0]}'"
    assert f'$origin == "{ORIGINS[1]}"' in template
    assert "https://evil.example" not in json.dumps(method)
    allowed = headers["method.response.header.Access-Control-Allow-Headers"]
    assert "Authorization" in allowed and "Content-Type" in allowed
    assert "X-Amz-Security-Token" in allowed  # SigV4 from a browser
    assert "POST" in headers["method.response.header.Access-Control-Allow-Methods"]
    assert "Retry-After" in headers["method.response.header.Access-Control-Expose-Headers"]


def test_gateway_errors_carry_cors_headers(full: Synth) -> None:
    # A 401 from the Cognito authorizer must be readable by the page, not a CORS error.
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in full.resources("AWS::ApiGateway::GatewayResponse").values()
    }

    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for response in responses.values():
        params = response["ResponseParameters"]
        assert params["gatewayresponse.header.Access-Control-Allow-Origin"] == (
            "method.request.header.Origin"
        )


def test_functions_get_the_origins_for_their_own_responses(dev: Synth, full: Synth) -> None:
    for handler in (API_HANDLER, STREAM_HANDLER, WORKER_HANDLER):
        full_env = _env(full, handler)
        assert full_env["STOWAGE_CORS_ORIGINS"] == ",".join(ORIGINS)
        assert "STOWAGE_CORS_ORIGINS" not in _env(dev, handler)


def test_bucket_accepts_browser_uploads_from_the_same_origins(dev: Synth, full: Synth) -> None:
    def origins(synth: Synth) -> list[str]:
        (bucket,) = synth.resources("AWS::S3::Bucket").values()
        (rule,) = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
        return list(rule["AllowedOrigins"])

    assert origins(full) == ORIGINS
    assert origins(dev) == ["*"]  # unchanged without corsOrigins


def test_no_preflight_and_no_gateway_response_without_origins(dev: Synth) -> None:
    assert not _preflights(dev)
    assert not dev.resources("AWS::ApiGateway::GatewayResponse")


@pytest.mark.parametrize(
    "value",
    ["example.com", "https://a.example.com/path", "*,https://a.example.com", "ftp://x.y"],
)
def test_bad_origins_are_refused_with_the_key_named(value: str) -> None:
    with pytest.raises(ConfigError, match="corsOrigins"):
        StowageConfig.from_context({"corsOrigins": value})


def _env(synth: Synth, handler: str) -> dict:
    (props,) = [
        r["Properties"]
        for r in synth.resources("AWS::Lambda::Function").values()
        if r["Properties"]["Handler"] == handler
    ]
    return dict(props["Environment"]["Variables"])
