"""Every role is granted exactly what the adapters its function wires together declare (DESIGN §5): no
more, no less — the scheduled scanner (single-account and organization mode), the account worker, the
member-account role the worker assumes, the event monitor and rotate-now.

Infra never imports runtime code; this test is where the two meet.

Issue 8's adapters (`credlife.aws.report_store`, `credlife.aws.security_hub`) are written beside this
infrastructure: the equalities below use the constants' `REPORT_ACTIONS` / `SECURITY_HUB_ACTIONS` for them,
and `test_report_and_security_hub_adapters_declare_exactly_the_granted_actions` ties those constants to the
adapters' own `REQUIRED_ACTIONS` (it fails until both modules exist)."""

from __future__ import annotations

import importlib

import pytest

from credlife.aws import (
    channels,
    credential_executor,
    executor,
    inventory,
    organizations,
    risk_factory,
    secrets,
    state_store,
)
from infra.constants import (
    EVENT_MONITOR_ACTIONS,
    KMS_INDIRECT_ACTIONS,
    MEMBER_ACTIONS,
    ORGANIZATION_SCANNER_ACTIONS,
    REPORT_ACTIONS,
    REQUIRE_MFA_ACTIONS,
    ROTATE_NOW_ACTIONS,
    SECURITY_HUB_ACTIONS,
    WORKER_ACTIONS,
    member_actions,
    qualified,
    scanner_actions,
)

INDIRECT = {f"kms:{action}" for action in KMS_INDIRECT_ACTIONS}
#: Granted to the scanner only, conditioned on the require-MFA policy's ARN (test_stack checks the
#: condition). Issue 4 adds the adapter that calls them; until it declares them they are the one
#: planned grant beyond the declared set, and once it does the equality below holds unchanged.
REQUIRE_MFA = set(qualified(REQUIRE_MFA_ACTIONS))
#: What `credlife.aws.report_store.REQUIRED_ACTIONS` and `credlife.aws.security_hub.REQUIRED_ACTIONS`
#: declare (checked against the modules themselves in the last test of this file).
REPORT_STORE = set(qualified(REPORT_ACTIONS))
SECURITY_HUB = set(qualified(SECURITY_HUB_ACTIONS))


def _difference(granted: set[str], declared: set[str]) -> dict[str, list[str]]:
    return {
        "granted but not declared": sorted(granted - declared),
        "declared but not granted": sorted(declared - granted),
    }


@pytest.mark.parametrize("security_hub", [False, True], ids=["security-hub-off", "security-hub-on"])
def test_granted_actions_equal_the_adapters_declared_actions(security_hub: bool) -> None:
    # Given every adapter the scheduled lifecycle wires together (see credlife.aws.factory), the report
    # store always and the Security Hub exporter when `security_hub` is on
    declared = {
        *inventory.REQUIRED_ACTIONS,
        *executor.REQUIRED_ACTIONS,
        *state_store.REQUIRED_ACTIONS,
        *secrets.REQUIRED_ACTIONS,
        *channels.REQUIRED_ACTIONS,
        *REPORT_STORE,
        *(SECURITY_HUB if security_hub else ()),
    }
    # When compared with what the construct grants
    granted = set(scanner_actions(security_hub=security_hub)) - INDIRECT
    # Then nothing is granted that no adapter calls, and nothing called is missing
    assert granted == declared | REQUIRE_MFA, _difference(granted, declared | REQUIRE_MFA)


def test_rotate_now_grants_equal_the_lifecycle_adapters_declared_actions() -> None:
    # Given rotate-now: the same runtime as the scanner (factory.build_runtime), no MFA enforcement
    declared = {
        *inventory.REQUIRED_ACTIONS,
        *executor.REQUIRED_ACTIONS,
        *state_store.REQUIRED_ACTIONS,
        *secrets.REQUIRED_ACTIONS,
        *channels.REQUIRED_ACTIONS,
    }
    # Then its role's code actions are exactly those
    granted = set(qualified(ROTATE_NOW_ACTIONS)) - INDIRECT
    assert granted == declared, _difference(granted, declared)


def test_event_monitor_grants_equal_the_risk_factory_declared_actions() -> None:
    # Given the event function's composition root (signin state + alert publisher)
    declared = set(risk_factory.REQUIRED_ACTIONS)
    # Then its role's code actions are exactly those (plus KMS used on its behalf by DynamoDB and SNS)
    granted = set(qualified(EVENT_MONITOR_ACTIONS)) - INDIRECT
    assert granted == declared, _difference(granted, declared)


def test_scheduler_fan_out_grants_equal_the_organization_adapters_declared_actions() -> None:
    # Given the directory and queue adapters the scheduler uses in organization mode
    declared = {
        *organizations.AccountDirectory.REQUIRED_ACTIONS,
        *organizations.AccountQueue.REQUIRED_ACTIONS,
    }
    # Then the scanner's extra organization grants are exactly those
    granted = set(qualified(ORGANIZATION_SCANNER_ACTIONS))
    assert granted == declared == set(organizations.REQUIRED_ACTIONS), _difference(granted, declared)


def test_worker_grants_equal_what_it_calls_in_the_home_account() -> None:
    # Given the worker: AssumeRole into members; state table in the home account (factory.build_runtime's
    # home session)
    declared = {
        *organizations.MemberSessions.REQUIRED_ACTIONS,
        *state_store.REQUIRED_ACTIONS,
        *channels.REQUIRED_ACTIONS,  # notices and run summaries go out from the home account
        *REPORT_STORE,  # each account's report goes to the home report bucket, with the worker's role
    }
    # Then its role's code actions are exactly those (plus KMS used on its behalf by DynamoDB)
    granted = set(qualified(WORKER_ACTIONS)) - INDIRECT
    assert granted == declared, _difference(granted, declared)


@pytest.mark.parametrize("security_hub", [False, True], ids=["security-hub-off", "security-hub-on"])
def test_member_role_grants_equal_what_the_lifecycle_calls_in_a_member_account(security_hub: bool) -> None:
    # Given the adapters that act in the member account (IAM, STS, the handover secrets), MFA enforcement
    # with the account's own require-MFA policy (factory.build_member_runtime), and Security Hub when on
    # (the worker imports an account's findings through its member session)
    declared = {
        *inventory.REQUIRED_ACTIONS,
        *executor.REQUIRED_ACTIONS,
        *secrets.REQUIRED_ACTIONS,
        *credential_executor.REQUIRE_MFA_ACTIONS,
        *(SECURITY_HUB if security_hub else ()),
    }
    # Then the member role grants exactly those (its secrets use the account's AWS managed key)
    granted = set(member_actions(security_hub=security_hub))
    assert granted == declared, _difference(granted, declared)
    assert set(qualified(MEMBER_ACTIONS)) == granted - SECURITY_HUB - REQUIRE_MFA


def test_the_require_mfa_grant_is_what_the_credential_executor_attaches_and_detaches_with() -> None:
    assert set(credential_executor.REQUIRE_MFA_ACTIONS) == REQUIRE_MFA


def test_rotate_now_and_event_monitor_publish_no_report_and_no_security_hub_finding() -> None:
    # Then only the scheduled run (scanner, worker, member role) gets the issue-8 permissions
    for groups in (ROTATE_NOW_ACTIONS, EVENT_MONITOR_ACTIONS):
        assert not set(qualified(groups)) & (REPORT_STORE | SECURITY_HUB)
    assert not set(qualified(WORKER_ACTIONS)) & SECURITY_HUB


def test_no_wildcard_or_admin_action_is_granted() -> None:
    every = (
        scanner_actions(security_hub=True)
        | qualified(ORGANIZATION_SCANNER_ACTIONS)
        | qualified(WORKER_ACTIONS)
        | member_actions(security_hub=True)
        | qualified(EVENT_MONITOR_ACTIONS)
        | qualified(ROTATE_NOW_ACTIONS)
    )
    for action in every:
        service, name = action.split(":")
        assert "*" not in name, action
        # Attaching a policy is granted only for the require-MFA policy (condition checked in test_stack)
        if action in REQUIRE_MFA:
            continue
        assert service != "iam" or not name.startswith(("Put", "Attach", "CreateUser", "CreateRole")), action


# -- PENDING THE RUNTIME (issue 8): fails until `credlife.aws.report_store` and `credlife.aws.security_hub`
# exist. Imported by name (not `pytest.importorskip`: a missing module must fail, not skip), so mypy does
# not need the modules either.


def test_report_and_security_hub_adapters_declare_exactly_the_granted_actions() -> None:
    # Given the two issue-8 adapters' declared actions
    report_store = importlib.import_module("credlife.aws.report_store")
    security_hub = importlib.import_module("credlife.aws.security_hub")

    # Then they are exactly what the constants grant (and what the equalities above assume)
    assert set(report_store.REQUIRED_ACTIONS) == REPORT_STORE == {"s3:PutObject"}
    assert (
        set(security_hub.REQUIRED_ACTIONS)
        == SECURITY_HUB
        == {
            "securityhub:BatchImportFindings",
            "securityhub:GetFindings",
        }
    )
