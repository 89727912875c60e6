"""The scanner role is granted exactly what the adapters declare they call (DESIGN §5): no more, no less.

Infra never imports runtime code; this test is where the two meet."""

from __future__ import annotations

from credlife.aws import executor, inventory, secrets, state_store
from infra.constants import KMS_INDIRECT_ACTIONS, scanner_actions


def test_granted_actions_equal_the_adapters_declared_actions() -> None:
    # Given every adapter the scheduled lifecycle wires together (see credlife.aws.factory)
    declared = {
        *inventory.REQUIRED_ACTIONS,
        *executor.REQUIRED_ACTIONS,
        *state_store.REQUIRED_ACTIONS,
        *secrets.REQUIRED_ACTIONS,
    }
    indirect = {f"kms:{action}" for action in KMS_INDIRECT_ACTIONS}
    # When compared with what the construct grants
    granted = set(scanner_actions())
    # Then nothing is granted that no adapter calls, and nothing called is missing
    assert granted - indirect == declared, {
        "granted but not declared": sorted(granted - indirect - declared),
        "declared but not granted": sorted(declared - granted),
    }


def test_no_wildcard_or_admin_action_is_granted() -> None:
    for action in scanner_actions():
        service, name = action.split(":")
        assert "*" not in name, action
        assert service != "iam" or not name.startswith(("Put", "Attach", "CreateUser", "CreateRole")), action
