"""Rotation, journalled: a new access key is created and handed over through Secrets Manager, and every
step is on record in the state table first, so that a run that stops half-way (a timeout, a crash, a
clean-up that is throttled) is finished or undone by the next run.

The steps of one rotation (`credlife.ports.RotationJournal`):

1. `intent` recorded (the user's keys before, the id of the secret version to write): without it, no key;
2. `CreateAccessKey`, then `created` recorded with the new key's id (if that record fails, the key is
   deleted at once: a key nobody can trace is never left behind);
3. the secret written (`KeyVault.store_new_key`: policy first, value last) → `stored`;
4. the rotation recorded on the old key's record (and the owner's notice) → `completed`.

Any failure in 2-3 undoes the rotation: the secret stops handing out the new key (`KeyVault.withdraw`)
and the new key is deleted, retried a few times; if the delete still fails the entry stays open and the
next run deletes the key (`recover`). Recovery finishes an entry whose new key exists and whose secret
verifiably hands it out (the journalled version is current), and undoes every other one. A key the
project created and could not hand over is thus never left for the planner to take for the owner's
replacement: until its entry is closed, the user's access-key actions wait (`Recovery.held`).

The secret access key lives only between `CreateAccessKey` and `store_new_key`: never logged, journalled,
returned or put in an error (the error text of calls that carry it is reduced to its code).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from credlife.aws.errors import AccessDenied, AwsError, NotFound, QuotaExceeded, Throttled, translate
from credlife.aws.secrets import KeyVault, suppress_wire_logs
from credlife.domain.actions import Action
from credlife.domain.messages import MessageItem
from credlife.domain.models import AccessKey, KeyStatus, Notice, User
from credlife.ports import (
    JOURNAL_COMPLETED,
    JOURNAL_CREATED,
    JOURNAL_STORED,
    JOURNAL_UNDOING,
    JOURNAL_UNDONE,
    NoticeMessagesPort,
    Outcome,
    RotationJournal,
    StateStorePort,
)

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient

log = logging.getLogger("credlife.rotation")

#: What rotation and its recovery call in IAM (the vault and the state store declare their own).
REQUIRED_ACTIONS: Final = (
    "iam:CreateAccessKey",
    "iam:DeleteAccessKey",
    "iam:ListAccessKeys",  # recovery: which keys exist now
    "iam:GetAccessKeyLastUsed",  # recovery: a key ever used was handed over, so it is not ours to delete
)

APPLIED: Final = "applied"
FAILED: Final = "failed"

#: An entry younger than this may belong to a run still under way (a Lambda runs 15 minutes at most):
#: recovery leaves it alone (its user's actions wait).
IN_FLIGHT: Final = timedelta(minutes=20)
#: A key created by the rotation of an entry that stopped before recording the key's id was created
#: within this time of the entry's start (the run that wrote it lasted 15 minutes at most).
CREATE_WINDOW: Final = timedelta(minutes=20)
#: Pauses between attempts to delete a new key that could not be handed over (then the next run).
DELETE_RETRY_DELAYS: Final = (0.5, 2.0)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Recovered:
    """What recovery did with one open entry: `outcome` None when nothing was done (`why`: in a dry run,
    what would be done); the entry stays open then. A dry run's "would" is no outcome: an outcome tells
    the owner about a rotation, and a dry run rotates nothing."""

    entry: RotationJournal
    outcome: Outcome | None
    why: str = ""

    @property
    def still_open(self) -> bool:
        return self.outcome is None


class Rotator:
    """Creates a user's new key and hands it over, journalled; finishes or undoes what a run left."""

    def __init__(
        self,
        iam: IAMClient,
        *,
        vault: KeyVault,
        state: StateStorePort,
        retry_delays: Sequence[float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        messages: NoticeMessagesPort | None = None,
    ) -> None:
        self._iam = iam
        #: Composes the owner's rotation message, stored with the old key's first notice (None: notice only).
        self._messages = messages
        self._vault = vault
        self._state = state
        self._retry_delays = tuple(DELETE_RETRY_DELAYS if retry_delays is None else retry_delays)
        self._sleep = sleep

    # -- a rotation ----------------------------------------------------------------------------------

    def rotate(
        self,
        account_id: str,
        user: User,
        key: AccessKey,
        action: Action,
        *,
        now: datetime,
        run_id: str,
        keys_before: Sequence[str],
    ) -> tuple[Outcome, AccessKey | None]:
        """Rotate `key` (as the planner named it): the outcome, and the new key when it was handed over."""
        entry = RotationJournal(
            user=user.name,
            old_key_created=key.created,
            old_key_id=key.key_id,
            started_at=now,
            run_id=run_id,
            action=action,
            secret_name=self._vault.secret_name(user.name),
            secret_version=str(uuid.uuid4()),
            keys_before=tuple(keys_before),
        )
        try:
            self._state.journal_intent(account_id, entry)
        except Exception as error:  # no key without its journal entry
            return Outcome(
                action, FAILED, f"not attempted: the rotation journal could not be written ({_safe(error)})"
            ), None
        try:
            with suppress_wire_logs():  # the response carries the secret access key
                response = self._call(
                    "CreateAccessKey", lambda: self._iam.create_access_key(UserName=user.name)
                )
        except Exception as error:
            detail = f"could not create the new key ({_safe(error)})"
            if isinstance(error, QuotaExceeded | AccessDenied | Throttled | NotFound):
                self._close(
                    account_id, entry, JOURNAL_UNDONE, now, "CreateAccessKey refused: nothing was created"
                )
                return Outcome(action, FAILED, detail), None
            # A timeout or a server error may come after IAM created the key: the entry stays open, and the
            # next run deletes such a key (one not there before, made within this run, never used).
            return Outcome(
                action, FAILED, f"{detail}; if IAM created it after all, the next run deletes it"
            ), None
        new = response["AccessKey"]
        secret = new["SecretAccessKey"]
        entry = replace(
            entry,
            step=JOURNAL_CREATED,
            new_key_id=new["AccessKeyId"],
            new_key_created=_aware(new["CreateDate"]),
        )
        del response, new
        try:
            self._state.journal_update(account_id, entry)
        except Exception as error:
            del secret
            reason = f"the rotation journal could not record the new key ({_safe(error)})"
            return self._undo_now(account_id, entry, now, reason, value_sent=False), None
        try:
            secret_name = self._vault.store_new_key(
                user, _id(entry), secret, _created(entry), version=entry.secret_version
            )
        except Exception as error:
            del secret
            reason = f"could not store the new key in Secrets Manager ({_safe(error)})"
            # Only a failed PutSecretValue (or an unknown error) may have stored the value after all.
            value_sent = not isinstance(error, AwsError) or error.operation.endswith("PutSecretValue")
            return self._undo_now(account_id, entry, now, reason, value_sent=value_sent), None
        del secret
        entry = replace(entry, step=JOURNAL_STORED)
        try:
            self._state.journal_update(account_id, entry)
        except Exception as error:  # handed over: the next run finds the secret current and completes
            log.error(
                "rotation journal not updated",
                extra=_fields(entry) | {"step": entry.step, "error": _safe(error)},
            )
        replacement = AccessKey(created=_created(entry), status=KeyStatus.ACTIVE, key_id=_id(entry))
        detail = f"new key {_id(entry)} stored in secret {secret_name}"
        done = Outcome(action, APPLIED, detail, new_key_id=_id(entry), secret_name=secret_name)
        # the owner's rotation message is stored with the old key's first notice (one transaction), so the
        # old key's deadline counts from the message's delivery
        items = [] if self._messages is None else self._messages.items_for(user, done, now)
        problem = self._complete(account_id, entry, now, key=key, notice_at=now, messages=items)
        if problem:
            return replace(done, detail=f"{detail}; {problem}"), replacement
        return replace(done, messages_stored=self._messages is not None), replacement

    def _complete(
        self,
        account_id: str,
        entry: RotationJournal,
        now: datetime,
        *,
        key: AccessKey,
        notice_at: datetime,
        messages: Sequence[MessageItem] | None,
    ) -> str:
        """Record the rotation on the old key's record (and, with `messages`, the owner's notice stored with
        the message that carries it), then close the entry. Returns what could not be recorded ("" when all
        was): the entry then stays open for the next run.

        `messages` None (a rotation finished by a later run): no notice is recorded here; the rotation
        message goes out like any outcome's, and the planner's next run announces the old key's deadline
        with a notice of its own (delivered, then counted)."""
        action = entry.action
        replacement = AccessKey(created=_created(entry), status=KeyStatus.ACTIVE, key_id=_id(entry))
        try:
            self._state.record_rotation(
                account_id, entry.user, key, rotated_at=entry.started_at, replacement=replacement
            )
            if (
                messages is not None
                and action.warns_of is not None
                and action.stage is not None
                and action.deadline is not None
            ):
                # the owner's rotation message announces the old key's deactivation deadline
                self._state.record_notice(
                    account_id,
                    entry.user,
                    key,
                    Notice(action.warns_of.value, action.stage, notice_at, action.deadline),
                    messages,
                )
        except Exception as error:
            log.error(
                "rotation not recorded", extra=_fields(entry) | {"error": _safe(error), "step": entry.step}
            )
            return f"the rotation could not be recorded ({_safe(error)}); the next run records it"
        self._close(account_id, entry, JOURNAL_COMPLETED, now, "handed over")
        return ""

    def _undo_now(
        self, account_id: str, entry: RotationJournal, now: datetime, reason: str, *, value_sent: bool
    ) -> Outcome:
        """The hand-over failed: stop the secret handing out the new key (when its value may have been
        stored), then delete the key (with retries)."""
        try:
            self._state.journal_update(account_id, replace(entry, step=JOURNAL_UNDOING))
        except Exception as error:  # the entry says `created`: recovery reaches the same verdict
            log.warning("rotation journal not updated", extra=_fields(entry) | {"error": _safe(error)})
        done, problem = self._undo(entry) if value_sent else self._delete_with_retries(entry.user, _id(entry))
        new_id = _id(entry)
        if not done:
            log.critical(
                "new access key left behind: the next run deletes it",
                extra=_fields(entry) | {"error": problem},
            )
            return Outcome(
                entry.action,
                FAILED,
                f"{reason}; the new key {new_id} could NOT be deleted again ({problem}); the next run "
                "deletes it",
            )
        self._close(account_id, entry, JOURNAL_UNDONE, now, reason)
        return Outcome(entry.action, FAILED, f"{reason}; the new key {new_id} was deleted again")

    def _undo(self, entry: RotationJournal) -> tuple[bool, str]:
        """Withdraw the secret version, then delete the new key. (True, "") when both are done."""
        try:
            withdrawn = self._vault.withdraw(entry.user, entry.secret_name, entry.secret_version)
        except Exception as error:
            # the key is kept while the secret may still hand it out: never a secret naming a deleted key
            return False, f"the secret could not be rolled back ({_safe(error)})"
        log.info("secret checked before deleting a new key", extra=_fields(entry) | {"secret": withdrawn})
        return self._delete_with_retries(entry.user, _id(entry))

    def _delete_with_retries(self, user: str, key_id: str) -> tuple[bool, str]:
        error: AwsError | None = None
        for attempt in range(len(self._retry_delays) + 1):
            if attempt:
                self._sleep(self._retry_delays[attempt - 1])
            try:
                self._call(
                    "DeleteAccessKey",
                    lambda: self._iam.delete_access_key(UserName=user, AccessKeyId=key_id),
                )
            except NotFound:
                return True, ""
            except AwsError as failed:
                error = failed
                if not isinstance(failed, Throttled) and failed.code not in _TRANSIENT:
                    break
                continue
            return True, ""
        return False, str(error)

    # -- the next run --------------------------------------------------------------------------------

    def open_entries(self, account_id: str) -> list[RotationJournal]:
        return self._state.open_journals(account_id)

    @staticmethod
    def in_flight(entry: RotationJournal, now: datetime) -> bool:
        """Whether the entry may belong to a run still under way (recovery leaves it alone)."""
        return now - entry.started_at < IN_FLIGHT

    def recover(self, account_id: str, entry: RotationJournal, *, now: datetime, dry_run: bool) -> Recovered:
        """Finish or undo one open entry; an error leaves it open for the next run."""
        try:
            return self._recover(account_id, entry, now, dry_run=dry_run)
        except Exception as error:
            log.error("rotation recovery failed", extra=_fields(entry) | {"error": _safe(error)})
            return Recovered(entry, None, f"recovery failed ({_safe(error)}); retried next run")

    def _recover(self, account_id: str, entry: RotationJournal, now: datetime, *, dry_run: bool) -> Recovered:
        keys = self._keys(entry.user)
        if entry.new_key_id is None:  # stopped before the new key's id was recorded
            return self._recover_unrecorded(account_id, entry, keys, now, dry_run=dry_run)
        exists = entry.new_key_id in keys
        handed_over = self._vault.is_current(entry.secret_name, entry.secret_version)
        if exists and handed_over:
            if dry_run:
                return Recovered(entry, None, "dry run: would finish the interrupted rotation")
            old = AccessKey(created=entry.old_key_created, status=KeyStatus.ACTIVE, key_id=entry.old_key_id)
            problem = self._complete(account_id, entry, now, key=old, notice_at=now, messages=None)
            if problem:
                return Recovered(entry, None, problem)
            detail = (
                f"new key {entry.new_key_id} stored in secret {entry.secret_name} (an interrupted rotation, "
                f"started {entry.started_at:%Y-%m-%d %H:%M} UTC, finished)"
            )
            outcome = Outcome(
                entry.action,
                APPLIED,
                detail,
                new_key_id=entry.new_key_id,
                secret_name=entry.secret_name,
            )
            return Recovered(entry, outcome)
        why = (
            "the new key was deleted since"
            if not exists
            else "the new key was never handed over (its secret version is not current)"
        )
        return self._undo_later(account_id, entry, now, why, dry_run=dry_run)

    def _recover_unrecorded(
        self,
        account_id: str,
        entry: RotationJournal,
        keys: dict[str, tuple[datetime, str]],
        now: datetime,
        *,
        dry_run: bool,
    ) -> Recovered:
        """The run stopped between `intent` and `created`: a key the rotation may have made is one not
        there before, created within the run's time, and never used (nobody ever had its secret)."""
        start = entry.started_at - timedelta(minutes=5)
        candidates = [
            key_id
            for key_id, (created, _) in keys.items()
            if key_id not in entry.keys_before and start <= created <= entry.started_at + CREATE_WINDOW
        ]
        if not candidates:
            if dry_run:
                return Recovered(entry, None, "dry run: would close the entry (no key was created)")
            self._close(account_id, entry, JOURNAL_UNDONE, now, "no key of it is left")
            return Recovered(entry, _failed(entry, "interrupted rotation: no key of it is left; closed"))
        unused = [k for k in candidates if self._never_used(entry.user, k)]
        if len(candidates) > 1 or len(unused) != 1:
            why = (
                f"interrupted rotation: key(s) {', '.join(sorted(candidates))} appeared during it and cannot "
                "be told apart from the owner's own; none deleted: check them by hand, then close the "
                "journal entry"
            )
            return Recovered(entry, None, why)
        return self._undo_later(
            account_id,
            replace(entry, new_key_id=unused[0]),
            now,
            "the run stopped before the new key was recorded",
            dry_run=dry_run,
        )

    def _undo_later(
        self, account_id: str, entry: RotationJournal, now: datetime, why: str, *, dry_run: bool
    ) -> Recovered:
        new_id = _id(entry)
        if dry_run:
            return Recovered(entry, None, f"dry run: would undo the interrupted rotation ({why})")
        done, problem = self._undo(entry)
        if not done:
            return Recovered(
                entry, None, f"interrupted rotation: the new key {new_id} could not be deleted ({problem})"
            )
        self._close(account_id, replace(entry, new_key_id=new_id), JOURNAL_UNDONE, now, why)
        detail = (
            f"interrupted rotation (started {entry.started_at:%Y-%m-%d %H:%M} UTC) undone: {why}; the new "
            f"key {new_id} was never handed over and was deleted"
        )
        return Recovered(entry, _failed(entry, detail))

    # -- helpers -------------------------------------------------------------------------------------

    def _keys(self, user: str) -> dict[str, tuple[datetime, str]]:
        """The user's keys now: id → (created, status); none when the user is gone."""
        paginator = self._iam.get_paginator("list_access_keys")
        try:
            pages = self._call("ListAccessKeys", lambda: list(paginator.paginate(UserName=user)))
        except NotFound:
            return {}
        return {
            meta["AccessKeyId"]: (_aware(meta["CreateDate"]), str(meta["Status"]))
            for page in pages
            for meta in page.get("AccessKeyMetadata", [])
        }

    def _never_used(self, user: str, key_id: str) -> bool:
        response = self._call(
            "GetAccessKeyLastUsed", lambda: self._iam.get_access_key_last_used(AccessKeyId=key_id)
        )
        return response.get("UserName") == user and "LastUsedDate" not in response.get(
            "AccessKeyLastUsed", {}
        )

    def _close(self, account_id: str, entry: RotationJournal, step: str, now: datetime, why: str) -> None:
        closed = replace(entry, step=step, finished_at=now, resolution=why[:300])
        try:
            self._state.journal_update(account_id, closed)
        except Exception as error:  # the next run finds it open and closes it (every verdict is idempotent)
            log.warning("rotation journal not closed", extra=_fields(entry) | {"error": _safe(error)})

    def _call(self, operation: str, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except ClientError as error:
            raise translate(error, f"iam:{operation}") from None
        except BotoCoreError as error:
            raise AwsError(f"iam:{operation}", type(error).__name__) from None


#: Error codes worth another attempt at deleting a new key (beside throttling).
_TRANSIENT: Final = frozenset({"ServiceFailure", "InternalFailure", "ServiceUnavailable", "RequestTimeout"})


def _id(entry: RotationJournal) -> str:
    if entry.new_key_id is None:
        raise ValueError("the journal entry has no new key")
    return entry.new_key_id


def _created(entry: RotationJournal) -> datetime:
    return entry.new_key_created or entry.started_at


def _failed(entry: RotationJournal, detail: str) -> Outcome:
    return Outcome(entry.action, FAILED, detail, new_key_id=None)


def _fields(entry: RotationJournal) -> dict[str, object]:
    return {
        "user": entry.user,
        "run_id": entry.run_id,
        "key_id": entry.old_key_id,
        "new_key_id": entry.new_key_id,
        "journal_step": entry.step,
    }


def _safe(error: BaseException) -> str:
    """Our own errors carry no parameters (and none of a call that carries a secret); for anything else
    only the type is kept."""
    if isinstance(error, AwsError):
        return str(error)
    return type(error).__name__


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
