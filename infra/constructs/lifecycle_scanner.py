"""The scheduled access-key lifecycle scan: function, role, log group, dead-letter queue, schedule."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constants import (
    ASSET_EXCLUDES,
    FUNCTIONS_DIR,
    LOG_RETENTION_DAYS,
    REPORT_PREFIX,
    SCANNER_HANDLER,
    SCANNER_MEMORY_MB,
    SCANNER_RETRY_ATTEMPTS,
    SCANNER_TIMEOUT_SECONDS,
    Scope,
)
from infra.constructs.function import (
    RETENTION,
    deny_exempt_users,
    grant_groups,
    powertools_layer,
    security_hub_resources,
)
from infra.constructs.project_key import secrets_arn_pattern
from infra.environment import FunctionSettings
from infra.permissions import scanner_groups

__all__ = ["RETENTION", "LifecycleScanner"]


class LifecycleScanner(Construct):
    """Runs `credlife.handlers.scheduled.handler` on a schedule, with a role that may do exactly what
    `infra.constants.scanner_groups` lists, on exactly the resources it needs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        key: kms.IKey,
        secret_prefix: str,
        settings: FunctionSettings,
        schedule: str,
        topic: sns.ITopic,
        sender_identity_arns: list[str],
        require_mfa_policy_arn: str,
        report_bucket: s3.IBucket,
        exempt_tag_key: str,
        security_hub: bool = False,
        account_queue: sqs.IQueue | None = None,
    ) -> None:
        """`account_queue`: organization mode — the schedule then only queues one message per account
        there (and the role may do nothing else). `require_mfa_policy_arn`: the only policy the scanner
        may attach to (and detach from) users. `report_bucket`: where each run's compliance report goes
        (`reports/` only). `security_hub`: also import the findings into this account's Security Hub.
        `exempt_tag_key`: users carrying it are denied every change (explicit Deny)."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.log_group = logs.LogGroup(self, "LogGroup", retention=RETENTION[LOG_RETENTION_DAYS])
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="credential-lifecycle scheduled scanner",
        )
        users = stack.format_arn(service="iam", region="", resource="user", resource_name="*")
        #: Also what the rotate-now function is granted (the same lifecycle).
        self.resources: dict[Scope, list[str]] = {
            "*": ["*"],
            "users": [users],
            "state-table": [table.table_arn],
            "secrets": [secrets_arn_pattern(stack, secret_prefix)],
            "project-key": [key.key_arn],
            "sender-identity": sender_identity_arns,
            "security-topic": [topic.topic_arn],
            "users-require-mfa": [users],
        }
        resources = dict(self.resources)
        resources["report-bucket"] = [report_bucket.arn_for_objects(f"{REPORT_PREFIX}*")]
        resources.update(security_hub_resources(stack))
        if account_queue is not None:
            resources["account-queue"] = [account_queue.queue_arn]
        groups = scanner_groups(organization=account_queue is not None, security_hub=security_hub)
        grant_groups(
            self.role,
            groups,
            resources,
            conditions={"users-require-mfa": {"ArnEquals": {"iam:PolicyARN": require_mfa_policy_arn}}},
        )
        deny_exempt_users(self.role, groups, users, exempt_tag_key)
        # The log group exists already: writing to it is all the function needs (no CreateLogGroup).
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogGroup",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )

        # X-Ray and dead-letter-queue permissions are added to the role by the Function itself.
        self.function = lambda_.Function(
            self,
            "Function",
            description="credential-lifecycle: scheduled access-key lifecycle scan",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.X86_64,
            handler=SCANNER_HANDLER,
            code=lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=list(ASSET_EXCLUDES)),
            layers=[powertools_layer(self)],
            role=self.role,
            log_group=self.log_group,
            timeout=Duration.seconds(SCANNER_TIMEOUT_SECONDS),
            memory_size=SCANNER_MEMORY_MB,
            retry_attempts=SCANNER_RETRY_ATTEMPTS,
            dead_letter_queue=self.dead_letter_queue,
            tracing=lambda_.Tracing.ACTIVE,
            environment=settings.environment(automation_principal_arn=self.role.role_arn),
        )

        # Events that EventBridge cannot deliver land in the same queue as failed invocations.
        self.rule = events.Rule(
            self,
            "Schedule",
            description="credential-lifecycle: start the access-key lifecycle scan",
            schedule=events.Schedule.expression(schedule),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=SCANNER_RETRY_ATTEMPTS,
                )
            ],
        )
