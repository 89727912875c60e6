"""The require-MFA policy, statement by statement: moto cannot evaluate Conditions, so the document is
the contract (AWS's documented deny-unless-MultiFactorAuthPresent pattern)."""

from __future__ import annotations

import json
from typing import Any

from credlife.domain.mfa_policy import SELF_SERVICE_WITHOUT_MFA, require_mfa_policy_document


def statements() -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in require_mfa_policy_document()["Statement"]}


def test_document_is_valid_iam_json_with_stable_statement_ids() -> None:
    document = require_mfa_policy_document()
    assert document["Version"] == "2012-10-17"
    assert json.loads(json.dumps(document)) == document
    assert set(statements()) == {
        "AllowViewAccountInfo",
        "AllowManageOwnPasswordAndUser",
        "AllowManageOwnVirtualMFADevice",
        "AllowManageOwnUserMFA",
        "DenyAllExceptListedIfNoMFA",
    }


def test_everything_else_is_denied_without_mfa() -> None:
    deny = statements()["DenyAllExceptListedIfNoMFA"]
    assert deny["Effect"] == "Deny"
    assert deny["Resource"] == "*"
    assert "Action" not in deny  # NotAction: deny all but the listed self-service calls
    assert deny["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "false"}}
    assert set(deny["NotAction"]) == set(SELF_SERVICE_WITHOUT_MFA)


def test_calls_signed_with_the_users_access_keys_are_never_denied() -> None:
    """Requests signed with long-term access keys carry no `aws:MultiFactorAuthPresent` key. A deny
    conditioned with an `...IfExists` operator (AWS's documented `BoolIfExists` pattern) matches when the key
    is absent and would break every workload using the user's keys; a plain `Bool` on "false" matches only
    sessions that say "no MFA" (console, GetSessionToken without MFA)."""
    for statement in require_mfa_policy_document()["Statement"]:
        if statement["Effect"] != "Deny":
            continue
        condition = statement.get("Condition")
        assert condition, f"{statement['Sid']}: an unconditioned deny would also deny access-key calls"
        for operator, keys in condition.items():
            assert not operator.endswith("IfExists"), f"{statement['Sid']}: {operator} denies absent keys"
            assert operator == "Bool"
            assert keys == {"aws:MultiFactorAuthPresent": "false"}


def test_a_user_can_still_enrol_mfa_and_change_their_password() -> None:
    exempted = set(statements()["DenyAllExceptListedIfNoMFA"]["NotAction"])
    for needed in (
        "iam:CreateVirtualMFADevice",
        "iam:EnableMFADevice",
        "iam:ChangePassword",
        "sts:GetSessionToken",
    ):
        assert needed in exempted
    # but cannot remove MFA (DeactivateMFADevice) without signing in with MFA
    assert "iam:DeactivateMFADevice" not in exempted


def test_self_service_is_scoped_to_the_users_own_identity() -> None:
    own = "arn:aws:iam::*:user/${aws:username}"
    assert statements()["AllowManageOwnUserMFA"]["Resource"] == own
    assert statements()["AllowManageOwnPasswordAndUser"]["Resource"] == own
    assert statements()["AllowManageOwnVirtualMFADevice"]["Resource"] == "arn:aws:iam::*:mfa/*"
    allowed = {a for s in statements().values() if s["Effect"] == "Allow" for a in s["Action"]}
    assert not any(action.endswith("*") for action in allowed)
