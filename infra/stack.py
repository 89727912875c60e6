"""The credential-lifecycle stack: composes the constructs, holds no logic of its own."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import AppConfig
from infra.constructs import LifecycleScanner, Notifications, ProjectKey, StateTable


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
        self.scanner = LifecycleScanner(
            self,
            "LifecycleScanner",
            table=self.state_table.table,
            key=self.project_key.key,
            secret_prefix=config.secret_prefix,
            dry_run=config.dry_run,
            runtime_config_json=config.runtime_config_json(),
            schedule=config.schedule,
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
