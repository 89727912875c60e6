"""The account password policy compared with a baseline (DESIGN §3): what is weaker, and the policy that
enforcing the baseline would set. Enforcing never weakens a setting that is already stronger."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class PasswordPolicyBaseline(BaseModel):
    """Defaults: CIS AWS Foundations 2.7/2.8 and Security Hub IAM.7, as DESIGN §3 lists them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    minimum_length: int = Field(default=14, ge=6, le=128)
    require_symbols: bool = True
    require_numbers: bool = True
    require_uppercase: bool = True
    require_lowercase: bool = True
    allow_users_to_change: bool = True
    max_age_days: int = Field(default=90, ge=1, le=1095)
    reuse_prevention: int = Field(default=24, ge=1, le=24)
    #: alert only (False) or set the baseline on the account (True)
    enforce: bool = False


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """The account's policy as IAM reports it; None fields mean "not set"."""

    minimum_length: int | None = None
    require_symbols: bool = False
    require_numbers: bool = False
    require_uppercase: bool = False
    require_lowercase: bool = False
    allow_users_to_change: bool = False
    max_age_days: int | None = None  # None: passwords never expire
    reuse_prevention: int | None = None


@dataclass(frozen=True, slots=True)
class Drift:
    setting: str
    current: object
    expected: object

    def describe(self) -> str:
        return f"{self.setting} is {self.current!r}, baseline {self.expected!r}"


def drift(current: PasswordPolicy | None, baseline: PasswordPolicyBaseline) -> list[Drift]:
    """Every setting where the account is weaker than the baseline (no policy at all: all of them)."""
    policy = current or PasswordPolicy()
    found: list[Drift] = []
    if (policy.minimum_length or 0) < baseline.minimum_length:
        found.append(Drift("minimum_length", policy.minimum_length, baseline.minimum_length))
    for name in (
        "require_symbols",
        "require_numbers",
        "require_uppercase",
        "require_lowercase",
        "allow_users_to_change",
    ):
        if getattr(baseline, name) and not getattr(policy, name):
            found.append(Drift(name, getattr(policy, name), True))
    if policy.max_age_days is None or policy.max_age_days > baseline.max_age_days:
        found.append(Drift("max_age_days", policy.max_age_days, baseline.max_age_days))
    if (policy.reuse_prevention or 0) < baseline.reuse_prevention:
        found.append(Drift("reuse_prevention", policy.reuse_prevention, baseline.reuse_prevention))
    return found


def enforced(current: PasswordPolicy | None, baseline: PasswordPolicyBaseline) -> PasswordPolicy:
    """The policy to set: the baseline, keeping every setting that is already stronger."""
    policy = current or PasswordPolicy()
    return PasswordPolicy(
        minimum_length=max(policy.minimum_length or 0, baseline.minimum_length),
        require_symbols=policy.require_symbols or baseline.require_symbols,
        require_numbers=policy.require_numbers or baseline.require_numbers,
        require_uppercase=policy.require_uppercase or baseline.require_uppercase,
        require_lowercase=policy.require_lowercase or baseline.require_lowercase,
        allow_users_to_change=policy.allow_users_to_change or baseline.allow_users_to_change,
        max_age_days=min(policy.max_age_days or baseline.max_age_days, baseline.max_age_days),
        reuse_prevention=max(policy.reuse_prevention or 0, baseline.reuse_prevention),
    )
