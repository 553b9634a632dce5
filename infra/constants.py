"""Logical ids, output names and fixed ARNs shared by the constructs and the tests."""

from __future__ import annotations

APP_NAME = "Stowage"
DOMAINS = ("memory", "workflows", "observability", "scores")

# Construct ids (children of the stack).
STORAGE_ID = "Storage"
POSTGRES_ID = "Postgres"
API_ID = "Api"
WORKER_ID = "Worker"
MONITORING_ID = "Monitoring"
SETUP_ID = "Setup"
RETENTION_ID = "Retention"

# Construct ids inside the constructs, so tests can find resources by path.
TABLE_IDS = {domain: f"{domain.capitalize()}Table" for domain in DOMAINS}
BUCKET_ID = "Bucket"
CLUSTER_ID = "Cluster"
VPC_ID = "Vpc"
REST_API_ID = "RestApi"
API_FUNCTION_ID = "ApiFunction"
STREAM_FUNCTION_ID = "StreamFunction"
WORKER_FUNCTION_ID = "WorkerFunction"
QUEUE_ID = "JobsQueue"
DLQ_ID = "JobsDlq"
USER_POOL_ID = "UserPool"
SETUP_FUNCTION_ID = "SetupFunction"
SETUP_RESOURCE_ID = "StorageSetup"
DASHBOARD_ID = "Dashboard"
ALARM_TOPIC_ID = "AlarmTopic"
EXPIRY_FUNCTION_ID = "ExpiryFunction"
EXPIRY_DLQ_ID = "ExpiryDlq"
PRUNE_FUNCTION_ID = "PruneFunction"
PRUNE_DLQ_ID = "PruneDlq"
PRUNE_SCHEDULE_ID = "PruneSchedule"

# Stack outputs (``cdk deploy`` prints them as <Stack>.<Name>).
OUTPUT_API_URL = "ApiUrl"
OUTPUT_STREAM_URL = "StreamUrlTemplate"
OUTPUT_BUCKET = "BucketName"
OUTPUT_TABLE_PREFIX = "TablePrefix"
OUTPUT_QUEUE_URL = "JobsQueueUrl"
OUTPUT_DLQ_URL = "JobsDlqUrl"
OUTPUT_DASHBOARD = "DashboardName"
OUTPUT_CLUSTER_ARN = "ClusterArn"
OUTPUT_SECRET_ARN = "DatabaseSecretArn"
OUTPUT_USER_POOL_ID = "UserPoolId"
OUTPUT_USER_POOL_CLIENT_ID = "UserPoolClientId"
OUTPUT_STORAGE_URL = "StorageUrl"

# Blob keys live under this prefix of the bucket; functions are granted only it.
BLOBS_PREFIX = "blobs"

# Powertools for AWS Lambda (Python) v3, python3.13/arm64, from its public layer: pinned
# (layer version 27 is Powertools 3.23.0 in every region it is published in; the
# Powertools team keeps the version numbers equal across regions). Bump both together.
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python313-arm64"
POWERTOOLS_LAYER_VERSION = 27
POWERTOOLS_VERSION = "3.23.0"
# Lambda Web Adapter layers are published by this account. Version 27 is release 1.0.0
# (aws/aws-lambda-web-adapter README). Layer versions count per region, so a region
# whose arm64 layer was first published later numbers them differently.
LWA_LAYER_ACCOUNT = "753240598075"
LWA_LAYER_NAME = "LambdaAdapterLayerArm64"
LWA_DEFAULT_VERSION = 27
LWA_RELEASE = "1.0.0"
# The adapter's wrapper script and the port uvicorn listens on.
LWA_EXEC_WRAPPER = "/opt/bootstrap"
STREAM_PORT = "8080"

# Handler names: infra knows the handlers only as module paths inside the asset.
API_HANDLER = "handlers.api.handler"
WORKER_HANDLER = "handlers.worker.handler"
SETUP_HANDLER = "handlers.setup.handler"
EXPIRY_HANDLER = "handlers.expiry.handler"
PRUNE_HANDLER = "handlers.prune.handler"
STREAM_HANDLER = "run.sh"
STREAM_ROUTE = ("api", "agents", "{id}", "stream")
# Answered without authorization (probes send no credentials).
HEALTH_ROUTE = ("api", "health")


# --- Regions -------------------------------------------------------------------------
# What each commercial region offers of the three regional things a deploy depends on:
# the pinned Lambda Web Adapter arm64 layer version (LWA_DEFAULT_VERSION), the pinned
# Powertools layer, and the RDS Data API for Aurora PostgreSQL (only with postgres=true).
# Sources: the adapter's release pipeline region lists (arm64 published since release
# 0.9.1 in the first group; added in late 2025 / early 2026, hence other version numbers,
# in the second; me-south-1 dropped from release 1.0.0), the Powertools layer's region
# list, and the Aurora user guide's "Supported Regions for RDS Data API".
WEB_ADAPTER = "web_adapter"
POWERTOOLS = "powertools"
DATA_API = "data_api"
_ALL = frozenset({WEB_ADAPTER, POWERTOOLS, DATA_API})
_LWA_NUMBERED_DIFFERENTLY = frozenset({POWERTOOLS, DATA_API})  # adapter: other version
REGIONS: dict[str, frozenset[str]] = {
    **{
        region: _ALL
        for region in (
            "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1",
            "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
            "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ca-central-1",
            "eu-central-1", "eu-north-1", "eu-south-1", "eu-west-1", "eu-west-2",
            "eu-west-3", "sa-east-1",
        )
    },
    **{
        region: _LWA_NUMBERED_DIFFERENTLY
        for region in (
            "eu-central-2", "eu-south-2", "ap-southeast-5", "ap-southeast-7", "ca-west-1",
            "il-central-1", "mx-central-1",
        )
    },
    "ap-south-2": frozenset({POWERTOOLS}),
    "ap-southeast-4": frozenset({POWERTOOLS}),
    "ap-southeast-6": frozenset(),
    "ap-east-2": frozenset({DATA_API}),
    "me-central-1": frozenset({DATA_API}),
    "me-south-1": frozenset({DATA_API}),
}
