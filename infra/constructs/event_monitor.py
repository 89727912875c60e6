"""The event monitor (DESIGN §4): the event function, its role (exactly `risk_factory`'s actions), its
dead-letter queue, and the EventBridge rules for console sign-ins, IAM API calls and anything the root user
does, in the home region. A failed invocation (an alert that could not be published) is retried by
EventBridge and then parked in the dead-letter queue; the stack alarms on both."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constants import (
    EVENT_MONITOR_ACTIONS,
    EVENTS_HANDLER,
    EVENTS_MAX_EVENT_AGE_HOURS,
    EVENTS_MEMORY_MB,
    EVENTS_RETRY_ATTEMPTS,
    EVENTS_TIMEOUT_SECONDS,
    IAM_PATTERN,
    ROOT_PATTERN,
    SIGNIN_PATTERN,
)
from infra.constructs.function import ProjectFunction


def event_pattern(pattern: dict[str, Any]) -> events.EventPattern:
    """An EventBridge pattern from its JSON form (`source`, `detail-type`, `detail`)."""
    return events.EventPattern(
        source=pattern.get("source"), detail_type=pattern["detail-type"], detail=pattern.get("detail")
    )


class EventMonitor(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        key: kms.IKey,
        topic: sns.ITopic,
        runtime_config_json: str,
        automation_principal_arn: str,
        require_mfa_policy_arn: str,
        sender_email: str,
        sender_identity_arns: list[str],
    ) -> None:
        """`require_mfa_policy_arn`: the only policy the function may detach (when MFA gets enabled)."""
        super().__init__(scope, construct_id)
        users = Stack.of(self).format_arn(service="iam", region="", resource="user", resource_name="*")
        groups = Stack.of(self).format_arn(service="iam", region="", resource="group", resource_name="*")
        self.handler = ProjectFunction(
            self,
            "Handler",
            description="credential-lifecycle: judge console sign-ins and IAM changes, alert the topic",
            handler=EVENTS_HANDLER,
            timeout_seconds=EVENTS_TIMEOUT_SECONDS,
            memory_mb=EVENTS_MEMORY_MB,
            retry_attempts=EVENTS_RETRY_ATTEMPTS,
            groups=EVENT_MONITOR_ACTIONS,
            resources={
                "state-table": [table.table_arn],
                "security-topic": [topic.topic_arn],
                "project-key": [key.key_arn],
                "users": [users],
                "users-require-mfa": [users],
                "groups": [groups],
                "sender-identity": sender_identity_arns,
            },
            conditions={"users-require-mfa": {"ArnEquals": {"iam:PolicyARN": require_mfa_policy_arn}}},
            environment={
                "CREDLIFE_STATE_TABLE": table.table_name,
                "CREDLIFE_SECURITY_TOPIC_ARN": topic.topic_arn,
                "CREDLIFE_AUTOMATION_PRINCIPAL_ARN": automation_principal_arn,
                "CREDLIFE_REQUIRE_MFA_POLICY_ARN": require_mfa_policy_arn,
                "CREDLIFE_SENDER_EMAIL": sender_email,
                "CREDLIFE_CONFIG": runtime_config_json,
            },
        )
        self.function = self.handler.function
        self.role = self.handler.role
        self.dead_letter_queue = self.handler.dead_letter_queue
        target = targets.LambdaFunction(
            self.function,
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=EVENTS_RETRY_ATTEMPTS,
            max_event_age=Duration.hours(EVENTS_MAX_EVENT_AGE_HOURS),
        )
        self.signin_rule = events.Rule(
            self,
            "SigninRule",
            description="credential-lifecycle: console sign-ins (aws.signin ConsoleLogin) to the monitor",
            event_pattern=event_pattern(SIGNIN_PATTERN),
            targets=[target],
        )
        self.iam_rule = events.Rule(
            self,
            "IamRule",
            description="credential-lifecycle: IAM API calls of the risk rules to the event monitor",
            event_pattern=event_pattern(IAM_PATTERN),
            targets=[target],
        )
        self.root_rule = events.Rule(
            self,
            "RootRule",
            description="credential-lifecycle: anything the root user does, to the event monitor",
            event_pattern=event_pattern(ROOT_PATTERN),
            targets=[target],
        )
