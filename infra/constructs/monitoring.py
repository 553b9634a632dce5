"""Alarms (function errors/throttles, DLQ depth, DynamoDB throttling, API 5xx), a dashboard."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constants import ALARM_TOPIC_ID, DASHBOARD_ID
from infra.nag import acknowledge

PERIOD = Duration.minutes(5)


class MonitoringConstruct(Construct):
    """Every alarm notifies one SNS topic; the dashboard shows the same signals.

    Attributes:
        topic: alarm notifications (subscribe an email with the ``alarmEmail`` context).
        alarms: alarm id -> alarm (tests and dashboards look them up here).
        dashboard: the CloudWatch dashboard.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.Function],
        tables: Mapping[str, dynamodb.Table],
        dlq: sqs.Queue,
        queue: sqs.Queue,
        rest_api: apigw.RestApi,
        alarm_email: str | None,
        dead_letters: Mapping[str, sqs.Queue] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, ALARM_TOPIC_ID, enforce_ssl=True)
        acknowledge(
            self.topic,
            "AwsSolutions-SNS2",
            "CloudWatch alarms cannot publish to a topic encrypted with the AWS managed SNS "
            "key; notifications hold only alarm names and states, no customer data.",
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: dict[str, cw.Alarm] = {}
        action = cw_actions.SnsAction(self.topic)
        for name, function in functions.items():
            self._alarm(f"{name}Errors", function.metric_errors(period=PERIOD), action)
            self._alarm(f"{name}Throttles", function.metric_throttles(period=PERIOD), action)
        self._alarm(
            "DlqDepth",
            dlq.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
            action,
        )
        # Other dead-letter queues (the expiry stream's, the prune schedule's): any
        # message there is work that failed every retry.
        for name, queue in (dead_letters or {}).items():
            self._alarm(
                f"{name}DlqDepth",
                queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum"
                ),
                action,
            )
        for domain, table in tables.items():
            self._alarm(f"{domain.capitalize()}TableThrottles", _throttles(domain, table), action)
        self._alarm("Api5xx", rest_api.metric_server_error(period=PERIOD), action)
        self.dashboard = self._build_dashboard(functions, tables, queue, dlq, rest_api)

    def _alarm(self, alarm_id: str, metric: cw.IMetric, action: cw_actions.SnsAction) -> None:
        alarm = cw.Alarm(
            self,
            alarm_id,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(action)
        self.alarms[alarm_id] = alarm

    def _build_dashboard(
        self,
        functions: Mapping[str, lambda_.Function],
        tables: Mapping[str, dynamodb.Table],
        queue: sqs.Queue,
        dlq: sqs.Queue,
        rest_api: apigw.RestApi,
    ) -> cw.Dashboard:
        dashboard = cw.Dashboard(
            self, DASHBOARD_ID, dashboard_name=f"{Stack.of(self).stack_name}-dashboard"
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="API requests and errors",
                left=[rest_api.metric_count(period=PERIOD)],
                right=[
                    rest_api.metric_client_error(period=PERIOD),
                    rest_api.metric_server_error(period=PERIOD),
                ],
            ),
            cw.GraphWidget(
                title="API latency (p90)",
                left=[
                    rest_api.metric_latency(period=PERIOD, statistic="p90"),
                    rest_api.metric_integration_latency(period=PERIOD, statistic="p90"),
                ],
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Function errors",
                left=[f.metric_errors(period=PERIOD, label=n) for n, f in functions.items()],
            ),
            cw.GraphWidget(
                title="Function duration (p90)",
                left=[
                    f.metric_duration(period=PERIOD, statistic="p90", label=n)
                    for n, f in functions.items()
                ],
            ),
            cw.GraphWidget(
                title="Function throttles",
                left=[f.metric_throttles(period=PERIOD, label=n) for n, f in functions.items()],
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Jobs queue",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=PERIOD),
                    queue.metric_approximate_age_of_oldest_message(period=PERIOD),
                ],
                right=[dlq.metric_approximate_number_of_messages_visible(period=PERIOD)],
            ),
            cw.GraphWidget(
                title="DynamoDB consumed capacity",
                left=[
                    m
                    for t in tables.values()
                    for m in (
                        t.metric_consumed_read_capacity_units(period=PERIOD),
                        t.metric_consumed_write_capacity_units(period=PERIOD),
                    )
                ],
            ),
            cw.GraphWidget(
                title="DynamoDB throttled events",
                left=[_throttles(d, t) for d, t in tables.items()],
            ),
        )
        return dashboard


def _throttles(domain: str, table: dynamodb.Table) -> cw.MathExpression:
    """Read + write throttle events of a table (on-demand tables still throttle at peaks)."""
    # Metric ids must be unique within one graph that shows several tables.
    read, write = f"r_{domain}", f"w_{domain}"
    return cw.MathExpression(
        expression=f"FILL({read}, 0) + FILL({write}, 0)",
        using_metrics={
            read: table.metric("ReadThrottleEvents", period=PERIOD, statistic="Sum"),
            write: table.metric("WriteThrottleEvents", period=PERIOD, statistic="Sum"),
        },
        label=f"{domain} throttle events",
        period=PERIOD,
    )
