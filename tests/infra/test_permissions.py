"""Every role is granted exactly what the adapters its function wires together declare (DESIGN §5): no
more, no less — the scheduled scanner (single-account and organization mode), the account worker, and the
member-account role the worker assumes.

Infra never imports runtime code; this test is where the two meet."""

from __future__ import annotations

from credlife.aws import executor, inventory, organizations, secrets, state_store
from infra.constants import (
    KMS_INDIRECT_ACTIONS,
    MEMBER_ACTIONS,
    ORGANIZATION_SCANNER_ACTIONS,
    WORKER_ACTIONS,
    qualified,
    scanner_actions,
)

INDIRECT = {f"kms:{action}" for action in KMS_INDIRECT_ACTIONS}


def _difference(granted: set[str], declared: set[str]) -> dict[str, list[str]]:
    return {
        "granted but not declared": sorted(granted - declared),
        "declared but not granted": sorted(declared - granted),
    }


def test_granted_actions_equal_the_adapters_declared_actions() -> None:
    # Given every adapter the scheduled lifecycle wires together (see credlife.aws.factory)
    declared = {
        *inventory.REQUIRED_ACTIONS,
        *executor.REQUIRED_ACTIONS,
        *state_store.REQUIRED_ACTIONS,
        *secrets.REQUIRED_ACTIONS,
    }
    # When compared with what the construct grants
    granted = set(scanner_actions()) - INDIRECT
    # Then nothing is granted that no adapter calls, and nothing called is missing
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
    declared = {*organizations.MemberSessions.REQUIRED_ACTIONS, *state_store.REQUIRED_ACTIONS}
    # Then its role's code actions are exactly those (plus KMS used on its behalf by DynamoDB)
    granted = set(qualified(WORKER_ACTIONS)) - INDIRECT
    assert granted == declared, _difference(granted, declared)


def test_member_role_grants_equal_what_the_lifecycle_calls_in_a_member_account() -> None:
    # Given the adapters that act in the member account (IAM, STS, the handover secrets)
    declared = {*inventory.REQUIRED_ACTIONS, *executor.REQUIRED_ACTIONS, *secrets.REQUIRED_ACTIONS}
    # Then the member role grants exactly those (its secrets use the account's AWS managed key)
    granted = set(qualified(MEMBER_ACTIONS))
    assert granted == declared, _difference(granted, declared)


def test_no_wildcard_or_admin_action_is_granted() -> None:
    every = (
        scanner_actions()
        | qualified(ORGANIZATION_SCANNER_ACTIONS)
        | qualified(WORKER_ACTIONS)
        | qualified(MEMBER_ACTIONS)
    )
    for action in every:
        service, name = action.split(":")
        assert "*" not in name, action
        assert service != "iam" or not name.startswith(("Put", "Attach", "CreateUser", "CreateRole")), action
