"""Pieces every function construct shares: granting action groups on their scopes, the Powertools layer,
and `ProjectFunction` (role, log group with retention, dead-letter queue, function) for the functions
EventBridge invokes asynchronously."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.constants import (
    ASSET_EXCLUDES,
    EXEMPT_TAG_PERMANENT_VALUES,
    FUNCTIONS_DIR,
    LOG_RETENTION_DAYS,
    POWERTOOLS_LAYER_PARAMETER,
    ActionGroup,
    Scope,
)
from infra.permissions import exempt_deny_actions

RETENTION = {
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def sid(service: str, scope: Scope) -> str:
    """`("iam", "users")` → `IamOnUsers`; `"*"` reads as `Any`."""
    words = re.split(r"[^A-Za-z0-9]+", "any" if scope == "*" else scope)
    return service.capitalize() + "On" + "".join(word.capitalize() for word in words if word)


def grant_groups(
    role: iam.Role,
    groups: Sequence[ActionGroup],
    resources: Mapping[Scope, list[str]],
    conditions: Mapping[Scope, Mapping[str, Any]] | None = None,
) -> None:
    """One statement per group: its actions on its scope's resources (with the scope's condition). Two
    groups of one service on one scope get numbered statement ids (ids must be unique in a policy)."""
    seen: dict[str, int] = {}
    for group in groups:
        base = sid(group.service, group.scope)
        seen[base] = seen.get(base, 0) + 1
        role.add_to_policy(
            iam.PolicyStatement(
                sid=base if seen[base] == 1 else f"{base}{seen[base]}",
                actions=list(group.qualified()),
                resources=resources[group.scope],
                conditions=dict((conditions or {}).get(group.scope, {})) or None,
            )
        )


def deny_exempt_users(role: iam.Role, groups: Sequence[ActionGroup], users_arn: str, tag_key: str) -> None:
    """Defence in depth for exemptions: an explicit Deny of every change the role could make to a user
    whose exempt tag says "exempt, for good" (`true`, `yes`, `1`, `on`), so even a planner defect cannot
    touch one. IAM evaluates `aws:ResourceTag` on the `user` resource of these actions; it cannot compare
    an end date in a tag, so dated tag exemptions rest on the planner alone."""
    actions = exempt_deny_actions(groups)
    if not actions:
        return
    role.add_to_policy(
        iam.PolicyStatement(
            sid="DenyChangesToExemptUsers",
            effect=iam.Effect.DENY,
            actions=list(actions),
            resources=[users_arn],
            conditions={
                "StringEqualsIgnoreCase": {f"aws:ResourceTag/{tag_key}": list(EXEMPT_TAG_PERMANENT_VALUES)}
            },
        )
    )


def security_hub_resources(stack: Stack, region: str | None = None) -> dict[Scope, list[str]]:
    """The account's own Security Hub in `region` (default: the stack's): its default product, the only
    product an account may import its own findings into (BatchImportFindings requires a `product`
    resource), and its hub (GetFindings accepts the `hub` resource type)."""
    return {
        "security-hub-product": [
            stack.format_arn(
                service="securityhub",
                region=region,
                resource="product",
                resource_name=f"{stack.account}/default",
            )
        ],
        "security-hub": [
            stack.format_arn(service="securityhub", region=region, resource="hub", resource_name="default")
        ],
    }


def powertools_layer(scope: Construct) -> lambda_.ILayerVersion:
    """The AWS-published Powertools layer, its ARN read from the public SSM parameter at deploy time."""
    return lambda_.LayerVersion.from_layer_version_arn(
        scope,
        "PowertoolsLayer",
        ssm.StringParameter.value_for_string_parameter(scope, POWERTOOLS_LAYER_PARAMETER),
    )


def encrypted_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """A dead-letter queue: SQS-managed encryption, TLS only, kept 14 days."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )


class ProjectFunction(Construct):
    """A function of the `functions/` asset with its own role (exactly `groups` on their scopes, plus
    writing its own log group), a log group with retention, and a dead-letter queue for failed
    asynchronous invocations."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        description: str,
        handler: str,
        timeout_seconds: int,
        memory_mb: int,
        retry_attempts: int,
        groups: Sequence[ActionGroup],
        resources: Mapping[Scope, list[str]],
        environment: Mapping[str, str],
        conditions: Mapping[Scope, Mapping[str, Any]] | None = None,
        exempt_tag_key: str | None = None,
    ) -> None:
        """`environment`: from `infra.environment.FunctionSettings` (the one builder). `exempt_tag_key`:
        deny the role every change to users carrying that tag."""
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "LogGroup", retention=RETENTION[LOG_RETENTION_DAYS])
        self.dead_letter_queue = encrypted_queue(self, "DeadLetterQueue")
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        grant_groups(self.role, groups, resources, conditions)
        if exempt_tag_key is not None:
            deny_exempt_users(self.role, groups, resources["users"][0], exempt_tag_key)
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
            description=description,
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.X86_64,
            handler=handler,
            code=lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=list(ASSET_EXCLUDES)),
            layers=[powertools_layer(self)],
            role=self.role,
            log_group=self.log_group,
            timeout=Duration.seconds(timeout_seconds),
            memory_size=memory_mb,
            retry_attempts=retry_attempts,
            dead_letter_queue=self.dead_letter_queue,
            tracing=lambda_.Tracing.ACTIVE,
            environment=dict(environment),
        )
