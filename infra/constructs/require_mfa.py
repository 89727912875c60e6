"""The project's require-MFA customer-managed policy (DESIGN §3): attached by the scanner (in organization
mode: the account worker, through the member role) to a console user still without MFA after the grace
period, detached when one is enabled. Created by the main stack and by the member-role stack. The document is
`infra.constants.REQUIRE_MFA_POLICY_DOCUMENT`, a tested copy of `credlife.domain.mfa_policy`'s."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.constants import (
    REQUIRE_MFA_POLICY_DESCRIPTION,
    REQUIRE_MFA_POLICY_DOCUMENT,
    REQUIRE_MFA_POLICY_NAME,
)


class RequireMfaPolicy(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            managed_policy_name=REQUIRE_MFA_POLICY_NAME,
            description=REQUIRE_MFA_POLICY_DESCRIPTION,
            document=iam.PolicyDocument.from_json(REQUIRE_MFA_POLICY_DOCUMENT),
        )
        self.policy_arn = self.policy.managed_policy_arn

    @staticmethod
    def predicted_arn(stack: Stack) -> str:
        """`arn:<partition>:iam::<stack's account>:policy/credlife-require-mfa`: the fixed name makes the ARN
        known without a reference to the resource (the runtime computes the same for member accounts)."""
        return stack.format_arn(
            service="iam", region="", resource="policy", resource_name=REQUIRE_MFA_POLICY_NAME
        )
