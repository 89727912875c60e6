"""The credential-lifecycle stack: composes the constructs, holds no logic of its own."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnCondition, CfnOutput, CfnParameter, CfnResource, Fn, Stack
from aws_cdk import aws_events as events_
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import AppConfig
from infra.constants import MEMBER_ROLE_NAME
from infra.constructs import (
    AccountWorker,
    Dashboard,
    EventMonitor,
    LifecycleScanner,
    MemberRole,
    Notifications,
    ProjectKey,
    ReportBucket,
    RequireMfaPolicy,
    RotateNow,
    SigninForwarder,
    StateTable,
    Trail,
)


class CredentialLifecycleStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description="credential-lifecycle: IAM credential lifecycle automation and sign-in alerts",
            **kwargs,
        )
        self.project_key = ProjectKey(self, "ProjectKey")
        self.project_key.allow_secret_readers(config.secret_prefix)
        self.state_table = StateTable(
            self, "StateTable", table_name=config.state_table_name, key=self.project_key.key
        )
        self.report_bucket = ReportBucket(
            self, "ReportBucket", key=self.project_key.key, retention_days=config.report_retention_days
        )
        self.notifications = Notifications(
            self, "Notifications", key=self.project_key.key, sender_email=config.sender_email
        )
        topic = self.notifications.topic
        sender = self.notifications.sender_email
        identities = self.notifications.sender_identity_arns
        self.require_mfa = RequireMfaPolicy(self, "RequireMfaPolicy")
        self.worker: AccountWorker | None = None
        if config.organization is not None:
            self.worker = AccountWorker(
                self,
                "AccountWorker",
                table=self.state_table.table,
                key=self.project_key.key,
                secret_prefix=config.secret_prefix,
                dry_run=config.dry_run,
                runtime_config_json=config.runtime_config_json(),
                member_role_name=config.organization.member_role_name,
                topic=topic,
                sender_email=sender,
                sender_identity_arns=identities,
                report_bucket=self.report_bucket.bucket,
                security_hub=config.security_hub,
            )
            self.notifications.alarm_on_function_errors("WorkerErrorsAlarm", self.worker.function)
            self.notifications.alarm_on_function_throttles("WorkerThrottlesAlarm", self.worker.function)
            self.notifications.alarm_on_queue_depth("WorkerDeadLetterAlarm", self.worker.dead_letter_queue)
        self.scanner = LifecycleScanner(
            self,
            "LifecycleScanner",
            table=self.state_table.table,
            key=self.project_key.key,
            secret_prefix=config.secret_prefix,
            dry_run=config.dry_run,
            runtime_config_json=config.runtime_config_json(),
            schedule=config.schedule,
            topic=topic,
            sender_email=sender,
            sender_identity_arns=identities,
            require_mfa_policy_arn=self.require_mfa.policy_arn,
            report_bucket=self.report_bucket.bucket,
            security_hub=config.security_hub,
            account_queue=self.worker.queue if self.worker is not None else None,
        )
        self.event_monitor = EventMonitor(
            self,
            "EventMonitor",
            table=self.state_table.table,
            key=self.project_key.key,
            topic=topic,
            runtime_config_json=config.runtime_config_json(),
            automation_principal_arn=self.scanner.role.role_arn,
            require_mfa_policy_arn=self.require_mfa.policy_arn,
            sender_email=sender,
            sender_identity_arns=identities,
        )
        self.rotate_now = RotateNow(
            self,
            "RotateNow",
            resources=self.scanner.resources,
            environment={
                "CREDLIFE_STATE_TABLE": self.state_table.table.table_name,
                "CREDLIFE_SECRET_PREFIX": config.secret_prefix,
                "CREDLIFE_KMS_KEY_ID": self.project_key.key.key_arn,
                "CREDLIFE_DRY_RUN": "true" if config.dry_run else "false",
                "CREDLIFE_CONFIG": config.runtime_config_json(),
                "CREDLIFE_SECURITY_TOPIC_ARN": topic.topic_arn,
                "CREDLIFE_SENDER_EMAIL": sender,
                # the scanner's role: secrets it writes stay readable by "the automation" either way
                "CREDLIFE_AUTOMATION_PRINCIPAL_ARN": self.scanner.role.role_arn,
            },
        )
        # every function role of this stack is one of the project's own principals: the event monitor
        # trusts their changes (an on-demand rotation creates a key for another user by design)
        own_roles = [
            self.scanner.role.role_arn,
            self.rotate_now.role.role_arn,
            self.event_monitor.role.role_arn,
        ]
        if self.worker is not None and config.organization is not None:
            own_roles.append(self.worker.role.role_arn)
            # the member role acts in every member account (events forwarded here are judged here)
            own_roles.append(f"arn:{self.partition}:iam::*:role/{config.organization.member_role_name}")
        self.event_monitor.function.add_environment("CREDLIFE_OWN_PRINCIPAL_ARNS", Fn.join(",", own_roles))
        self.notifications.alarm_on_metric(
            "EventMonitorDegradedAlarm",
            "MonitorErrors",
            "the event monitor judged events without part of its state (state table, owner lookup, ...)",
        )
        if config.organization is not None:
            # member accounts' stacks forward their sign-ins, IAM calls and root activity here
            organization_id = getattr(config.organization, "organization_id", None)
            if organization_id is None:
                organization_id = CfnParameter(
                    self,
                    "OrganizationId",
                    type="String",
                    allowed_pattern=r"^o-[a-z0-9]{10,32}$",
                    description="The organization whose member accounts may forward events to this bus",
                ).value_as_string
            events_.CfnEventBusPolicy(
                self,
                "MemberEventsPolicy",
                statement_id="credlife-member-accounts",
                event_bus_name="default",
                statement={
                    "Sid": "credlife-member-accounts",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "events:PutEvents",
                    "Resource": self.format_arn(
                        service="events", resource="event-bus", resource_name="default"
                    ),
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}},
                },
            )
        functions = {
            "Scanner": (self.scanner.function, self.scanner.dead_letter_queue),
            "EventMonitor": (self.event_monitor.function, self.event_monitor.dead_letter_queue),
            "RotateNow": (self.rotate_now.function, self.rotate_now.dead_letter_queue),
        }
        for name, (function, queue) in functions.items():
            self.notifications.alarm_on_function_errors(f"{name}ErrorsAlarm", function)
            self.notifications.alarm_on_function_throttles(f"{name}ThrottlesAlarm", function)
            self.notifications.alarm_on_queue_depth(f"{name}DeadLetterAlarm", queue)
        self.notifications.alarm_on_no_scan("NoScanAlarm")
        all_functions = [f for f, _ in functions.values()]
        if self.worker is not None:
            all_functions.append(self.worker.function)
        self.dashboard = Dashboard(self, "Dashboard", functions=all_functions)
        self.trail = Trail(self, "Trail") if config.create_trail else None
        CfnOutput(self, "ScannerFunctionName", value=self.scanner.function.function_name)
        CfnOutput(self, "RotateNowFunctionName", value=self.rotate_now.function.function_name)
        CfnOutput(self, "SecurityTopicArn", value=topic.topic_arn)
        CfnOutput(self, "StateTableName", value=self.state_table.table.table_name)
        CfnOutput(self, "ReportBucketName", value=self.report_bucket.bucket.bucket_name)

        apply_boundary(self, config)


def apply_boundary(stack: Stack, config: AppConfig) -> None:
    if config.permissions_boundary_arn:
        # Every role of this stack, present and future, including any CDK adds for itself.
        iam.PermissionsBoundary.of(stack).apply(
            iam.ManagedPolicy.from_managed_policy_arn(
                stack, "PermissionsBoundary", config.permissions_boundary_arn
            )
        )


class MemberRoleStack(Stack):
    """Deployed in every member account (CloudFormation StackSets: synthesize, then use the template): the
    role the account worker assumes, and the account's require-MFA policy (the same fixed name and document
    as the main stack's). The home account is a parameter unless the config names it; the policy is not
    created where `CreateRequireMfaPolicy` is "false" (the home account, whose main stack has it)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description="credential-lifecycle: member-account role for organization mode",
            **kwargs,
        )
        organization = config.organization
        home = organization.home_account if organization is not None else None
        if home is None:
            home = CfnParameter(
                self,
                "HomeAccountId",
                type="String",
                allowed_pattern=r"^\d{12}$",
                description="The account running the credential-lifecycle stack (its worker role is trusted)",
            ).value_as_string
        create_policy = CfnParameter(
            self,
            "CreateRequireMfaPolicy",
            type="String",
            allowed_values=["true", "false"],
            default="true",
            description="Create the credlife-require-mfa policy here ('false' only in the home account, "
            "where the credential-lifecycle stack already created it)",
        )
        self.require_mfa = RequireMfaPolicy(self, "RequireMfaPolicy")
        policy_resource = self.require_mfa.policy.node.default_child
        assert isinstance(policy_resource, CfnResource)
        policy_resource.cfn_options.condition = CfnCondition(
            self,
            "CreatesRequireMfaPolicy",
            expression=Fn.condition_equals(create_policy.value_as_string, "true"),
        )
        self.member = MemberRole(
            self,
            "MemberRole",
            role_name=organization.member_role_name if organization is not None else MEMBER_ROLE_NAME,
            home_account=home,
            secret_prefix=config.secret_prefix,
            # by its fixed name: no reference to the (conditional) policy resource
            require_mfa_policy_arn=RequireMfaPolicy.predicted_arn(self),
            security_hub=config.security_hub,
            # the worker calls Security Hub in its own (the home) region; unset: where this stack runs
            home_region=config.region,
        )
        # organization mode: this account's console sign-ins (in this stack's region), IAM calls and root
        # activity go to the home account's default bus, judged there with this account's id
        self.forwarder = SigninForwarder(
            self,
            "EventForwarder",
            home_region=config.home_region,
            home_account=home,
            iam_events=True,
        )
        # never in the home account itself (a rule sending its own bus's events back to it would loop)
        not_home = CfnCondition(
            self, "ForwardsToHome", expression=Fn.condition_not(Fn.condition_equals(self.account, home))
        )
        for child in self.forwarder.node.find_all():
            if isinstance(child, CfnResource):
                child.cfn_options.condition = not_home
        apply_boundary(self, config)


class SigninForwarderStack(Stack):
    """Deployed to each of `signin_regions`: forwards console sign-ins to the home region's event bus."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description="credential-lifecycle: forward console sign-ins to the home region",
            **kwargs,
        )
        self.forwarder = SigninForwarder(
            self, "SigninForwarder", home_region=config.home_region, region=self.region
        )
        apply_boundary(self, config)
