"""Ports: what the lifecycle service needs from the outside world. Adapters in `credlife.aws` implement
them with boto3; unit tests implement them in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from credlife.domain.actions import Action
from credlife.domain.messages import MessageItem
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

    def record_notice(
        self,
        account_id: str,
        user: str,
        key: AccessKey,
        notice: Notice,
        messages: Sequence[MessageItem] = (),
    ) -> bool:
        """Persist a notice once, with the outbox items that tell its owner (both or neither): False when
        that (warns_of, stage, deadline) was already recorded for the key."""

    def record_key_observation(
        self, account_id: str, user: str, key: AccessKey, **observed: datetime
    ) -> None:
        """Remember what a scan saw about a key (`replacement_first_used`, `reactivated_at`)."""

    def mark_notice_delivered(self, account_id: str, notice_ref: str, *, at: datetime) -> None:
        """The owner received that notice: its minimum-notice clock starts at `at`."""

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

    def audit_log(
        self, account_id: str, *, since: datetime | None = None, phase: str | None = None
    ) -> list[AuditEntry]:
        """The audit trail, oldest first (from `since` on when given)."""

    # -- the outbox: every message item is stored undelivered, then marked delivered once a channel took it

    def enqueue_message(self, account_id: str, item: MessageItem) -> bool:
        """Store an item once (by its id): False when it was already stored (delivered or not)."""

    def pending_messages(self, account_id: str) -> list[MessageItem]:
        """Every stored item no channel has accepted yet, oldest first."""

    def mark_delivered(self, account_id: str, item_ids: Sequence[str], *, at: datetime, receipt: str) -> None:
        """Record that a channel accepted these items (they are never sent again)."""

    def mark_failed(self, account_id: str, item_ids: Sequence[str], *, at: datetime, error: str) -> None:
        """Count a failed attempt; the items stay pending for the next run."""

    # -- the rotation journal: a rotation's steps, recorded so that the next run can finish or undo it

    def journal_intent(self, account_id: str, entry: RotationJournal) -> None:
        """Record a rotation before its `CreateAccessKey` (raises when it cannot: then nothing is created)."""

    def journal_update(self, account_id: str, entry: RotationJournal) -> None:
        """Record the entry's step (and what it learnt: the new key, the end); the entry must exist."""

    def open_journals(self, account_id: str) -> list[RotationJournal]:
        """Every rotation not finished nor undone yet, oldest first."""


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


#: Steps of a rotation's journal entry, in order; an entry is open until `COMPLETED` or `UNDONE`.
JOURNAL_INTENT = "intent"  # recorded before CreateAccessKey (the user's keys then: `keys_before`)
JOURNAL_CREATED = "created"  # the new key exists (its id recorded) and its secret value is being written
JOURNAL_UNDOING = "undoing"  # the hand-over failed: the new key is being deleted, the secret rolled back
JOURNAL_STORED = "stored"  # the secret's current version holds the new key (`secret_version`)
JOURNAL_COMPLETED = "completed"  # the rotation is recorded on the old key's record
JOURNAL_UNDONE = "undone"  # nothing of the rotation is left (no new key, no secret naming it)


@dataclass(frozen=True, slots=True)
class RotationJournal:
    """One rotation's progress, written before `CreateAccessKey` and after each step, so that a run that
    stops half-way (timeout, crash, a failed clean-up) is finished or undone by the next one. Never holds
    a secret: `secret_version` is the id (ClientRequestToken) of the secret version this rotation writes,
    which tells whether the secret holds the new key without reading it."""

    user: str
    old_key_created: datetime
    old_key_id: str | None
    started_at: datetime
    run_id: str
    action: Action  # the planned rotation (its deadline and notice stage are the owner's message)
    secret_name: str
    secret_version: str
    keys_before: tuple[str, ...] = ()
    step: str = JOURNAL_INTENT
    new_key_id: str | None = None
    new_key_created: datetime | None = None
    finished_at: datetime | None = None
    resolution: str = ""

    @property
    def open(self) -> bool:
        return self.finished_at is None


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    status: str  # "applied" | "dry_run" | "noop" | "failed"
    detail: str = ""
    new_key_id: str | None = None
    secret_name: str | None = None
    #: The outcome's message items were already stored with its notice (one transaction): not queued again.
    messages_stored: bool = False


class NoticeMessagesPort(Protocol):
    """Composes the message items of an outcome whose notice is being recorded, so the executor can store
    the notice and the items that tell its owner together (a notice nobody is told about never counts)."""

    def items_for(self, user: User, outcome: Outcome, now: datetime) -> list[MessageItem]: ...


class ExecutorPort(Protocol):
    def apply(
        self, account_id: str, user: User, actions: Sequence[Action], *, now: datetime, run_id: str
    ) -> list[Outcome]:
        """Apply one user's actions (key ids resolved), idempotently, auditing each before and after."""

    def recover_rotations(self, account_id: str, *, now: datetime, run_id: str, dry_run: bool) -> Recovery:
        """Finish or undo the rotations an earlier run left half-done (the rotation journal)."""


@dataclass(frozen=True, slots=True)
class Recovery:
    """What `recover_rotations` did: one outcome per journal entry it finished or undid (the planned
    rotation, `applied` when finished, `failed` when undone), and the users whose entry is still open
    (their access-key actions wait: a key the project could not hand over is never planned around)."""

    outcomes: tuple[Outcome, ...] = ()
    held: Mapping[str, str] = field(default_factory=dict)  # user → why


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message ready for a channel. `recipient` is an email address, or "security" for the security
    team's channels; `json_body` is set for machine-readable channels (the SNS topic)."""

    recipient: str
    subject: str
    text: str
    html: str | None = None
    json_body: str | None = None


class Undeliverable(Exception):
    """A channel that cannot put a message in front of a person (e.g. no e-mail sender configured): the
    message stays pending, and a notice it carries never counts as received."""


class ChannelPort(Protocol):
    """One way of delivering a message (SES email, SNS topic, a log, ...). Adding a channel is one class."""

    name: str

    def send(self, message: OutgoingMessage) -> str:
        """Deliver the message; return the provider's receipt (message id). Raises on failure."""


class NotifierPort(Protocol):
    def to_owner(self, message: OutgoingMessage) -> str:
        """Send one owner's digest; the receipt, or an exception (nothing was accepted)."""

    def to_security(self, message: OutgoingMessage) -> str:
        """Send the run summary to the security team's channels."""


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
    #: Message items stored this run, digests accepted by a channel, items still undelivered after it.
    messages_queued: int = 0
    digests_sent: int = 0
    undelivered: int = 0
    summary_published: bool = False
    api_calls: dict[str, int] = field(default_factory=dict)
