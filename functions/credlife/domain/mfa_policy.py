"""The project's "require MFA" managed policy, after AWS's documented pattern ("Allows MFA-authenticated
IAM users to manage their own MFA device"): a console session without MFA may set up and manage the user's
own MFA device (and change the password), and everything else is denied to it.

The deny uses `Bool` (not the documented `BoolIfExists`) on `aws:MultiFactorAuthPresent` = "false": the key
is present, and false, only in requests made with temporary credentials obtained without MFA (a console
session, `GetSessionToken` without MFA). Requests signed with the user's long-term access keys carry no
such key at all, so `BoolIfExists` would deny them too and break every workload using the user's keys;
with `Bool` they are not affected.

Attached to a console user who still has no MFA device after the grace period; detached as soon as the
reason is gone (an MFA device enabled, the console password removed, the user exempt). moto cannot
evaluate Conditions, so tests assert this document statement by statement."""

from __future__ import annotations

from typing import Any

POLICY_NAME = "credlife-require-mfa"
POLICY_DESCRIPTION = (
    "credential-lifecycle: console sessions without MFA may only set up MFA; access keys are not affected"
)

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
                # Bool, not BoolIfExists: requests signed with the user's access keys carry no MFA key
                # at all and must keep working; only sessions that say "no MFA" are denied.
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}},
            },
        ],
    }
