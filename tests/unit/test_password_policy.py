"""Account password policy against the baseline: nothing to do, drift per setting, enforcement that never
weakens a stronger setting."""

from __future__ import annotations

from dataclasses import replace

import pytest

from credlife.domain.password_policy import PasswordPolicy, PasswordPolicyBaseline, drift, enforced

BASELINE = PasswordPolicyBaseline()
STRONG = PasswordPolicy(
    minimum_length=14,
    require_symbols=True,
    require_numbers=True,
    require_uppercase=True,
    require_lowercase=True,
    allow_users_to_change=True,
    max_age_days=90,
    reuse_prevention=24,
)


def test_a_policy_at_the_baseline_has_no_drift() -> None:
    assert drift(STRONG, BASELINE) == []


def test_no_policy_at_all_drifts_on_every_setting() -> None:
    assert {d.setting for d in drift(None, BASELINE)} == {
        "minimum_length",
        "require_symbols",
        "require_numbers",
        "require_uppercase",
        "require_lowercase",
        "allow_users_to_change",
        "max_age_days",
        "reuse_prevention",
    }


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"minimum_length": 13}, "minimum_length"),
        ({"require_symbols": False}, "require_symbols"),
        ({"max_age_days": 91}, "max_age_days"),
        ({"max_age_days": None}, "max_age_days"),
        ({"reuse_prevention": 23}, "reuse_prevention"),
        ({"allow_users_to_change": False}, "allow_users_to_change"),
    ],
)
def test_each_weaker_setting_is_named(change: dict[str, object], setting: str) -> None:
    (found,) = drift(replace(STRONG, **change), BASELINE)  # type: ignore[arg-type]
    assert found.setting == setting
    assert setting in found.describe()


def test_stronger_settings_are_not_drift_and_survive_enforcement() -> None:
    stronger = PasswordPolicy(
        minimum_length=20,
        require_symbols=True,
        require_numbers=True,
        require_uppercase=True,
        require_lowercase=True,
        allow_users_to_change=True,
        max_age_days=30,
        reuse_prevention=24,
    )
    assert drift(stronger, BASELINE) == []
    assert enforced(stronger, BASELINE) == stronger


def test_enforcing_a_weak_policy_gives_the_baseline() -> None:
    weak = PasswordPolicy(minimum_length=8, max_age_days=365)
    assert enforced(weak, BASELINE) == STRONG
    assert drift(enforced(weak, BASELINE), BASELINE) == []
