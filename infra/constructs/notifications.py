"""The security topic and the alarms that tell it when the automation itself fails (DESIGN §3)."""

from __future__ import annotations

from aws_cdk import CfnParameter, Duration, Fn, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constants import ALARM_PERIOD_MINUTES, METRICS_NAMESPACE, NO_SCAN_ALARM_HOURS, SERVICE_NAME


class Notifications(Construct):
    """`SecurityTopic` (KMS-encrypted, TLS only), the SES sender identity owner emails come from (the
    config's `sender_email`, else the `SenderEmail` stack parameter), and one alarm per failure signal,
    each notifying the topic."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.Key, sender_email: str | None
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        if sender_email is None:
            sender_email = CfnParameter(
                stack,
                "SenderEmail",
                type="String",
                allowed_pattern=r"^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$",
                description="The verified SES identity (email address) owner notices are sent from",
            ).value_as_string
        #: The sender address, and the SES identities SendEmail may use for it: the address and its domain.
        self.sender_email = sender_email
        domain = Fn.select(1, Fn.split("@", sender_email))
        self.sender_identity_arns = [
            stack.format_arn(service="ses", resource="identity", resource_name=sender_email),
            stack.format_arn(service="ses", resource="identity", resource_name=domain),
        ]
        self.topic = sns.Topic(
            self,
            "SecurityTopic",
            display_name="credential-lifecycle security alerts",
            master_key=key,
            enforce_ssl=True,
        )
        # CloudWatch publishes alarm state changes into the encrypted topic: the key must let it.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self._action = cloudwatch_actions.SnsAction(self.topic)

    def alarm_on_function_errors(self, construct_id: str, function: lambda_.IFunction) -> cloudwatch.Alarm:
        """Any failed invocation in a period is worth a look: the scanner runs once a day."""
        return self._alarm(
            construct_id,
            function.metric_errors(period=Duration.minutes(ALARM_PERIOD_MINUTES), statistic="Sum"),
            f"{function.function_name} failed",
        )

    def alarm_on_function_throttles(self, construct_id: str, function: lambda_.IFunction) -> cloudwatch.Alarm:
        """A throttled invocation is a run (or an event) delayed or, after retries, lost."""
        return self._alarm(
            construct_id,
            function.metric_throttles(period=Duration.minutes(ALARM_PERIOD_MINUTES), statistic="Sum"),
            f"{function.function_name} throttled",
        )

    def alarm_on_no_scan(self, construct_id: str) -> cloudwatch.Alarm:
        """No `UsersScanned` datapoint (the scheduled handler's, or the account worker's) in
        `NO_SCAN_ALARM_HOURS` hourly periods: the daily scan did not complete. Missing data breaches."""
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name="UsersScanned",
                dimensions_map={"service": SERVICE_NAME},
                statistic="SampleCount",
                period=Duration.hours(1),
            ),
            threshold=1,
            evaluation_periods=NO_SCAN_ALARM_HOURS,
            datapoints_to_alarm=NO_SCAN_ALARM_HOURS,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            alarm_description=f"no successful credential-lifecycle scan in {NO_SCAN_ALARM_HOURS} hours",
        )
        alarm.add_alarm_action(self._action)
        return alarm

    def alarm_on_metric(self, construct_id: str, metric_name: str, description: str) -> cloudwatch.Alarm:
        """One of the project's own metrics (namespace and service dimension of the Powertools metrics)
        reached 1 in a period."""
        return self._alarm(
            construct_id,
            cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=metric_name,
                dimensions_map={"service": SERVICE_NAME},
                statistic="Sum",
                period=Duration.minutes(ALARM_PERIOD_MINUTES),
            ),
            description,
        )

    def alarm_on_queue_depth(self, construct_id: str, queue: sqs.IQueue) -> cloudwatch.Alarm:
        """A message in a dead-letter queue is a scan that failed all its retries."""
        return self._alarm(
            construct_id,
            queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(ALARM_PERIOD_MINUTES), statistic="Maximum"
            ),
            f"{queue.queue_name} holds failed events",
        )

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, description: str) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        return alarm
