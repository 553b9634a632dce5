"""The REST API: the api function behind ``/api/{proxy+}``, the stream function streaming.

``POST /api/agents/{id}/stream`` is integrated with ``responseTransferMode: STREAM``
(the ``response-streaming-invocations`` Lambda URI), so API Gateway forwards each SSE
chunk as the function writes it, for up to 15 minutes. The stream function is an ASGI
app under uvicorn behind the Lambda Web Adapter layer in ``response_stream`` mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.bundling import LambdaAsset
from infra.config import AuthMode
from infra.constants import (
    API_FUNCTION_ID,
    API_HANDLER,
    HEALTH_ROUTE,
    LWA_EXEC_WRAPPER,
    REST_API_ID,
    STREAM_FUNCTION_ID,
    STREAM_HANDLER,
    STREAM_PORT,
    STREAM_ROUTE,
    USER_POOL_ID,
)
from infra.constructs.functions import python_function, web_adapter_layer
from infra.nag import acknowledge

API_TIMEOUT = Duration.seconds(30)
# API Gateway's ceiling for a streamed response.
STREAM_TIMEOUT = Duration.minutes(15)
# What browsers may send: JSON, SigV4 signing headers, a Cognito token.
CORS_HEADERS = (
    "Content-Type",
    "Authorization",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
    "X-Api-Key",
)
CORS_EXPOSED = ("Retry-After", "x-mastra-run-id")


class ApiConstruct(Construct):
    """REST API, api + stream functions and, with ``auth="cognito"``, the user pool.

    Attributes:
        rest_api: the REST API (one stage, named after the deployment stage).
        api_function: every route but the stream (Powertools REST resolver).
        stream_function: ``POST /api/agents/{id}/stream`` (uvicorn behind the web adapter).
        user_pool: the Cognito user pool (``None`` with IAM auth).
        user_pool_client: the app client whose id is the JWT audience (``None`` with IAM).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        asset: LambdaAsset,
        environment: Mapping[str, str],
        layers: list[lambda_.ILayerVersion],
        auth: AuthMode,
        stage_name: str,
        throttle_rate: int,
        throttle_burst: int,
        lwa_layer_version: int,
        removal: RemovalPolicy,
        cors_origins: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.cors_origins = tuple(cors_origins)
        self.user_pool: cognito.UserPool | None = None
        self.user_pool_client: cognito.UserPoolClient | None = None
        env = dict(environment)
        if auth == "cognito":
            self.user_pool, self.user_pool_client = self._build_user_pool(removal)
            region = Stack.of(self).region
            env["STOWAGE_AUTH"] = "jwt"
            env["STOWAGE_JWT_ISSUER"] = (
                f"https://cognito-idp.{region}.amazonaws.com/{self.user_pool.user_pool_id}"
            )
            env["STOWAGE_JWT_AUDIENCE"] = self.user_pool_client.user_pool_client_id
        else:
            env["STOWAGE_AUTH"] = "iam"
        self.api_function = python_function(
            self,
            API_FUNCTION_ID,
            asset=asset,
            handler=API_HANDLER,
            description="Stowage HTTP API (every route but the stream)",
            environment={**env, "POWERTOOLS_SERVICE_NAME": "stowage-api"},
            layers=layers,
            timeout=API_TIMEOUT,
            removal=removal,
        )
        self.stream_function = python_function(
            self,
            STREAM_FUNCTION_ID,
            asset=asset,
            handler=STREAM_HANDLER,
            description="Stowage agent stream (SSE through the Lambda Web Adapter)",
            environment={
                **env,
                "POWERTOOLS_SERVICE_NAME": "stowage-stream",
                "AWS_LAMBDA_EXEC_WRAPPER": LWA_EXEC_WRAPPER,
                "AWS_LWA_INVOKE_MODE": "response_stream",
                "PORT": STREAM_PORT,
                # A TCP check needs no route in the app to answer the adapter's probe.
                "AWS_LWA_READINESS_CHECK_PROTOCOL": "tcp",
                # uvicorn under the adapter never receives Lambda's trace id (the
                # X-Ray SDK reads it from the runtime's _X_AMZN_TRACE_ID, set only in
                # the adapter's process), so the SDK would warn on every AWS call and
                # record nothing. Lambda's own segments still trace each invocation.
                "POWERTOOLS_TRACE_DISABLED": "true",
            },
            layers=[*layers, web_adapter_layer(self, lwa_layer_version)],
            timeout=STREAM_TIMEOUT,
            removal=removal,
        )
        self.rest_api = self._build_rest_api(
            stage_name=stage_name,
            throttle_rate=throttle_rate,
            throttle_burst=throttle_burst,
            removal=removal,
        )
        self._add_routes()

    def _build_user_pool(
        self, removal: RemovalPolicy
    ) -> tuple[cognito.UserPool, cognito.UserPoolClient]:
        pool = cognito.UserPool(
            self,
            USER_POOL_ID,
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=removal,
        )
        acknowledge(
            pool,
            "AwsSolutions-COG2",
            "MFA is offered (TOTP) but not forced: whether end users must enrol is the "
            "deployer's product decision, not the storage kit's.",
        )
        for rule in ("AwsSolutions-COG3", "AwsSolutions-COG8"):
            acknowledge(
                pool,
                rule,
                "Threat protection needs the Cognito Plus feature plan (a per-user charge); "
                "deployers who want it switch the plan on the pool.",
            )
        client = pool.add_client(
            "Client",
            auth_flows=cognito.AuthFlow(user_srp=True, user_password=True),
            generate_secret=False,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
        )
        return pool, client

    def _build_rest_api(
        self, *, stage_name: str, throttle_rate: int, throttle_burst: int, removal: RemovalPolicy
    ) -> apigw.RestApi:
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=removal
        )
        options = apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM)
        if self.user_pool is not None:
            authorizer = apigw.CognitoUserPoolsAuthorizer(
                self, "Authorizer", cognito_user_pools=[self.user_pool]
            )
            options = apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.COGNITO, authorizer=authorizer
            )
        api = apigw.RestApi(
            self,
            REST_API_ID,
            rest_api_name=f"{Stack.of(self).stack_name}-api",
            description="Stowage: Mastra-compatible agent API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            default_method_options=options,
            # The logging role is an account-wide API Gateway setting other APIs may rely
            # on, so it outlives this stack whatever the stage.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            # Browsers send a preflight without credentials: CDK gives each OPTIONS
            # method a mock integration and no authorizer.
            default_cors_preflight_options=self._cors_options(),
            deploy_options=apigw.StageOptions(
                stage_name=stage_name,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                throttling_rate_limit=throttle_rate,
                throttling_burst_limit=throttle_burst,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
                tracing_enabled=True,
            ),
        )
        if self.cors_origins:
            self._add_cors_to_gateway_errors(api)
        acknowledge(
            api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role must carry this AWS managed policy; "
            "it only writes API Gateway's own execution and access logs.",
        )
        acknowledge(
            api,
            "AwsSolutions-APIG2",
            "Every route is a Lambda proxy: the functions validate bodies and parameters "
            "(pydantic) and answer a 4xx JSON error; a gateway model would duplicate that.",
        )
        acknowledge(
            api,
            "AwsSolutions-APIG3",
            "Every method requires SigV4 or a Cognito JWT and the stage is throttled; "
            "a WAF web ACL is left to deployers who expose the API publicly.",
        )
        if self.user_pool is None:
            acknowledge(
                api,
                "AwsSolutions-COG4",
                "IAM (SigV4) authorization protects every method by default; the Cognito "
                "authorizer is the auth=cognito option.",
            )
        return api

    def _cors_options(self) -> apigw.CorsOptions | None:
        if not self.cors_origins:
            return None
        return apigw.CorsOptions(
            allow_origins=list(self.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=list(CORS_HEADERS),
            expose_headers=list(CORS_EXPOSED),
            max_age=Duration.hours(1),
        )

    def _add_cors_to_gateway_errors(self, api: apigw.RestApi) -> None:
        """Let browsers read the gateway's own errors (401 from the authorizer, 429...).

        A gateway response cannot pick among several origins, so with more than one it
        echoes the request's Origin; these bodies are the gateway's fixed messages.
        """
        origin = (
            f"'{self.cors_origins[0]}'"
            if len(self.cors_origins) == 1
            else "method.request.header.Origin"
        )
        for kind in (apigw.ResponseType.DEFAULT_4_XX, apigw.ResponseType.DEFAULT_5_XX):
            api.add_gateway_response(
                f"Cors{kind.response_type}",
                type=kind,
                response_headers={
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Expose-Headers": f"'{','.join(CORS_EXPOSED)}'",
                    "Vary": "'Origin'",
                },
            )

    def _add_routes(self) -> None:
        api_root = self.rest_api.root.add_resource("api")
        api_root.add_proxy(
            default_integration=apigw.LambdaIntegration(self.api_function),
            any_method=True,
        )
        # The health check answers load balancers and probes, which send no credentials.
        health = api_root.add_resource(HEALTH_ROUTE[1]).add_method(
            "GET",
            apigw.LambdaIntegration(self.api_function),
            authorization_type=apigw.AuthorizationType.NONE,
        )
        for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
            acknowledge(health, rule, "GET /api/health is a liveness probe for load balancers "
                                      "and uptime checks, which send no credentials; it reads "
                                      "no data (the handler makes no storage call).")
        resource: apigw.IResource = api_root
        for part in STREAM_ROUTE[1:]:
            resource = resource.get_resource(part) or resource.add_resource(part)
        resource.add_method(
            "POST",
            apigw.LambdaIntegration(
                self.stream_function,
                response_transfer_mode=apigw.ResponseTransferMode.STREAM,
                timeout=STREAM_TIMEOUT,
            ),
        )

    def url(self) -> str:
        """The stage URL, e.g. ``https://<id>.execute-api.<region>.amazonaws.com/dev/``."""
        return self.rest_api.url
