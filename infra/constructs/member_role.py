"""The member-account role (organization mode): deployed in every member account (CloudFormation
StackSets), trusted only by the home account's worker role, granting exactly the lifecycle's actions:
attaching and detaching only the account's require-MFA policy (condition `iam:PolicyARN`) and, with
`security_hub`, importing findings into that account's own Security Hub in the home region."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.constants import WORKER_ROLE_NAME, Scope
from infra.constructs.function import deny_exempt_users, grant_groups, security_hub_resources
from infra.constructs.project_key import secrets_arn_pattern
from infra.permissions import member_groups


class MemberRole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role_name: str,
        home_account: str,
        organization_id: str,
        secret_prefix: str,
        exempt_tag_key: str,
        require_mfa_policy_arn: str,
        security_hub: bool = False,
        home_region: str | None = None,
    ) -> None:
        """`organization_id`: only principals of this organization may assume the role (a role of the
        worker's name in any other account cannot). `require_mfa_policy_arn`: the only policy the role
        may attach to (and detach from) users. `exempt_tag_key`: users carrying it are denied changes.
        `home_region`: where the worker runs and so calls Security Hub (None: this stack's region)."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        worker_role_arn = stack.format_arn(
            service="iam", region="", account=home_account, resource="role", resource_name=WORKER_ROLE_NAME
        )
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ArnPrincipal(worker_role_arn).with_conditions(
                {"StringEquals": {"aws:PrincipalOrgID": organization_id}}
            ),
            description="credential-lifecycle: the home account's worker manages access keys here",
        )
        users = stack.format_arn(service="iam", region="", resource="user", resource_name="*")
        resources: dict[Scope, list[str]] = {
            "*": ["*"],
            "users": [users],
            "secrets": [secrets_arn_pattern(stack, secret_prefix)],
            "users-require-mfa": [users],
            **security_hub_resources(stack, region=home_region),
        }
        groups = member_groups(security_hub=security_hub)
        grant_groups(
            self.role,
            groups,
            resources,
            conditions={"users-require-mfa": {"ArnEquals": {"iam:PolicyARN": require_mfa_policy_arn}}},
        )
        deny_exempt_users(self.role, groups, users, exempt_tag_key)
