"""The root account: alert, never act (DESIGN §3). Findings come from the credential report's
`<root_account>` row: access keys present, no MFA, recent use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from credlife.domain.actions import Action, ActionKind, Reason, Severity
from credlife.domain.models import CredentialType

ROOT_USER = "<root_account>"


@dataclass(frozen=True, slots=True)
class RootAccount:
    """What the credential report says about the root user."""

    mfa_active: bool
    access_keys_active: tuple[bool, ...] = ()
    password_last_used: datetime | None = None
    access_keys_last_used: tuple[datetime | None, ...] = ()


def root_findings(root: RootAccount | None, now: datetime, *, recent_days: int = 30) -> list[Action]:
    """Alerts about the root user. Nothing for an account whose report has no root row (e.g. moto's)."""
    if root is None:
        return []
    found: list[Action] = []

    def alert(reason: Reason, severity: Severity, detail: str) -> None:
        found.append(
            Action(
                user=ROOT_USER,
                credential=CredentialType.ROOT,
                action=ActionKind.ALERT,
                reason=reason,
                due=now,
                severity=severity,
                detail=detail,
            )
        )

    active_keys = sum(root.access_keys_active)
    if active_keys:
        alert(
            Reason.ROOT_ACCESS_KEYS,
            Severity.CRITICAL,
            f"the root user has {active_keys} active access key(s): delete them and use IAM roles instead",
        )
    if not root.mfa_active:
        alert(
            Reason.ROOT_NO_MFA,
            Severity.CRITICAL,
            "the root user has no MFA device: enable a hardware or virtual MFA device for root",
        )
    uses = [t for t in (root.password_last_used, *root.access_keys_last_used) if t is not None]
    last = max(uses, default=None)
    if last is not None and now - last <= timedelta(days=recent_days):
        alert(
            Reason.ROOT_RECENT_USE,
            Severity.HIGH,
            f"the root user was used on {last:%Y-%m-%d %H:%M}Z: confirm who and why, and use IAM "
            "identities for everyday work",
        )
    return found
