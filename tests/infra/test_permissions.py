"""Every role is granted what the adapters its own function wires together declare (DESIGN §5), derived in
`infra/permissions.py`: no more, no less — the scheduled scanner (single-account), the scheduler in
organization mode (which only lists and queues accounts), the account worker, the member-account role,
the event monitor and rotate-now (the lifecycle's reads and access-key steps only).

The templates' statements are compared with these sets in test_stack, test_event_stack and
test_organization_stack; tests/deployed runs each function with only its role."""

from __future__ import annotations

import pytest

from credlife.aws import (
    channels,
    credential_executor,
    executor,
    inventory,
    organizations,
    report_store,
    risk_factory,
    secrets,
    security_hub,
    state_store,
)
from infra.constants import KMS_INDIRECT_ACTIONS
from infra.permissions import (
    UnscopedAction,
    event_monitor_groups,
    exempt_deny_actions,
    groups_for,
    member_actions,
    qualified,
    rotate_now_code_actions,
    rotate_now_groups,
    scanner_actions,
    scanner_groups,
    scope_of,
    worker_groups,
)

pytestmark = pytest.mark.infra

INDIRECT = {f"kms:{action}" for action in KMS_INDIRECT_ACTIONS}
LIFECYCLE = {
    *inventory.REQUIRED_ACTIONS,
    *executor.REQUIRED_ACTIONS,
    *state_store.REQUIRED_ACTIONS,
    *secrets.REQUIRED_ACTIONS,
    *channels.REQUIRED_ACTIONS,
}
REQUIRE_MFA = set(credential_executor.REQUIRE_MFA_ACTIONS)


def _difference(granted: set[str], declared: set[str]) -> dict[str, list[str]]:
    return {
        "granted but not declared": sorted(granted - declared),
        "declared but not granted": sorted(declared - granted),
    }


@pytest.mark.parametrize("hub", [False, True], ids=["security-hub-off", "security-hub-on"])
def test_scanner_grants_equal_the_lifecycle_adapters_declared_actions(hub: bool) -> None:
    declared = {
        *LIFECYCLE,
        *REQUIRE_MFA,
        *report_store.REQUIRED_ACTIONS,
        *(security_hub.REQUIRED_ACTIONS if hub else ()),
    }
    granted = set(scanner_actions(security_hub=hub)) - INDIRECT
    assert granted == declared, _difference(granted, declared)


def test_rotate_now_gets_the_reads_and_key_steps_but_no_other_credentials_writes() -> None:
    granted = set(qualified(rotate_now_groups())) - INDIRECT
    other_credentials = set(credential_executor.REQUIRED_ACTIONS)
    declared = {
        *inventory.REQUIRED_ACTIONS,  # its reads, the account facts it declares included
        *(set(executor.REQUIRED_ACTIONS) - other_credentials),
        *state_store.REQUIRED_ACTIONS,
        *secrets.REQUIRED_ACTIONS,
        *channels.REQUIRED_ACTIONS,
    }
    assert granted == declared, _difference(granted, declared)
    # the writes it never uses: login profiles, the password policy, SSH keys and the like, MFA enforcement
    for action in (
        "iam:DeleteLoginProfile",
        "iam:UpdateAccountPasswordPolicy",
        "iam:DeleteSSHPublicKey",
        "iam:AttachUserPolicy",
        "iam:DetachUserPolicy",
        "s3:PutObject",
    ):
        assert action not in granted
    assert {"iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeleteAccessKey"} <= granted


def test_organization_scheduler_only_lists_and_queues_accounts() -> None:
    granted = set(scanner_actions(organization=True, security_hub=True))
    assert granted == set(organizations.REQUIRED_ACTIONS)
    assert not any(a.startswith(("iam:", "secretsmanager:", "dynamodb:", "kms:")) for a in granted)


def test_worker_grants_equal_what_it_calls_in_the_home_account() -> None:
    declared = {
        *organizations.MemberSessions.REQUIRED_ACTIONS,
        *state_store.REQUIRED_ACTIONS,
        *channels.REQUIRED_ACTIONS,
        *report_store.REQUIRED_ACTIONS,
    }
    granted = set(qualified(worker_groups())) - INDIRECT
    assert granted == declared, _difference(granted, declared)


@pytest.mark.parametrize("hub", [False, True], ids=["security-hub-off", "security-hub-on"])
def test_member_role_grants_equal_what_the_lifecycle_calls_in_a_member_account(hub: bool) -> None:
    declared = {
        *inventory.REQUIRED_ACTIONS,
        *executor.REQUIRED_ACTIONS,
        *secrets.REQUIRED_ACTIONS,
        *REQUIRE_MFA,
        *(security_hub.REQUIRED_ACTIONS if hub else ()),
    }
    granted = set(member_actions(security_hub=hub))
    assert granted == declared, _difference(granted, declared)


def test_event_monitor_grants_equal_the_risk_factory_declared_actions() -> None:
    granted = set(qualified(event_monitor_groups())) - INDIRECT
    assert granted == set(risk_factory.REQUIRED_ACTIONS)


def test_a_new_adapter_action_reaches_the_roles_of_the_functions_that_use_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the executor declares one more IAM call (e.g. a fresh read before a disruptive step)
    monkeypatch.setattr(
        executor, "REQUIRED_ACTIONS", (*executor.REQUIRED_ACTIONS, "iam:GetAccessKeyLastUsed")
    )
    # Then the scanner, rotate-now and the member role get it, on the users' ARNs
    assert "iam:GetAccessKeyLastUsed" in scanner_actions()
    assert "iam:GetAccessKeyLastUsed" in rotate_now_code_actions()
    assert "iam:GetAccessKeyLastUsed" in member_actions()
    assert scope_of("iam:GetAccessKeyLastUsed") == "users"


def test_an_action_of_an_unknown_service_fails_naming_it() -> None:
    with pytest.raises(UnscopedAction, match="lambda:InvokeFunction"):
        groups_for(["lambda:InvokeFunction"])


def test_scopes_of_the_special_actions() -> None:
    assert scope_of("iam:GetCredentialReport") == "*"
    assert scope_of("iam:AttachUserPolicy") == "users-require-mfa"
    assert scope_of("sts:AssumeRole") == "member-roles"
    assert scope_of("securityhub:BatchImportFindings") == "security-hub-product"
    assert scope_of("dynamodb:TransactWriteItems") == "state-table"


def test_exempt_users_are_denied_every_change_but_lifting_mfa_enforcement() -> None:
    denied = set(exempt_deny_actions(scanner_groups()))
    assert {"iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeleteAccessKey"} <= denied
    assert {"iam:DeleteLoginProfile", "iam:AttachUserPolicy"} <= denied
    assert "iam:DetachUserPolicy" not in denied
    assert not [a for a in denied if a.split(":")[1].startswith(("List", "Get", "Generate"))]
    assert "iam:UpdateAccountPasswordPolicy" not in denied  # account-wide: no user resource


def test_no_wildcard_or_admin_action_is_granted() -> None:
    every = (
        scanner_actions(security_hub=True)
        | scanner_actions(organization=True)
        | qualified(worker_groups())
        | member_actions(security_hub=True)
        | qualified(event_monitor_groups())
        | qualified(rotate_now_groups())
    )
    for action in every:
        service, name = action.split(":")
        assert "*" not in name, action
        if action in REQUIRE_MFA:
            continue
        assert service != "iam" or not name.startswith(("Put", "Attach", "CreateUser", "CreateRole")), action
