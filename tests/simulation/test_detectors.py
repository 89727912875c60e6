"""The simulation's detectors themselves: a promise broken on purpose in the middle of a run is reported
with its seed, account, day, credential, invariant and evidence (so a green simulation means something)."""

from __future__ import annotations

import logging

import pytest

from tests.simulation.engine import AccountSim
from tests.simulation.observe import iam_state, key_secrets
from tests.simulation.runner import run_accounts

pytestmark = pytest.mark.simulation

SEED = 20261129
ACCOUNT = 1
SABOTAGE_DAY = 3


def test_a_deactivation_nobody_was_told_of_is_reported() -> None:
    # Given one simulated account without faults, and on day 3, in the middle of the run, an active key of
    # a managed user set Inactive as if by the project, with no notice, no audit row
    planted: list[str] = []

    def sabotage(sim: AccountSim, day: int) -> None:
        if day != SABOTAGE_DAY or planted:
            return
        state = iam_state(sim.acct)
        for user in sim.account.users:
            keys = state.get(user.name)
            active = [k for k, status in (keys.keys if keys else {}).items() if status == "Active"]
            if user.exempt or not active or sim.account.dry_run:
                continue
            sim.iam.update_access_key(UserName=user.name, AccessKeyId=active[0], Status="Inactive")
            planted.append(f"{user.name} access_key {active[0]}")
            return

    # When the account is simulated for a few days
    (result,) = run_accounts(SEED, [ACCOUNT], SABOTAGE_DAY + 3, faults_on=False, sabotage=sabotage)

    # Then the planted deactivation is reported as no-notice (a) and unaudited (g), naming seed, account,
    # day and the key
    assert planted, "the sabotage found no active key to deactivate"
    found = {(v.invariant, v.credential, v.day) for v in result.violations}
    assert ("a", planted[0], SABOTAGE_DAY) in found, result.violations
    assert ("g", planted[0], SABOTAGE_DAY) in found, result.violations
    reported = next(v for v in result.violations if v.invariant == "a" and v.credential == planted[0])
    assert f"seed={SEED} account={ACCOUNT}" in str(reported)
    assert "no notice delivered" in reported.evidence


def test_a_secret_in_a_log_is_reported() -> None:
    # Given one simulated account, and on day 1 a project logger writing a key's SecretAccessKey
    def sabotage(sim: AccountSim, day: int) -> None:
        if day == 1:
            secret = next(iter(key_secrets(sim.acct)))
            logging.getLogger("credlife.sabotage").info("oops", extra={"value": secret})

    # When the account is simulated for a few days
    (result,) = run_accounts(SEED, [ACCOUNT], 3, faults_on=False, sabotage=sabotage)

    # Then the leak is reported as (f), with the secret masked in the evidence
    leaks = [v for v in result.violations if v.invariant == "f"]
    assert [v.day for v in leaks] == [1], result.violations
    assert "in logs" in leaks[0].evidence
    assert "<THE SECRET>" in leaks[0].evidence
