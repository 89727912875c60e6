"""The access-key lifecycle planner: `plan(snapshot, policy, now) -> list[Action]`.

Pure: the same inputs always give the same plan. Decisions are made per key, never on the sibling key;
every disruptive action (deactivate, delete) needs a recorded notice sent at least `notice_days` earlier,
and the deadline a notice announces is the deadline the planner keeps (DESIGN §3, "Decisions").
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from credlife.domain.actions import Action, ActionKind, Reason, Severity
from credlife.domain.advice import advise
from credlife.domain.credential_planner import (
    lift_for_exempt,
    needs_console_rows,
    plan_account,
    plan_console,
    plan_other,
)
from credlife.domain.exemptions import ENDING, grant
from credlife.domain.models import (
    AccessKey,
    AccountSnapshot,
    CredentialType,
    KeyRecord,
    Notice,
    User,
    key_ref,
)
from credlife.domain.policy import Policy
from credlife.domain.scheduling import episode_notices, first_delivery, schedule, stage

#: Reasons whose deactivation means "old key of a rotation": deleted on the shorter rotation clock.
_REPLACED = frozenset({Reason.KEY_REPLACED_SAFE.value, Reason.KEY_REPLACED_OVERDUE.value})


def plan(snapshot: AccountSnapshot, policy: Policy, now: datetime) -> list[Action]:
    """Every action due now (and every notice due now) for every user of the snapshot."""
    planner = _KeyPlanner(snapshot, policy, now)
    actions: list[Action] = []
    for user in snapshot.users:
        actions.extend(plan_user(user, snapshot, policy, now, planner))
    actions.extend(plan_account(snapshot, policy, now))
    return actions


def plan_user(
    user: User,
    snapshot: AccountSnapshot,
    policy: Policy,
    now: datetime,
    planner: _KeyPlanner | None = None,
) -> list[Action]:
    granted = grant(user, policy, now)
    if granted is not None:
        lifts = lift_for_exempt(user, snapshot, policy, now, granted.reason)
        others = (
            len(user.ssh_keys or ())
            + len(user.service_credentials or ())
            + len(user.signing_certificates or ())
        )
        if not user.access_keys and user.login_profile is None and not others:
            return lifts
        managed = [f"{len(user.access_keys)} access key(s)"] if user.access_keys else []
        if user.login_profile is not None:
            managed.append("console password")
        if others:
            managed.append(f"{others} other credential(s)")
        return [
            Action(
                user=user.name,
                credential=CredentialType.USER,
                action=ActionKind.EXEMPT,
                reason=granted.reason,
                due=now,
                # the exemption's end: the usual lifecycle resumes then (None: permanent)
                deadline=granted.ends,
                stage=ENDING if granted.ending_soon(policy, now) else None,
                dry_run=policy.dry_run,
                detail=f"{' and '.join(managed)} not managed: {granted.describe()}",
            ),
            *lifts,
        ]
    actions = (planner or _KeyPlanner(snapshot, policy, now)).run(user) if user.access_keys else []
    if needs_console_rows(user, snapshot, policy):
        actions.extend(plan_console(user, snapshot, policy, now))
    if user.ssh_keys or user.service_credentials or user.signing_certificates:
        actions.extend(plan_other(user, snapshot, policy, now))
    actions.extend(advise(user, policy, now))
    return actions


def exemption(user: User, policy: Policy, now: datetime | None = None) -> Reason | None:
    """Why the automation must leave this user alone, or None. Checked before anything else. Dated
    exemptions count only when `now` is given and before their end (`credlife.domain.exemptions`)."""
    granted = grant(user, policy, now)
    return granted.reason if granted is not None else None


def unrecorded_inactive_keys(snapshot: AccountSnapshot) -> list[tuple[User, AccessKey]]:
    """Inactive keys whose delete clock has not started yet: the caller records `first_seen_inactive`."""
    found = []
    for user in snapshot.users:
        for key in user.access_keys:
            if key.active:
                continue
            record = snapshot.record_for(user.name, key)
            if record is None or (record.deactivated_at is None and record.first_seen_inactive is None):
                found.append((user, key))
    return found


def key_observations(
    snapshot: AccountSnapshot, now: datetime
) -> list[tuple[User, AccessKey, dict[str, datetime]]]:
    """What this scan sees that the planner must remember: a key the project deactivated found active
    again (the owner's "still needed": a new episode), and the first use of a key's replacement (the start
    of the switch-over, against which the old key's later use is judged)."""
    found: list[tuple[User, AccessKey, dict[str, datetime]]] = []
    if not snapshot.records:
        return found
    for user in snapshot.users:
        for key in user.access_keys:
            record = snapshot.record_for(user.name, key)
            if record is None or not key.active:
                continue
            observed: dict[str, datetime] = {}
            if record.deactivated_at is not None and not record.reactivated:
                observed["reactivated_at"] = now
            if record.replacement_first_used is None:
                newer = [
                    k
                    for k in user.access_keys
                    if k is not key and k.active and k.created > key.created and k.last_used is not None
                ]
                if record.replacement_created is not None:
                    newer = [k for k in newer if _same_second(k.created, record.replacement_created)]
                first = min((k.last_used for k in newer if k.last_used is not None), default=None)
                if first is not None:
                    observed["replacement_first_used"] = first
            if observed:
                found.append((user, key, observed))
    return found


def _same_second(a: datetime, b: datetime) -> bool:
    return a.replace(microsecond=0) == b.replace(microsecond=0)


class _KeyPlanner:
    """Plans the keys of (non-exempt) users; built once per plan, `run` once per user."""

    def __init__(self, snapshot: AccountSnapshot, policy: Policy, now: datetime) -> None:
        self.user = User(name="", arn="")
        self.snapshot = snapshot
        self.policy = policy
        self.now = now
        self.notice = timedelta(days=policy.notice_days)
        self.granularity = timedelta(minutes=policy.last_used_granularity_minutes)
        # Per-plan constants, computed once rather than once per key (performance only).
        self.unused_lead = _days(max(policy.unused_warn_days, default=0))
        self.records = snapshot.records

    def run(self, user: User) -> list[Action]:
        self.user = user
        keys = user.access_keys
        actions: list[Action] = []
        # Inactive keys first: a deletion planned now makes room for a rotation in the same run.
        deleting: set[datetime] = set()
        for key in keys:
            if not key.active:
                found = self._inactive(key)
                deleting.update(
                    a.key_created for a in found if a.action is ActionKind.DELETE and a.key_created
                )
                actions.extend(found)
        for key in keys:
            if key.active:
                siblings = [other for other in keys if other is not key]
                actions.extend(self._active(key, siblings, deleting))
        return actions

    # -- the rows of DESIGN §3 ----------------------------------------------------------------------

    def _active(self, key: AccessKey, siblings: Sequence[AccessKey], deleting: set[datetime]) -> list[Action]:
        record = self._record(key)
        replacement = self._replacement(key, record, siblings)
        if replacement is not None:
            return self._retire_replaced(key, record, replacement)
        requested_by = self.snapshot.rotate_now.get(self.user.name)
        if requested_by is not None:  # "rotate now": due now, every other rule (quota, dry-run) as usual
            return self._rotation(key, record, siblings, deleting, requested_by=requested_by)
        unused_due = self._unused_due(key)
        if self.now >= unused_due - self.unused_lead:
            # An unused key is deactivated, never rotated (nobody needs its replacement).
            idle = (self.now - (key.last_used or key.created)).days
            return self._scheduled(
                key,
                record,
                kind=ActionKind.DEACTIVATE,
                reason=Reason.KEY_UNUSED,
                natural_due=unused_due,
                warn_days=self.policy.unused_warn_days,
                severity=Severity.MEDIUM,
                detail=(
                    f"never used in {idle} days" if key.last_used is None else f"not used for {idle} days"
                ),
            )
        return self._rotation(key, record, siblings, deleting)

    def _rotation(
        self,
        key: AccessKey,
        record: KeyRecord | None,
        siblings: Sequence[AccessKey],
        deleting: set[datetime],
        requested_by: str | None = None,
    ) -> list[Action]:
        due = key.created + _days(self.policy.rotate_after_days)
        age = (self.now - key.created).days
        reason = Reason.KEY_ROTATION_DUE
        requested = ""
        if requested_by is not None:
            due, reason = min(due, self.now), Reason.ROTATION_REQUESTED
            requested = f"; rotation requested by {requested_by}"
        if self.now < due:
            return self._scheduled(
                key,
                record,
                kind=ActionKind.ROTATE,
                reason=Reason.KEY_ROTATION_DUE,
                natural_due=due,
                warn_days=self.policy.rotation_warn_days,
                needs_notice=False,
                severity=Severity.LOW,
                detail=f"key is {age} days old; rotation at {self.policy.rotate_after_days} days",
            )
        blocking = [other for other in siblings if other.created not in deleting]
        if not blocking:
            # The rotation notice is also the first notice of the old key's deactivation: it carries that
            # deadline and stage, and the executor records it as such.
            deadline = self.now + _days(self.policy.deactivate_after_rotation_days)
            return [
                self._action(
                    key,
                    ActionKind.ROTATE,
                    reason,
                    due=due,
                    deadline=deadline,
                    warns_of=ActionKind.DEACTIVATE,
                    stage=stage(deadline - self.now, self.policy.rotation_warn_days),
                    opens_notice=True,
                    severity=Severity.MEDIUM,
                    detail=(
                        f"key is {age} days old; a new key is handed over through Secrets Manager{requested}"
                    ),
                )
            ]
        other = blocking[0]
        if other.active:
            return [
                self._action(
                    key,
                    ActionKind.ALERT,
                    Reason.KEY_QUOTA_CONFLICT,
                    due=due,
                    severity=Severity.CRITICAL,
                    detail=(
                        f"rotation due but the user already has two active keys (the other was created "
                        f"{_date(other.created)}); the automation acts on neither: retire one of them"
                        f"{requested}"
                    ),
                )
            ]
        return [
            self._action(
                key,
                ActionKind.BLOCKED,
                Reason.KEY_QUOTA_WAIT,
                due=due,
                severity=Severity.LOW,
                detail=(
                    f"rotation waits for the inactive key created {_date(other.created)} to reach its "
                    f"deletion date (two-key quota){requested}"
                ),
            )
        ]

    def _retire_replaced(self, key: AccessKey, record: KeyRecord | None, new: AccessKey) -> list[Action]:
        """The old key of a rotation: deactivated once provably safe, at the latest at the deadline."""
        if record is not None and record.rotated_at is not None:
            replaced_at = record.rotated_at
        else:  # the owner made the replacement themselves
            replaced_at = max(new.created, key.created + _days(self.policy.rotate_after_days))
        natural_due = replaced_at + _days(self.policy.deactivate_after_rotation_days)
        reactivated = record is not None and record.reactivated
        if reactivated and record is not None and record.reactivated_at is not None:
            # the owner turned the key back on: "still needed"; a new episode, never retired at once
            natural_due = max(natural_due, record.reactivated_at + self.notice)
        return self._scheduled(
            key,
            record,
            kind=ActionKind.DEACTIVATE,
            reason=Reason.KEY_REPLACED_OVERDUE,
            natural_due=natural_due,
            warn_days=self.policy.rotation_warn_days,
            early=(
                Reason.KEY_REPLACED_SAFE if not reactivated and self._switched(key, record, new) else None
            ),
            severity=Severity.MEDIUM,
            detail=f"replaced by the key created {_date(new.created)}",
        )

    def _switched(self, key: AccessKey, record: KeyRecord | None, new: AccessKey) -> bool:
        """Proof that the workload moved to the new key: the new key is in use, the old one has not been
        used since the new key's first use (a fleet still half on the old key is not switched) and has been
        idle for `safe_idle_days` (a weekly job is not mistaken for a finished switch)."""
        if new.last_used is None:
            return False
        first_use = (record.replacement_first_used if record is not None else None) or new.last_used
        if key.last_used is None:
            return self.now - new.created >= _days(self.policy.safe_idle_days)
        return key.last_used + self.granularity <= first_use and self.now - key.last_used >= _days(
            self.policy.safe_idle_days
        )

    def _inactive(self, key: AccessKey) -> list[Action]:
        record = self._record(key)
        start = self.now
        period = self.policy.delete_inactive_after_days
        if record is not None:
            start = record.deactivated_at or record.first_seen_inactive or self.now
            if record.deactivation_reason in _REPLACED:
                period = self.policy.delete_rotated_after_days
        if key.last_used is not None and key.last_used > start:
            start = key.last_used  # used after we last saw it deactivated: the clock starts again
        return self._scheduled(
            key,
            record,
            kind=ActionKind.DELETE,
            reason=Reason.INACTIVE_KEY_CLEANUP,
            natural_due=start + _days(period),
            warn_days=self.policy.delete_warn_days,
            severity=Severity.LOW,
            detail=f"inactive since {_date(start)}",
        )

    # -- mechanics ----------------------------------------------------------------------------------

    def _scheduled(
        self,
        key: AccessKey,
        record: KeyRecord | None,
        *,
        kind: ActionKind,
        reason: Reason,
        natural_due: datetime,
        warn_days: Sequence[int],
        severity: Severity,
        detail: str,
        needs_notice: bool = True,
        early: Reason | None = None,
    ) -> list[Action]:
        """An action with advance notices. Sends the latest warning stage reached (never a burst of
        stale ones); acts at the deadline, or earlier (as `early`) once a notice went out before now.

        The deadline is `natural_due`, pushed back to `notice_days` after the first notice when the
        action needs notice; a notice belongs to this episode only if it announced a deadline at or
        after `natural_due` (a key used again starts a new episode)."""
        notices = self._notices(record, kind, natural_due)
        step = schedule(
            now=self.now,
            natural_due=natural_due,
            warn_days=warn_days,
            notices=notices,
            notice=self.notice,
            needs_notice=needs_notice,
            early_ok=early is not None,
        )
        if step is None:
            return []
        if step.act:
            why = early if step.early and early is not None else reason
            return [self._action(key, kind, why, due=step.due, severity=severity, detail=detail)]
        return [
            self._action(
                key,
                ActionKind.WARN,
                reason,
                due=step.due,
                deadline=step.deadline,
                warns_of=kind,
                stage=step.stage,
                severity=Severity.INFO,
                detail=detail,
                opens_notice=step.opens_notice,
            )
        ]

    def _notices(self, record: KeyRecord | None, kind: ActionKind, natural_due: datetime) -> list[Notice]:
        if record is None:
            return []
        return episode_notices(
            record.notices,
            kind.value,
            natural_due,
            dry_run=self.policy.dry_run,
            since=record.reactivated_at if record.reactivated else None,
        )

    def _replacement(
        self, key: AccessKey, record: KeyRecord | None, siblings: Sequence[AccessKey]
    ) -> AccessKey | None:
        """The key that replaces this one: the one our rotation made, or a fresh active key the owner
        created in this one's rotation window (from its first rotation warning on)."""
        if record is not None and record.replacement_created is not None:
            for other in siblings:
                if other.active and (
                    other.created == record.replacement_created
                    or (other.key_id is not None and other.key_id == record.replacement_key_id)
                ):
                    return other
        # A key the owner made is this one's replacement only if it came after the owner *received* a
        # rotation notice for this key and this key's use has stopped: otherwise two active keys are two
        # workloads' keys, and retiring one for the other would break a workload.
        rotation_due = key.created + _days(self.policy.rotate_after_days)
        if self.now < rotation_due or record is None:
            return None
        announced = first_delivery(n for n in record.notices if n.warns_of == ActionKind.ROTATE.value)
        if announced is None:
            return None
        idle = key.last_used is None or self.now - key.last_used >= _days(self.policy.safe_idle_days)
        for other in siblings:
            fresh = self.now < other.created + _days(self.policy.rotate_after_days)
            if other.active and other.created >= announced and fresh and idle:
                return other
        return None

    def _unused_due(self, key: AccessKey) -> datetime:
        if key.last_used is None:
            return key.created + _days(self.policy.never_used_after_days)
        return key.last_used + _days(self.policy.unused_after_days)

    def _record(self, key: AccessKey) -> KeyRecord | None:
        if not self.records:  # a first run: no key reference to build (performance only)
            return None
        created = key.created
        if created.tzinfo is UTC and not created.microsecond:  # already normalised: key_ref's own text
            return self.records.get(f"{self.user.name}|{created.isoformat()}")
        return self.records.get(key_ref(self.user.name, created))

    def _action(
        self,
        key: AccessKey,
        kind: ActionKind,
        reason: Reason,
        *,
        due: datetime,
        severity: Severity,
        detail: str,
        deadline: datetime | None = None,
        warns_of: ActionKind | None = None,
        stage: str | None = None,
        opens_notice: bool = False,
    ) -> Action:
        return Action(
            user=self.user.name,
            credential=CredentialType.ACCESS_KEY,
            action=kind,
            reason=reason,
            due=due,
            key_id=key.key_id,
            key_created=key.created,
            deadline=deadline,
            warns_of=warns_of,
            stage=stage,
            severity=severity,
            dry_run=self.policy.dry_run,
            detail=detail,
            opens_notice=opens_notice,
        )


def users_needing_key_ids(actions: Iterable[Action]) -> set[str]:
    """Users with an access-key action: only these get a `ListAccessKeys` call."""
    return {a.user for a in actions if a.credential is CredentialType.ACCESS_KEY and a.key_id is None}


@functools.cache
def _days(n: int) -> timedelta:
    """Cached: the planner needs the same few durations millions of times at organization scale."""
    return timedelta(days=n)


def _date(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")
