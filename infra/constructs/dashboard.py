"""The CloudWatch dashboard: what the handlers emit (Powertools metrics, namespace `METRICS_NAMESPACE`,
dimension `service`) and the functions' own errors."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constants import METRICS_NAMESPACE, SERVICE_NAME

DAY = Duration.days(1)


def search(prefix: str, label: str) -> cloudwatch.MathExpression:
    """Every metric of ours whose name starts with `prefix` (one line per reason or outcome)."""
    return cloudwatch.MathExpression(
        expression=(
            f"SEARCH('{{{METRICS_NAMESPACE},service}} MetricName=\"{prefix}\"', "
            f"'Sum', {int(DAY.to_seconds())})"
        ),
        label=label,
        using_metrics={},
        period=DAY,
    )


def metric(name: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        statistic="Sum",
        period=DAY,
    )


class Dashboard(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, functions: Sequence[lambda_.IFunction]
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name="credential-lifecycle",
            default_interval=Duration.days(14),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Scan results: users scanned, failures",
                left=[metric("UsersScanned"), metric("Failures"), metric("RejectedEvents")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Actions taken (by action and status)",
                left=[search("Outcome_", "")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Alerts by reason (sign-in and IAM changes)",
                left=[search("Finding_", ""), metric("AlertsPublished")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Errors",
                left=[
                    *(f.metric_errors(period=DAY, statistic="Sum") for f in functions),
                    metric("MonitorErrors"),
                    metric("AccountFailures"),
                ],
                width=12,
            ),
        )
