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
DASHBOARD_ID = "Dashboard"
ALARM_TOPIC_ID = "AlarmTopic"

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

# Public parameter holding the latest Powertools layer ARN for this runtime and CPU.
POWERTOOLS_LAYER_PARAMETER = "/aws/service/powertools/python/arm64/python3.13/latest"
# Lambda Web Adapter layers are published by this account in every commercial region.
LWA_LAYER_ACCOUNT = "753240598075"
LWA_LAYER_NAME = "LambdaAdapterLayerArm64"
LWA_DEFAULT_VERSION = 25
# The adapter's wrapper script and the port uvicorn listens on.
LWA_EXEC_WRAPPER = "/opt/bootstrap"
STREAM_PORT = "8080"

# Handler names: infra knows the handlers only as module paths inside the asset.
API_HANDLER = "handlers.api.handler"
WORKER_HANDLER = "handlers.worker.handler"
STREAM_HANDLER = "run.sh"
STREAM_ROUTE = ("api", "agents", "{id}", "stream")
# Answered without authorization (probes send no credentials).
HEALTH_ROUTE = ("api", "health")
