"""Optional Aurora Serverless v2 PostgreSQL, reached only through the RDS Data API.

The cluster scales to zero ACUs and pauses when idle. It sits in isolated subnets (no
NAT gateway, no ingress rule): the functions talk to it over the Data API's HTTPS
endpoint with the secret's ARN, so they never join the VPC and keep fast cold starts.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from constructs import Construct

from infra.constants import CLUSTER_ID, VPC_ID
from infra.nag import acknowledge

DATABASE_NAME = "stowage"
ENGINE_VERSION = rds.AuroraPostgresEngineVersion.VER_16_8


class PostgresConstruct(Construct):
    """The VPC, the cluster and its generated credentials.

    Attributes:
        vpc: two AZs of isolated subnets.
        cluster: the Aurora cluster (Data API enabled).
        secret_arn: the generated credentials' secret.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        removal: RemovalPolicy,
        deletion_protection: bool,
        max_capacity: float = 4,
        auto_pause: Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc = self._build_vpc(removal)
        self.cluster = self._build_cluster(
            removal=removal,
            deletion_protection=deletion_protection,
            max_capacity=max_capacity,
            auto_pause=auto_pause or Duration.minutes(10),
        )
        assert self.cluster.secret is not None  # generated credentials always have one
        self.secret_arn = self.cluster.secret.secret_arn

    def _build_vpc(self, removal: RemovalPolicy) -> ec2.Vpc:
        vpc = ec2.Vpc(
            self,
            VPC_ID,
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
            # The custom resource that strips the default SG's rules would add a Lambda
            # to an otherwise function-free VPC; nothing is ever launched into it.
            restrict_default_security_group=False,
        )
        vpc.add_flow_log("FlowLog", traffic_type=ec2.FlowLogTrafficType.REJECT)
        return vpc

    def _build_cluster(
        self,
        *,
        removal: RemovalPolicy,
        deletion_protection: bool,
        max_capacity: float,
        auto_pause: Duration,
    ) -> rds.DatabaseCluster:
        cluster = rds.DatabaseCluster(
            self,
            CLUSTER_ID,
            engine=rds.DatabaseClusterEngine.aurora_postgres(version=ENGINE_VERSION),
            writer=rds.ClusterInstance.serverless_v2("writer"),
            serverless_v2_min_capacity=0,
            serverless_v2_max_capacity=max_capacity,
            serverless_v2_auto_pause_duration=auto_pause,
            enable_data_api=True,
            credentials=rds.Credentials.from_generated_secret("stowage"),
            default_database_name=DATABASE_NAME,
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            storage_encrypted=True,
            iam_authentication=True,
            deletion_protection=deletion_protection,
            removal_policy=removal,
            cloudwatch_logs_exports=["postgresql"],
            backup=rds.BackupProps(retention=Duration.days(7)),
        )
        acknowledge(
            cluster,
            "AwsSolutions-SMG4",
            "Rotation needs a rotation Lambda inside the VPC plus a Secrets Manager endpoint; "
            "the credentials never leave AWS (the Data API reads the secret by ARN).",
        )
        acknowledge(
            cluster,
            "AwsSolutions-RDS11",
            "The port is unreachable anyway: no security group ingress rule exists and clients "
            "use the Data API's HTTPS endpoint, never a database connection.",
        )
        if not deletion_protection:
            acknowledge(
                cluster,
                "AwsSolutions-RDS10",
                "Deletion protection is off only in the disposable dev stage so that "
                "`make destroy` removes it; every other stage turns it on.",
            )
        return cluster

    def grant_data_api(self, grantee: iam.IGrantable) -> None:
        """rds-data on this cluster and read access to its secret, nothing else."""
        self.cluster.grant_data_api_access(grantee)

    def url(self, *, resume_wait: float | None = None, auto_migrate: bool = True) -> str:
        """``postgres+data-api://<cluster-arn>?secret=<secret-arn>&database=stowage``.

        Args:
            resume_wait: seconds a call waits for the paused cluster to resume before
                answering "retry later" (request paths); the driver's default otherwise.
            auto_migrate: ``False`` for functions whose schema the deploy migrates.
        """
        url = (
            f"postgres+data-api://{self.cluster.cluster_arn}"
            f"?secret={self.secret_arn}&database={DATABASE_NAME}"
        )
        if resume_wait is not None:
            url += f"&resume_wait={resume_wait:g}"
        if not auto_migrate:
            url += "&auto_migrate=false"
        return url
