"""Ports: what the lifecycle service needs from the outside world. Adapters in `credlife.aws` implement
them with boto3; unit tests implement them in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from credlife.domain.actions import Action
from credlife.domain.models import AccessKey, KeyRecord, Notice, User


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class InventoryPort(Protocol):
    def users(self) -> tuple[User, ...]:
        """Every IAM user with path, tags, creation date, access keys (without ids), password, MFA flag."""

    def resolve_keys(self, user: User) -> User:
        """The same user with access-key ids filled in (one `ListAccessKeys` call)."""


class StateStorePort(Protocol):
    def load_records(self, account_id: str) -> dict[str, KeyRecord]:
        """Every key record of the account, keyed by `key_ref(user, key_created)`."""

    def record_notice(self, account_id: str, user: str, key: AccessKey, notice: Notice) -> bool:
        """Persist a notice once: False when that (warns_of, stage) was already recorded for the key."""

    def record_rotation(
        self, account_id: str, user: str, key: AccessKey, *, rotated_at: datetime, replacement: AccessKey
    ) -> None: ...

    def record_deactivation(
        self, account_id: str, user: str, key: AccessKey, *, at: datetime, reason: str
    ) -> None: ...

    def record_first_seen_inactive(self, account_id: str, user: str, key: AccessKey, *, at: datetime) -> bool:
        """Start an inactive key's delete clock once; False when it had already started."""

    def record_deletion(self, account_id: str, user: str, key: AccessKey, *, at: datetime) -> None: ...

    def write_audit(self, account_id: str, entry: AuditEntry) -> None: ...

    def audit_log(self, account_id: str) -> list[AuditEntry]: ...


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit trail. Written before (`phase="intent"`) and after (`phase="result"`) every
    action. Never holds a secret."""

    at: datetime
    phase: str  # "intent" | "result"
    run_id: str
    action: Mapping[str, Any]  # Action.as_row()
    outcome: str = ""  # "applied" | "skipped" | "dry_run" | "failed" | "noop"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    status: str  # "applied" | "dry_run" | "noop" | "failed"
    detail: str = ""
    new_key_id: str | None = None
    secret_name: str | None = None


class ExecutorPort(Protocol):
    def apply(
        self, account_id: str, user: User, actions: Sequence[Action], *, now: datetime, run_id: str
    ) -> list[Outcome]:
        """Apply one user's actions (key ids resolved), idempotently, auditing each before and after."""


class NotifierPort(Protocol):
    def notify(self, account_id: str, user: User, outcomes: Sequence[Outcome]) -> None:
        """Tell the owner and the security team. (Issue 3 brings SES/SNS; until then it logs.)"""


@dataclass(slots=True)
class RunSummary:
    account_id: str
    run_id: str
    started_at: datetime
    dry_run: bool
    users: int = 0
    actions: list[Action] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)
