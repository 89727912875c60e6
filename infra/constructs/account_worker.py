"""Organization mode's account worker: the account queue (+ dead-letter queue), the worker function fed by
it with partial batch failure reporting, and its role (assume the member role anywhere, the state table,
write each account's report to the report bucket). Security Hub is called through the member-role session,
so the member role, not this one, holds those permissions."""

from __future__ import annotations

from dataclasses import replace

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constants import (
    ACCOUNT_QUEUE_MAX_RECEIVES,
    ACCOUNT_QUEUE_VISIBILITY_SECONDS,
    ASSET_EXCLUDES,
    FUNCTIONS_DIR,
    LOG_RETENTION_DAYS,
    REPORT_PREFIX,
    WORKER_BATCH_SIZE,
    WORKER_HANDLER,
    WORKER_MAX_CONCURRENCY,
    WORKER_MEMORY_MB,
    WORKER_ROLE_NAME,
    WORKER_TIMEOUT_SECONDS,
    Scope,
)
from infra.constructs.function import RETENTION, grant_groups, powertools_layer, sid
from infra.environment import FunctionSettings
from infra.permissions import worker_groups

__all__ = ["AccountWorker", "sid"]


class AccountWorker(Construct):
    """Runs `credlife.handlers.account_worker.handler` for each account message, one account per
    invocation, up to `WORKER_MAX_CONCURRENCY` accounts at once."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        key: kms.IKey,
        settings: FunctionSettings,
        member_role_name: str,
        topic: sns.ITopic,
        sender_identity_arns: list[str],
        report_bucket: s3.IBucket,
    ) -> None:
        """`settings`: every function's settings (the queue URL is added here, once the queue exists)."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "AccountQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(ACCOUNT_QUEUE_VISIBILITY_SECONDS),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=ACCOUNT_QUEUE_MAX_RECEIVES
            ),
        )
        self.log_group = logs.LogGroup(self, "LogGroup", retention=RETENTION[LOG_RETENTION_DAYS])
        self.role = iam.Role(
            self,
            "Role",
            role_name=WORKER_ROLE_NAME,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="credential-lifecycle account worker (organization mode)",
        )
        self.member_role_arn_pattern = stack.format_arn(
            service="iam", region="", account="*", resource="role", resource_name=member_role_name
        )
        resources: dict[Scope, list[str]] = {
            "member-roles": [self.member_role_arn_pattern],
            "state-table": [table.table_arn],
            "project-key": [key.key_arn],
            "sender-identity": sender_identity_arns,
            "security-topic": [topic.topic_arn],
            "report-bucket": [report_bucket.arn_for_objects(f"{REPORT_PREFIX}*")],
        }
        grant_groups(self.role, worker_groups(), resources)
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogGroup",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description="credential-lifecycle: one member account's access-key lifecycle (organization mode)",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.X86_64,
            handler=WORKER_HANDLER,
            code=lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=list(ASSET_EXCLUDES)),
            layers=[powertools_layer(self)],
            role=self.role,
            log_group=self.log_group,
            timeout=Duration.seconds(WORKER_TIMEOUT_SECONDS),
            memory_size=WORKER_MEMORY_MB,
            tracing=lambda_.Tracing.ACTIVE,
            environment=replace(settings, organization_queue_url=self.queue.queue_url).environment(
                automation_principal_arn=self.role.role_arn
            ),
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=WORKER_BATCH_SIZE,
                max_concurrency=WORKER_MAX_CONCURRENCY,
                report_batch_item_failures=True,
            )
        )
