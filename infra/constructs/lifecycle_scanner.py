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
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.constants import (
    ASSET_EXCLUDES,
    FUNCTIONS_DIR,
    LOG_LEVEL,
    LOG_RETENTION_DAYS,
    METRICS_NAMESPACE,
    ORGANIZATION_SCANNER_ACTIONS,
    POWERTOOLS_LAYER_PARAMETER,
    REPORT_PREFIX,
    SCANNER_HANDLER,
    SCANNER_MEMORY_MB,
    SCANNER_RETRY_ATTEMPTS,
    SCANNER_TIMEOUT_SECONDS,
    SERVICE_NAME,
    Scope,
    scanner_groups,
)
from infra.constructs.function import RETENTION, grant_groups, security_hub_resources
from infra.constructs.project_key import secrets_arn_pattern

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
        dry_run: bool,
        runtime_config_json: str,
        schedule: str,
        topic: sns.ITopic,
        sender_email: str,
        sender_identity_arns: list[str],
        require_mfa_policy_arn: str,
        report_bucket: s3.IBucket,
        security_hub: bool = False,
        account_queue: sqs.IQueue | None = None,
    ) -> None:
        """`account_queue`: organization mode — the schedule then queues one message per account there.
        `require_mfa_policy_arn`: the only policy the scanner may attach to (and detach from) users.
        `report_bucket`: where each run's compliance report goes (`reports/` only). `security_hub`: also
        import the findings into this account's Security Hub."""
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
        groups = scanner_groups(security_hub=security_hub)
        if account_queue is not None:
            resources["account-queue"] = [account_queue.queue_arn]
            groups = (*groups, *ORGANIZATION_SCANNER_ACTIONS)
        grant_groups(
            self.role,
            groups,
            resources,
            conditions={"users-require-mfa": {"ArnEquals": {"iam:PolicyARN": require_mfa_policy_arn}}},
        )
        # The log group exists already: writing to it is all the function needs (no CreateLogGroup).
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogGroup",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )

        powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            ssm.StringParameter.value_for_string_parameter(self, POWERTOOLS_LAYER_PARAMETER),
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
            layers=[powertools],
            role=self.role,
            log_group=self.log_group,
            timeout=Duration.seconds(SCANNER_TIMEOUT_SECONDS),
            memory_size=SCANNER_MEMORY_MB,
            retry_attempts=SCANNER_RETRY_ATTEMPTS,
            dead_letter_queue=self.dead_letter_queue,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "CREDLIFE_STATE_TABLE": table.table_name,
                "CREDLIFE_SECRET_PREFIX": secret_prefix,
                "CREDLIFE_KMS_KEY_ID": key.key_arn,
                "CREDLIFE_DRY_RUN": "true" if dry_run else "false",
                "CREDLIFE_CONFIG": runtime_config_json,
                "CREDLIFE_SECURITY_TOPIC_ARN": topic.topic_arn,
                "CREDLIFE_SENDER_EMAIL": sender_email,
                "CREDLIFE_AUTOMATION_PRINCIPAL_ARN": self.role.role_arn,
                "CREDLIFE_REQUIRE_MFA_POLICY_ARN": require_mfa_policy_arn,
                "CREDLIFE_REPORT_BUCKET": report_bucket.bucket_name,
                "CREDLIFE_SECURITY_HUB_ENABLED": "true" if security_hub else "false",
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": LOG_LEVEL,
            },
        )

        if account_queue is not None:
            self.function.add_environment("CREDLIFE_ORGANIZATION_ENABLED", "true")
            self.function.add_environment("CREDLIFE_ORGANIZATION_QUEUE_URL", account_queue.queue_url)

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
