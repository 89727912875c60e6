"""Carries out the planner's actions for one user: dry-run aware, idempotent, audited.

Every action gets an audit entry before (`intent`) and after (`result`); one failing action never stops
the others. Deletions run first (they make room under IAM's two-keys-per-user quota), then rotations,
deactivations, and the actions that only inform. A rotation (`credlife.aws.rotation`) is journalled and
hands the new secret access key straight to the key vault: it is never logged, audited, returned or put
in an error; if the vault cannot store it, the new key is deleted again, and what a stopped run left
half-done is finished or undone by the next (`recover_rotations`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from credlife.aws import credential_executor, fresh_facts, rotation
from credlife.aws.calls import ApiCallCounter
from credlife.aws.credential_executor import CredentialActions
from credlife.aws.errors import AwsError, NotFound, translate
from credlife.aws.fresh_facts import FreshFacts, used_since
from credlife.aws.rotation import Rotator
from credlife.aws.secrets import KeyVault
from credlife.domain.actions import Action, ActionKind, Reason, quiet
from credlife.domain.messages import MessageItem
from credlife.domain.models import AccessKey, CredentialType, KeyRecord, KeyStatus, Notice, User, key_ref
from credlife.ports import AuditEntry, NoticeMessagesPort, Outcome, Recovery, StateStorePort

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient

log = logging.getLogger("credlife.executor")

#: What the executor calls itself (the vault and the state store declare their own).
#: The access-key actions.
KEY_ACTIONS: Final = (
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "iam:ListAccessKeys",  # re-reads a key's status right before deleting it
)
REQUIRED_ACTIONS: Final = tuple(
    dict.fromkeys(
        (
            *KEY_ACTIONS,
            *rotation.REQUIRED_ACTIONS,  # the journalled rotation and its recovery
            *credential_executor.REQUIRED_ACTIONS,  # console passwords, MFA checks, the password policy
            *fresh_facts.REQUIRED_ACTIONS,  # re-read right before a disruptive step
        )
    )
)

APPLIED: Final = "applied"
DRY_RUN: Final = "dry_run"
NOOP: Final = "noop"
FAILED: Final = "failed"
REPORTED: Final = "reported"
SKIPPED: Final = "skipped"
#: Pauses between attempts to write an action's result row.
AUDIT_RETRY_DELAYS: Final = (0.2, 1.0, 3.0)

#: Disruptive access-key steps whose reason a use of the key voids (an unused key, a "safe" early
#: retirement, an inactive key's clean-up): the key's last use is re-read right before them. The deadline
#: of a replaced key (`key_replaced_overdue`) stands whether or not the old key is still used.
_VOIDED_BY_USE: Final = frozenset({Reason.KEY_UNUSED, Reason.KEY_REPLACED_SAFE, Reason.INACTIVE_KEY_CLEANUP})

#: Execution order: deletions make room for rotations; informing actions come last.
_ORDER: Final = {ActionKind.DELETE: 0, ActionKind.ROTATE: 1, ActionKind.DEACTIVATE: 2}
_REPORT_ONLY: Final = frozenset({ActionKind.ALERT, ActionKind.BLOCKED, ActionKind.EXEMPT, ActionKind.ADVISE})
_MAX_KEYS_PER_USER: Final = 2
_T = TypeVar("_T")


class ExecutorError(Exception):
    """An action that cannot be carried out as given (its message names no secret and no parameter value)."""


@dataclass(slots=True)
class _Run:
    """One `apply` call: the user's keys as they are now (updated after each change)."""

    account_id: str
    user: User
    now: datetime
    run_id: str
    keys: list[AccessKey] = field(default_factory=list)

    def find(self, action: Action) -> AccessKey | None:
        if action.key_id:
            found = next((k for k in self.keys if k.key_id == action.key_id), None)
            if found is not None or any(k.key_id for k in self.keys):
                return found
            # keys not listed this run (a dry-run or report-only row): the row's id came from the key
            # record, the key is the report's slot of the same creation time
        if action.key_created:
            wanted = _second(action.key_created)
            return next((k for k in self.keys if _second(k.created) == wanted), None)
        return None

    def replace_key(self, old: AccessKey, new: AccessKey | None) -> None:
        self.keys = [k for k in self.keys if k is not old]
        if new is not None:
            self.keys.append(new)


class Executor:
    """Applies actions to IAM through one IAM client, a key vault and the state store."""

    def __init__(
        self,
        iam_client: IAMClient | None = None,
        *,
        vault: KeyVault,
        state: StateStorePort,
        counter: ApiCallCounter | None = None,
        credentials: CredentialActions | None = None,
        messages: NoticeMessagesPort | None = None,
        retry_delays: Sequence[float] | None = None,
    ) -> None:
        self._iam: IAMClient = iam_client if iam_client is not None else boto3.client("iam")
        #: Composes the items that tell the owner about a notice, stored with it (None: notices only).
        self._messages = messages
        if counter is not None:
            counter.attach(self._iam)
        self._credentials = credentials
        self._fresh = FreshFacts(self._iam)
        self._vault = vault
        self._state = state
        self._sleep: Callable[[float], None] = time.sleep
        self._rotator = Rotator(
            self._iam, vault=vault, state=state, retry_delays=retry_delays, messages=messages
        )
        # Key records of the current run, loaded at the first rotation that needs them (one Query per run).
        self._records: tuple[tuple[str, str], dict[str, KeyRecord]] | None = None

    def apply(
        self, account_id: str, user: User, actions: Sequence[Action], *, now: datetime, run_id: str
    ) -> list[Outcome]:
        """Carry out `actions` (all about `user`, whose key ids are resolved) and return their outcomes in
        the order they ran."""
        run = _Run(account_id, user, now, run_id, list(user.access_keys))
        ordered = sorted(actions, key=lambda a: _ORDER.get(a.action, len(_ORDER)))
        return [self._one(run, action) for action in ordered]

    # -- one action, audited -------------------------------------------------------------------------

    def _one(self, run: _Run, action: Action) -> Outcome:
        if action.repeat and quiet(action):
            return self._repeat(run, action)
        row = action.as_row()
        try:
            self._state.write_audit(
                run.account_id, AuditEntry(at=run.now, phase="intent", run_id=run.run_id, action=row)
            )
        except Exception as error:  # no action without its intent on record
            outcome = Outcome(
                action, FAILED, f"not attempted: the audit intent could not be written ({_safe(error)})"
            )
            self._log(run, outcome)
            return outcome
        try:
            outcome = self._dispatch(run, action)
        except (AwsError, ExecutorError) as error:
            outcome = Outcome(action, FAILED, str(error))
        except Exception as error:
            log.exception("unexpected error", extra=_fields(run, action))
            outcome = Outcome(action, FAILED, f"unexpected error: {_safe(error)}")
        self._log(run, outcome)
        result = AuditEntry(
            at=run.now,
            phase="result",
            run_id=run.run_id,
            action=row,
            outcome=outcome.status,
            detail=_audit_detail(outcome),
        )
        unwritten = self._write_result(run.account_id, result)
        if unwritten is not None:
            log.error(
                "audit result not written",
                extra=_fields(run, action) | {"outcome": outcome.status, "error": _safe(unwritten)},
            )
            outcome = replace(
                outcome, detail=f"{outcome.detail}; audit result not written ({_safe(unwritten)})"
            )
        return outcome

    def _repeat(self, run: _Run, action: Action) -> Outcome:
        """A quiet row audited earlier in its episode (a report, a dry-run "would do"): the same outcome,
        with nothing written (a dry-run notice is already recorded with its items)."""
        if action.action is ActionKind.WARN:
            return Outcome(action, NOOP, f"{action.stage} notice already recorded")
        try:
            return self._dispatch(run, action)
        except (AwsError, ExecutorError) as error:
            return Outcome(action, FAILED, str(error))

    def _write_result(self, account_id: str, entry: AuditEntry) -> Exception | None:
        """The result row of an action already taken: retried (a throttled write must not leave the action
        with only its intent on record); the last error when every attempt failed."""
        error: Exception | None = None
        for attempt in range(len(AUDIT_RETRY_DELAYS) + 1):
            if attempt:
                self._sleep(AUDIT_RETRY_DELAYS[attempt - 1])
            try:
                self._state.write_audit(account_id, entry)
            except Exception as failed:
                error = failed
                continue
            return None
        return error

    def _dispatch(self, run: _Run, action: Action) -> Outcome:
        if action.user != run.user.name:
            return Outcome(action, FAILED, f"action is for user {action.user!r}, not {run.user.name!r}")
        if action.action in _REPORT_ONLY:
            return Outcome(action, REPORTED, action.detail)
        if action.credential is not CredentialType.ACCESS_KEY:
            if self._credentials is None:
                return Outcome(action, SKIPPED, f"{action.credential.value} actions are not configured")
            return self._credentials.dispatch(run.account_id, action, run.now, user=run.user)
        handler: Callable[[_Run, Action], Outcome] = {
            ActionKind.WARN: self._warn,
            ActionKind.ROTATE: self._rotate,
            ActionKind.DEACTIVATE: self._deactivate,
            ActionKind.DELETE: self._delete,
        }[action.action]
        return handler(run, action)

    # -- handlers ------------------------------------------------------------------------------------

    def _warn(self, run: _Run, action: Action) -> Outcome:
        if action.warns_of is None or action.stage is None or action.deadline is None:
            return Outcome(action, FAILED, "a warn action needs warns_of, stage and deadline")
        key = run.find(action)
        if key is None:
            return Outcome(action, NOOP, "the key no longer exists")
        notice = Notice(
            warns_of=action.warns_of.value,
            stage=action.stage,
            sent_at=run.now,
            deadline=action.deadline,
            dry_run=action.dry_run,
        )
        outcome = Outcome(action, DRY_RUN if action.dry_run else APPLIED)
        items = self._items(run, outcome)
        if not self._state.record_notice(
            run.account_id, run.user.name, _identity(key, action), notice, items
        ):
            return Outcome(action, NOOP, f"{action.stage} notice already recorded")
        return replace(outcome, messages_stored=self._messages is not None)

    def _rotate(self, run: _Run, action: Action) -> Outcome:
        key = run.find(action)
        if key is None:
            return Outcome(action, NOOP, "the key no longer exists")
        if _status(key) is not KeyStatus.ACTIVE:
            return Outcome(action, NOOP, "the key is inactive: nothing to rotate")
        if len(run.keys) >= _MAX_KEYS_PER_USER:
            others = ", ".join(k.key_id or "?" for k in run.keys if k is not key)
            return Outcome(action, NOOP, f"the user already has {len(run.keys)} keys (other: {others})")
        secret_name = self._vault.secret_name(run.user.name)
        if action.dry_run:
            run.keys.append(AccessKey(created=run.now, status=KeyStatus.ACTIVE))
            return Outcome(action, DRY_RUN, f"would create a new key and store it in secret {secret_name}")
        record = self._record(run, key, action)
        if record and record.rotated_at and record.replacement_key_id in {k.key_id for k in run.keys}:
            return Outcome(action, NOOP, f"already rotated: replacement {record.replacement_key_id} exists")
        outcome, replacement = self._rotator.rotate(
            run.account_id,
            run.user,
            _identity(key, action),
            action,
            now=run.now,
            run_id=run.run_id,
            keys_before=[k.key_id for k in run.keys if k.key_id],
        )
        if replacement is not None:
            run.keys.append(replacement)
            self._remember_rotation(run, key, action, replacement)
        return outcome

    def _items(self, run: _Run, outcome: Outcome) -> list[MessageItem]:
        return [] if self._messages is None else self._messages.items_for(run.user, outcome, run.now)

    def recover_rotations(self, account_id: str, *, now: datetime, run_id: str, dry_run: bool) -> Recovery:
        """Finish or undo the rotations earlier runs left half-done (see `credlife.aws.rotation`); each
        entry acted on is audited before and after."""
        outcomes: list[Outcome] = []
        held: dict[str, str] = {}
        for entry in self._rotator.open_entries(account_id):
            if self._rotator.in_flight(entry, now):
                held[entry.user] = "a rotation is under way"
                continue
            row = {
                **entry.action.as_row(),
                "action": "recover_rotation",
                "journal_step": entry.step,
                "journal_run_id": entry.run_id,
                "new_key_id": entry.new_key_id,
                "dry_run": dry_run,
            }
            try:
                self._state.write_audit(account_id, AuditEntry(now, "intent", run_id, row))
            except Exception as error:  # nothing without its intent on record: the entry waits
                held[entry.user] = f"the audit intent could not be written ({_safe(error)})"
                continue
            found = self._rotator.recover(account_id, entry, now=now, dry_run=dry_run)
            outcome = found.outcome
            status = outcome.status if outcome is not None else (DRY_RUN if dry_run else FAILED)
            detail = _audit_detail(outcome) if outcome is not None else found.why
            log.log(
                logging.ERROR if status == FAILED else logging.INFO,
                "interrupted rotation: %s",
                status,
                extra={"account_id": account_id, "run_id": run_id, "user": entry.user, "detail": detail},
            )
            try:
                self._state.write_audit(
                    account_id, AuditEntry(now, "result", run_id, row, outcome=status, detail=detail)
                )
            except Exception as error:
                log.error("audit result not written", extra={"user": entry.user, "error": _safe(error)})
            if outcome is not None:
                outcomes.append(outcome)
            if found.still_open:
                held[entry.user] = found.why or detail
        return Recovery(tuple(outcomes), held)

    def _deactivate(self, run: _Run, action: Action) -> Outcome:
        key = run.find(action)
        if key is None:
            return Outcome(action, NOOP, "the key no longer exists")
        if _status(key) is KeyStatus.INACTIVE:
            return Outcome(action, NOOP, "the key is already inactive")
        if action.dry_run:  # later actions of this run see the key as it would be
            run.replace_key(key, replace(key, status=KeyStatus.INACTIVE))
            return Outcome(action, DRY_RUN, "would deactivate the key")
        stale = self._used_since_plan(run, key, action)
        if stale is not None:
            return stale
        key_id = _require_id(key)
        try:
            self._call(
                "UpdateAccessKey",
                lambda: self._iam.update_access_key(
                    UserName=run.user.name, AccessKeyId=key_id, Status=KeyStatus.INACTIVE.value
                ),
            )
        except NotFound:
            run.replace_key(key, None)
            return Outcome(action, NOOP, "the key no longer exists")
        run.replace_key(key, replace(key, status=KeyStatus.INACTIVE))
        self._state.record_deactivation(
            run.account_id, run.user.name, _identity(key, action), at=run.now, reason=action.reason.value
        )
        return Outcome(action, APPLIED)

    def _delete(self, run: _Run, action: Action) -> Outcome:
        key = run.find(action)
        if key is None:
            return Outcome(action, NOOP, "the key no longer exists")
        if _status(key) is KeyStatus.ACTIVE:
            return Outcome(action, FAILED, "refused: the key is active; an active key is never deleted")
        if action.dry_run:
            run.replace_key(key, None)
            return Outcome(action, DRY_RUN, "would delete the inactive key")
        stale = self._used_since_plan(run, key, action)
        if stale is not None:
            return stale
        key_id = _require_id(key)
        # The owner may have re-activated the key since the scan: check IAM once more before deleting.
        current = self._current_status(run.user.name, key_id)
        if current is None:
            run.replace_key(key, None)
            return Outcome(action, NOOP, "the key no longer exists")
        if current is KeyStatus.ACTIVE:
            return Outcome(action, FAILED, "refused: the key was re-activated since the scan")
        try:
            self._call(
                "DeleteAccessKey",
                lambda: self._iam.delete_access_key(UserName=run.user.name, AccessKeyId=key_id),
            )
        except NotFound:
            run.replace_key(key, None)
            return Outcome(action, NOOP, "the key no longer exists")
        run.replace_key(key, None)
        self._state.record_deletion(run.account_id, run.user.name, _identity(key, action), at=run.now)
        return Outcome(action, APPLIED)

    # -- helpers -------------------------------------------------------------------------------------

    def _used_since_plan(self, run: _Run, key: AccessKey, action: Action) -> Outcome | None:
        """Read before you break (live runs; a dry run makes no IAM call). The plan's last-used date
        comes from a credential report up to 4 hours old; a key used after it (as the warning asked, if
        still needed) voids the reason: skipped, nothing changed. The episode ends with it: the next plan
        sees the new last-used date, from which the key's idle clock and its notices start over."""
        if action.reason not in _VOIDED_BY_USE or not key.key_id:
            return None
        key_id = key.key_id
        try:
            fresh = self._fresh.access_key_last_used(key_id)
        except NotFound:
            return None  # gone: the step itself finds out and reports it
        if not used_since(fresh, key.last_used):
            return None
        assert fresh is not None  # used_since is False without a fresh date
        planned = f"{key.last_used:%Y-%m-%d %H:%M}Z" if key.last_used else "never"
        log.info(
            "key used since the plan: %s skipped",
            action.action.value,
            extra=_fields(run, action) | {"last_used": fresh.isoformat(), "planned_last_used": planned},
        )
        detail = f"used since the plan: {fresh:%Y-%m-%d %H:%M}Z (the plan's last use: {planned})"
        return Outcome(action, SKIPPED, detail)

    def _current_status(self, user_name: str, key_id: str) -> KeyStatus | None:
        paginator = self._iam.get_paginator("list_access_keys")
        pages = self._call("ListAccessKeys", lambda: list(paginator.paginate(UserName=user_name)))
        for page in pages:
            for meta in page.get("AccessKeyMetadata", []):
                if meta.get("AccessKeyId") == key_id:
                    return _valid_status(meta["Status"])  # an unknown status raises: never act on it
        return None

    def _record(self, run: _Run, key: AccessKey, action: Action) -> KeyRecord | None:
        slot = (run.account_id, run.run_id)
        if self._records is None or self._records[0] != slot:
            self._records = (slot, self._state.load_records(run.account_id))
        return self._records[1].get(key_ref(run.user.name, _identity(key, action).created))

    def _remember_rotation(self, run: _Run, key: AccessKey, action: Action, replacement: AccessKey) -> None:
        if self._records is None or self._records[0] != (run.account_id, run.run_id):
            return
        ref = key_ref(run.user.name, _identity(key, action).created)
        old = self._records[1].get(ref) or KeyRecord(
            user=run.user.name, key_created=key.created, key_id=key.key_id
        )
        self._records[1][ref] = replace(
            old,
            rotated_at=run.now,
            replacement_key_id=replacement.key_id,
            replacement_created=replacement.created,
        )

    def _call(self, operation: str, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except ClientError as error:
            raise translate(error, f"iam:{operation}") from None
        except BotoCoreError as error:
            raise AwsError(f"iam:{operation}", type(error).__name__) from None

    def _log(self, run: _Run, outcome: Outcome) -> None:
        level = logging.ERROR if outcome.status == FAILED else logging.INFO
        log.log(
            level,
            "action %s: %s",
            outcome.action.action.value,
            outcome.status,
            extra=_fields(run, outcome.action)
            | {"outcome": outcome.status, "detail": outcome.detail, "new_key_id": outcome.new_key_id},
        )


# -- module helpers ----------------------------------------------------------------------------------


def _fields(run: _Run, action: Action) -> dict[str, object]:
    return {
        "account_id": run.account_id,
        "run_id": run.run_id,
        "user": run.user.name,
        "key_id": action.key_id,
        "action": action.action.value,
        "reason": action.reason.value,
        "dry_run": action.dry_run,
    }


def _audit_detail(outcome: Outcome) -> str:
    extra = []
    if outcome.new_key_id:
        extra.append(f"new_key_id={outcome.new_key_id}")
    if outcome.secret_name:
        extra.append(f"secret_name={outcome.secret_name}")
    return "; ".join([outcome.detail, *extra]) if extra else outcome.detail


def _safe(error: BaseException) -> str:
    """An error's description for outcomes and logs: our own errors carry no parameters; for anything
    else only the type is kept, since a foreign message might echo a parameter value."""
    if isinstance(error, AwsError | ExecutorError):
        return str(error)
    return type(error).__name__


def _status(key: AccessKey) -> KeyStatus:
    """The key's status, validated (a stray string must not pass for Inactive or Active)."""
    return _valid_status(key.status)


def _valid_status(value: str) -> KeyStatus:
    try:
        return KeyStatus(value)
    except ValueError:
        raise ExecutorError(f"unknown access key status {value!r}: not acting on the key") from None


def _second(value: datetime) -> datetime:
    return _aware(value).replace(microsecond=0)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _identity(key: AccessKey, action: Action) -> AccessKey:
    """The key as the planner named it: its records are keyed by the creation time the snapshot had."""
    if action.key_created is not None and _second(action.key_created) == _second(key.created):
        return replace(key, created=action.key_created)
    return key


def _require_id(key: AccessKey) -> str:
    if not key.key_id:
        raise ExecutorError("the key id is not resolved (ListAccessKeys)")
    return key.key_id
