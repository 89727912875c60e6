"""The credential-lifecycle stack: composes the constructs, holds no logic of its own."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnParameter, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import AppConfig
from infra.constants import MEMBER_ROLE_NAME
from infra.constructs import (
    AccountWorker,
    LifecycleScanner,
    MemberRole,
    Notifications,
    ProjectKey,
    StateTable,
)


class CredentialLifecycleStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description="credential-lifecycle: scheduled lifecycle automation for IAM access keys",
            **kwargs,
        )
        self.project_key = ProjectKey(self, "ProjectKey")
        self.project_key.allow_secret_readers(config.secret_prefix)
        self.state_table = StateTable(
            self, "StateTable", table_name=config.state_table_name, key=self.project_key.key
        )
        self.notifications = Notifications(self, "Notifications", key=self.project_key.key)
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
            )
            self.notifications.alarm_on_function_errors("WorkerErrorsAlarm", self.worker.function)
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
            account_queue=self.worker.queue if self.worker is not None else None,
        )
        self.notifications.alarm_on_function_errors("ScannerErrorsAlarm", self.scanner.function)
        self.notifications.alarm_on_queue_depth("ScannerDeadLetterAlarm", self.scanner.dead_letter_queue)

        if config.permissions_boundary_arn:
            # Every role of this stack, present and future, including any CDK adds for itself.
            iam.PermissionsBoundary.of(self).apply(
                iam.ManagedPolicy.from_managed_policy_arn(
                    self, "PermissionsBoundary", config.permissions_boundary_arn
                )
            )


class MemberRoleStack(Stack):
    """Deployed in every member account (CloudFormation StackSets: synthesize, then use the template): the
    role the account worker assumes. The home account is a parameter unless the config names it."""

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
        self.member = MemberRole(
            self,
            "MemberRole",
            role_name=organization.member_role_name if organization is not None else MEMBER_ROLE_NAME,
            home_account=home,
            secret_prefix=config.secret_prefix,
        )
