"""The project's "require MFA" managed policy, after AWS's documented pattern ("Allows MFA-authenticated
IAM users to manage their own MFA device"): a user without MFA may set up and manage their own MFA device
(and change their own password), and everything else is denied unless the request was made with MFA.

Attached to a console user who still has no MFA device after the grace period; detached as soon as one is
enabled. moto cannot evaluate Conditions, so tests assert this document statement by statement."""

from __future__ import annotations

from typing import Any

POLICY_NAME = "credlife-require-mfa"
POLICY_DESCRIPTION = "credential-lifecycle: deny all but MFA self-service until the user signs in with MFA"

#: What a user without MFA may still do: set up their MFA device, change their password, get a session.
SELF_SERVICE_WITHOUT_MFA: tuple[str, ...] = (
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:GetUser",
    "iam:GetMFADevice",
    "iam:ListMFADevices",
    "iam:ListVirtualMFADevices",
    "iam:ResyncMFADevice",
    "iam:ChangePassword",
    "iam:GetAccountPasswordPolicy",
    "sts:GetSessionToken",
)


def require_mfa_policy_document() -> dict[str, Any]:
    """The policy document (IAM JSON). `${aws:username}` is IAM's policy variable, not a format field."""
    own_user = "arn:aws:iam::*:user/${aws:username}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowViewAccountInfo",
                "Effect": "Allow",
                "Action": ["iam:GetAccountPasswordPolicy", "iam:ListVirtualMFADevices"],
                "Resource": "*",
            },
            {
                "Sid": "AllowManageOwnPasswordAndUser",
                "Effect": "Allow",
                "Action": ["iam:ChangePassword", "iam:GetUser"],
                "Resource": own_user,
            },
            {
                "Sid": "AllowManageOwnVirtualMFADevice",
                "Effect": "Allow",
                "Action": ["iam:CreateVirtualMFADevice"],
                "Resource": "arn:aws:iam::*:mfa/*",
            },
            {
                "Sid": "AllowManageOwnUserMFA",
                "Effect": "Allow",
                "Action": [
                    "iam:DeactivateMFADevice",
                    "iam:EnableMFADevice",
                    "iam:GetMFADevice",
                    "iam:ListMFADevices",
                    "iam:ResyncMFADevice",
                ],
                "Resource": own_user,
            },
            {
                "Sid": "DenyAllExceptListedIfNoMFA",
                "Effect": "Deny",
                "NotAction": list(SELF_SERVICE_WITHOUT_MFA),
                "Resource": "*",
                # BoolIfExists: requests signed with long-term keys carry no MFA key at all and are denied too
                "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
            },
        ],
    }
