"""The scheduled lifecycle, independent of where it runs (Lambda, CLI, demo): inventory → plan → resolve
key ids for the users with actions → re-plan them → execute → queue and deliver the notices (one digest
per owner, one summary for the security team, see `credlife.notifications`).

Inventory cost stays constant in the number of users: per-user calls (`ListAccessKeys`) happen only for
users the first plan has an action for. One user's failure never stops the others."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from credlife.aws.errors import NotFound
from credlife.domain.actions import Action, ActionKind, episode_id, quiet
from credlife.domain.credential_planner import unrecorded_inactive_credentials
from credlife.domain.credentials import (
    LoginProfileState,
    ServerCertificate,
    ServiceCredential,
    SigningCertificate,
    SshPublicKey,
)
from credlife.domain.models import (
    AccountFacts,
    AccountSnapshot,
    CredentialRecord,
    CredentialType,
    KeyRecord,
    User,
    cred_ref,
    key_ref,
)
from credlife.domain.password_policy import PasswordPolicy
from credlife.domain.planner import (
    exemption,
    key_observations,
    plan,
    plan_user,
    unrecorded_inactive_keys,
    users_needing_key_ids,
)
from credlife.domain.policy import Policy
from credlife.notifications import NotificationService
from credlife.ports import ExecutorPort, InventoryPort, Outcome, Recovery, RunSummary, StateStorePort

log = logging.getLogger("credlife.lifecycle")


_KEY_ROWS = frozenset({CredentialType.ACCESS_KEY, CredentialType.USER})


class CredentialInventoryPort(Protocol):
    def login_profile(self, user: str) -> LoginProfileState | None: ...

    def password_policy(self) -> PasswordPolicy | None: ...

    def server_certificates(self) -> tuple[ServerCertificate, ...]: ...

    def ssh_public_keys(self, user: str) -> tuple[SshPublicKey, ...]: ...

    def service_credentials(self, user: str) -> tuple[ServiceCredential, ...]: ...

    def signing_certificates(self, user: str) -> tuple[SigningCertificate, ...]: ...


#: `progress(stage, done, total)`: how far a stage of a scan has got (total 0: not known).
Progress = Callable[[str, int, int], None]


class PublisherPort(Protocol):
    def publish(self, summary: RunSummary, users: Mapping[str, User], now: datetime) -> None:
        """Publish what a finished run found (report, findings); raise on failure (the run records it)."""


class LifecycleService:
    def __init__(
        self,
        *,
        inventory: InventoryPort,
        state: StateStorePort,
        executor: ExecutorPort,
        notifications: NotificationService | None,
        policy: Policy,
        account_id: Callable[[], str],
        api_calls: Callable[[], dict[str, int]] = dict,
        credentials: CredentialInventoryPort | None = None,
        publisher: PublisherPort | None = None,
        progress: Progress | None = None,
    ) -> None:
        #: After each run: the report to S3 and the findings to Security Hub (None: neither).
        self.publisher = publisher
        #: Told how far a long scan has got, `progress(stage, done, total)` (the CLI's progress bars).
        self.progress = progress
        #: Listings the credential report lacks (login profile reset flag, password policy, server
        #: certificates); None: only what the report says (unit tests, older hosts).
        self.credentials = credentials
        self.inventory = inventory
        self.state = state
        self.executor = executor
        self.notifications = notifications
        self.policy = policy
        self._account_id = account_id
        self._api_calls = api_calls

    def plan(
        self, now: datetime, *, only_user: str | None = None, allow_missing_state: bool = False
    ) -> tuple[RunSummary, dict[str, User]]:
        """Read-only: the actions due now, with key ids resolved for the users that have any.

        `allow_missing_state` lets an operator plan from a laptop before the stack (and its state table)
        exists: the plan is then a first run's plan (every disruptive action starts with a notice)."""
        summary, _, resolved = self.plan_with_snapshot(
            now, only_user=only_user, allow_missing_state=allow_missing_state
        )
        return summary, resolved

    def plan_with_snapshot(
        self, now: datetime, *, only_user: str | None = None, allow_missing_state: bool = False
    ) -> tuple[RunSummary, AccountSnapshot, dict[str, User]]:
        """`plan`, plus the snapshot it planned from (every user, for the report)."""
        snapshot = self._snapshot(now, only_user, allow_missing_state=allow_missing_state)
        # an operator's plan or report names every key by id: keys are listed for every user with a row
        summary, resolved = self._plan(snapshot, now, every_key_id=True)
        return summary, snapshot, resolved

    def run(
        self, now: datetime, *, only_user: str | None = None, rotate_now: Mapping[str, str] | None = None
    ) -> RunSummary:
        """Plan and apply (dry-run respected by the executor through each action's flag), then notify.

        `rotate_now` maps users to who asked for an immediate rotation (the "rotate now" event or CLI): the
        planner treats their active key as due, with every rule (exemptions, quota, dry-run) still applied."""
        run_id = _run_id(now)
        # Before anything is read for planning: what an earlier run left half-done is finished or undone,
        # so that no key the project could not hand over is planned around.
        recovery, recovery_failure = self._recover(now, run_id)
        snapshot = self._snapshot(now, only_user)
        if rotate_now:
            snapshot = replace(snapshot, rotate_now=dict(rotate_now))
        snapshot = self._start_inactive_clocks(snapshot, now)
        episodes = self._episodes(snapshot.account_id)
        summary, resolved = self._plan(snapshot, now, run_id=run_id, episodes=episodes)
        if rotate_now:  # "rotate now" is about access keys: the other credentials wait for the schedule
            summary.actions = [
                a for a in summary.actions if a.credential in _KEY_ROWS and a.action is not ActionKind.ADVISE
            ]
        users = {u.name: u for u in snapshot.users}
        self._report_recovery(summary, users, recovery, recovery_failure, now)
        by_user: dict[str, list[Action]] = {}
        for action in summary.actions:
            by_user.setdefault(action.user, []).append(action)
        audited: dict[str, str] = {}  # quiet rows audited (and queued) for the first time this run
        for name, user_actions in by_user.items():
            # exempt users have nothing to resolve: their rows are only audited; users without key rows
            # go as the snapshot has them (the facts a disruptive step is re-checked against)
            user = resolved.get(name) or users.get(name) or User(name=name, arn="")
            try:
                outcomes = self.executor.apply(
                    snapshot.account_id, user, user_actions, now=now, run_id=summary.run_id
                )
            except Exception as error:  # one user's failure never stops the others
                summary.failures.append(f"{name}: {type(error).__name__}")
                log.exception("applying actions failed", extra={"user": name})
                continue
            summary.outcomes.extend(outcomes)
            summary.failures.extend(
                f"{name}: {o.action.action.value} {o.action.key_id} failed: {o.detail}"
                for o in outcomes
                if o.status == "failed"
            )
            if self.notifications is not None:
                try:
                    self.notifications.queue(summary, users, outcomes, now)
                except Exception as error:
                    summary.failures.append(f"{name}: notices not queued ({type(error).__name__})")
                    log.exception("queueing notices failed", extra={"user": name})
                    continue
            audited.update(_new_episodes(outcomes))
        self._remember_episodes(summary, episodes, audited, full=only_user is None and not rotate_now)
        if self.notifications is not None:
            try:
                self.notifications.deliver(summary, now)
            except Exception as error:  # e.g. the outbox unreadable: the items wait for the next run
                summary.failures.append(f"notification delivery failed ({type(error).__name__})")
                log.exception("notification delivery failed")
        if self.publisher is not None and only_user is None and not rotate_now:
            named = _named_keys(summary.actions, snapshot.records)
            report_users = {u.name: resolved.get(u.name) or _with_ids(u, named) for u in snapshot.users}
            try:
                self.publisher.publish(summary, report_users, now)
            except Exception as error:  # the run's actions stand; the report waits for the next run
                summary.failures.append(f"report not published ({error})"[:300])
                log.exception("publishing the report failed")
        summary.api_calls = self._api_calls()
        return summary

    def _episodes(self, account_id: str) -> dict[str, str]:
        """The quiet rows already audited (episode id -> key id); unreadable: every row is audited."""
        load = getattr(self.state, "load_episodes", None)
        if load is None:
            return {}
        try:
            return dict(load(account_id))
        except Exception as error:
            log.warning("audited episodes not read: every row is audited", extra={"error": str(error)})
            return {}

    def _remember_episodes(
        self, summary: RunSummary, known: Mapping[str, str], audited: Mapping[str, str], *, full: bool
    ) -> None:
        """Store the episodes audited this run; a full run forgets those no longer planned (a row that
        comes back is a new episode, audited again)."""
        record = getattr(self.state, "record_episodes", None)
        end = getattr(self.state, "end_episodes", None)
        if record is None or end is None:
            return
        try:
            if audited:
                record(summary.account_id, audited, at=summary.started_at)
            if full:
                planned = {episode_id(a) for a in summary.actions if quiet(a)}
                stale = sorted(set(known) - planned)
                if stale:
                    end(summary.account_id, stale)
        except Exception as error:  # not remembered: those rows are audited again next run
            log.warning("audited episodes not stored", extra={"error": str(error)})

    def _recover(self, now: datetime, run_id: str) -> tuple[Recovery, str | None]:
        try:
            recovery = self.executor.recover_rotations(
                self._account_id(), now=now, run_id=run_id, dry_run=self.policy.dry_run
            )
        except NotFound:  # no state table at all: the same error the scan would give, first
            raise
        except Exception as error:  # the journal unreadable: no access-key action can be trusted this run
            log.exception("the rotation journal could not be read")
            return Recovery(), f"the rotation journal could not be read ({type(error).__name__})"
        return recovery, None

    def _report_recovery(
        self,
        summary: RunSummary,
        users: Mapping[str, User],
        recovery: Recovery,
        failure: str | None,
        now: datetime,
    ) -> None:
        """Interrupted rotations finished or undone go into the summary (and to the owner / the security
        team like any outcome); users whose rotation is still open, or all when the journal could not be
        read, get no access-key action this run."""
        summary.outcomes.extend(recovery.outcomes)
        summary.failures.extend(
            f"{o.action.user}: {o.detail}" for o in recovery.outcomes if o.status == "failed"
        )
        held = dict(recovery.held)
        if failure is not None:
            summary.failures.append(f"{failure}: no access-key action this run")
        for name, why in held.items():
            summary.failures.append(f"{name}: access-key actions wait: {why}")
        if failure is not None or held:
            summary.actions = [
                a
                for a in summary.actions
                if a.credential is not CredentialType.ACCESS_KEY or (failure is None and a.user not in held)
            ]
        if self.notifications is not None and recovery.outcomes:
            try:
                self.notifications.queue(summary, users, recovery.outcomes, now)
            except Exception as error:
                summary.failures.append(f"recovery notices not queued ({type(error).__name__})")
                log.exception("queueing recovery notices failed")

    def _snapshot(
        self, now: datetime, only_user: str | None, *, allow_missing_state: bool = False
    ) -> AccountSnapshot:
        account = self._account_id()
        users = self.inventory.users()
        if only_user is not None:
            users = tuple(u for u in users if u.name == only_user)
        try:
            records = self.state.load_records(account)
        except NotFound:
            if not allow_missing_state:
                raise
            log.warning("state table not found: planning as a first run (no recorded notices)")
            records = {}
        credential_records = {}
        load = getattr(self.state, "load_credential_records", None)
        if load is not None:
            try:
                credential_records = load(account)
            except NotFound:
                if not allow_missing_state:
                    raise
        users = self._enrich(users)
        facts = self._account_facts() if only_user is None else None
        return AccountSnapshot(
            account, now, users, records, credential_records=credential_records, account=facts
        )

    def _with_reset_flag(self, user: User) -> User:
        """`GetLoginProfile` (the reset flag) for a console password never used that a planned row is
        about (see `_needs_reset_flag`); unreadable: the user is judged on the credential report."""
        if self.credentials is None:
            return user
        try:
            state = self.credentials.login_profile(user.name)
        except Exception as error:
            log.warning("could not read login profile", extra={"user": user.name, "error": str(error)})
            return user
        return replace(user, password_reset_required=bool(state and state.reset_required))

    def _enrich(self, users: tuple[User, ...]) -> tuple[User, ...]:
        """SSH keys, service-specific credentials and signing certificates (one list call per user and
        enabled type). The login profile's reset flag is read later, only for users a row is about."""
        if self.credentials is None:
            return users
        enriched: list[User] = []
        policy, listings, progress = self.policy, self.credentials, self.progress
        for done, user in enumerate(users):
            if progress is not None:
                progress("credentials", done, len(users))
            if exemption(user, policy) is not None:
                enriched.append(user)
                continue
            # one list call per user and enabled type (IAM reports none of these in the credential report)
            try:
                if policy.ssh_keys_enabled:
                    user = replace(user, ssh_keys=listings.ssh_public_keys(user.name))
                if policy.service_credentials_enabled:
                    user = replace(user, service_credentials=listings.service_credentials(user.name))
                if policy.signing_certificates_enabled:
                    user = replace(user, signing_certificates=listings.signing_certificates(user.name))
            except Exception as error:  # one user's failure never stops the others
                log.warning("could not list credentials", extra={"user": user.name, "error": str(error)})
            enriched.append(user)
        if progress is not None and users:
            progress("credentials", len(users), len(users))
        return tuple(enriched)

    def _account_facts(self) -> AccountFacts:
        root_of = getattr(self.inventory, "root_account", None)
        root = root_of() if root_of is not None else None
        if self.credentials is None:
            return AccountFacts(root=root)
        policy, known = None, False
        try:
            policy, known = self.credentials.password_policy(), True
        except Exception as error:
            log.warning("could not read the account password policy", extra={"error": str(error)})
        certificates: tuple[ServerCertificate, ...] = ()
        try:
            certificates = self.credentials.server_certificates()
        except Exception as error:
            log.warning("could not list server certificates", extra={"error": str(error)})
        return AccountFacts(
            root=root, password_policy=policy, password_policy_known=known, server_certificates=certificates
        )

    def _plan(
        self,
        snapshot: AccountSnapshot,
        now: datetime,
        *,
        run_id: str | None = None,
        every_key_id: bool = False,
        episodes: Mapping[str, str] | None = None,
    ) -> tuple[RunSummary, dict[str, User]]:
        """A scheduled run lists the keys (`ListAccessKeys`) only of users with a row that changes (or would
        change) a key whose id its record does not hold; rows that only report name a key by its creation
        time."""
        summary = RunSummary(snapshot.account_id, run_id or _run_id(now), now, self.policy.dry_run)
        summary.users = len(snapshot.users)
        first = plan(snapshot, self.policy, now)
        known = episodes or {}
        if not every_key_id:
            first = [_known_key_id(_repeat(a, known), snapshot.records) for a in first]
        # a quiet row already audited this episode needs no key id: it is neither audited nor sent again
        needing = users_needing_key_ids(a for a in first if not a.repeat)
        first_by_user: dict[str, list[Action]] = {}
        for action in first:
            first_by_user.setdefault(action.user, []).append(action)
        reset_flag = {
            user.name
            for user in snapshot.users
            if self.credentials is not None and _needs_reset_flag(user, first_by_user.get(user.name, ()))
        }
        resolved: dict[str, User] = {}
        actions: list[Action] = []
        progress, done = self.progress, 0
        to_resolve = sum(1 for user in snapshot.users if user.name in needing)
        for user in snapshot.users:
            if user.name in reset_flag:
                user = self._with_reset_flag(user)
                if user.name not in needing:
                    resolved[user.name] = user
                    actions.extend(plan_user(user, snapshot, self.policy, now))
                    continue
            if user.name not in needing:
                actions.extend(first_by_user.get(user.name, ()))
                continue
            if progress is not None:
                progress("access keys", done, to_resolve)
            done += 1
            try:
                full = self.inventory.resolve_keys(user)
            except Exception as error:  # one user's failure never stops the others
                summary.failures.append(f"{user.name}: could not list access keys ({type(error).__name__})")
                log.warning("could not resolve keys", extra={"user": user.name, "error": str(error)})
                continue
            resolved[user.name] = full
            actions.extend(plan_user(full, snapshot, self.policy, now))
        if progress is not None and to_resolve:
            progress("access keys", to_resolve, to_resolve)
        # account-level rows (root, password policy, server certificates) belong to no IAM user
        names = {u.name for u in snapshot.users}
        actions.extend(a for a in first if a.user not in names)
        summary.actions = [_repeat(a, known) for a in actions] if known else actions
        summary.api_calls = self._api_calls()
        return summary, resolved

    def _start_inactive_clocks(self, snapshot: AccountSnapshot, now: datetime) -> AccountSnapshot:
        """The delete clock of a key found inactive starts at the first scan that saw it (DESIGN §3); the
        same for SSH keys and service-specific credentials."""
        pending = unrecorded_inactive_credentials(snapshot)
        start = getattr(self.state, "record_credential_detected", None)
        if pending and start is not None:
            credential_records = dict(snapshot.credential_records)
            for user_name, credential, cred_id in pending:
                start(snapshot.account_id, user_name, credential.value, cred_id, at=now)
                ref = cred_ref(user_name, credential.value, cred_id)
                old = credential_records.get(ref) or CredentialRecord(user_name, credential.value, cred_id)
                credential_records[ref] = replace(old, detected_at=now)
            snapshot = replace(snapshot, credential_records=credential_records)
        records = dict(snapshot.records)
        for user, key in unrecorded_inactive_keys(snapshot):
            self.state.record_first_seen_inactive(snapshot.account_id, user.name, key, at=now)
            ref = key_ref(user.name, key.created)
            records[ref] = replace(
                records.get(ref) or KeyRecord(user.name, key.created), first_seen_inactive=now
            )
        for user, key, observed in key_observations(snapshot, now):
            try:
                self.state.record_key_observation(snapshot.account_id, user.name, key, **observed)
            except Exception as error:  # not remembered: the planner judges on what it sees now
                log.warning(
                    "could not record a key observation", extra={"user": user.name, "error": str(error)}
                )
                continue
            ref = key_ref(user.name, key.created)
            known = records.get(ref) or KeyRecord(user.name, key.created)
            records[ref] = replace(
                known,
                reactivated_at=observed.get("reactivated_at", known.reactivated_at),
                replacement_first_used=observed.get("replacement_first_used", known.replacement_first_used),
            )
        return replace(snapshot, records=records)


#: Rows about a console password or its MFA whose plan the reset flag can change.
_CONSOLE_ROWS = frozenset({CredentialType.PASSWORD, CredentialType.MFA})
_QUIET_KINDS = frozenset({ActionKind.EXEMPT, ActionKind.ADVISE})


def _repeat(action: Action, episodes: Mapping[str, str]) -> Action:
    """A quiet row of an episode already audited: marked `repeat`, with the key id it named then."""
    if action.repeat or not episodes or not quiet(action):
        return action
    named = episodes.get(episode_id(action))
    if named is None:
        return action
    return replace(action, repeat=True, key_id=action.key_id or named or None)


def _new_episodes(outcomes: Iterable[Outcome]) -> dict[str, str]:
    """Quiet rows audited before and after for the first time (not failed, result on record)."""
    return {
        episode_id(o.action): o.action.key_id or ""
        for o in outcomes
        if quiet(o.action)
        and not o.action.repeat
        and o.status != "failed"
        and "audit result not written" not in o.detail
    }


def _named_keys(actions: Iterable[Action], records: Mapping[str, KeyRecord]) -> dict[str, str]:
    """Key ids known without listing: from the key records and from this run's rows (key_ref -> id)."""
    named = {ref: r.key_id for ref, r in records.items() if r.key_id}
    for a in actions:
        if a.key_id and a.key_created is not None and a.credential in _KEY_ROWS:
            named.setdefault(key_ref(a.user, a.key_created), a.key_id)
    return named


def _with_ids(user: User, named: Mapping[str, str]) -> User:
    """The user with the ids of keys not listed this run filled in where known (the report names them)."""
    if user.keys_resolved or all(k.key_id for k in user.access_keys):
        return user
    keys = tuple(
        k if k.key_id else replace(k, key_id=named.get(key_ref(user.name, k.created)))
        for k in user.access_keys
    )
    return replace(user, access_keys=keys)


def _known_key_id(action: Action, records: Mapping[str, KeyRecord]) -> Action:
    """A dry-run access-key row without a key id gets the id its key record holds (no IAM call); a live
    change always acts on keys listed this run."""
    if (
        not action.dry_run
        or action.key_id is not None
        or action.key_created is None
        or action.credential not in _KEY_ROWS
    ):
        return action
    record = records.get(key_ref(action.user, action.key_created))
    if record is None or not record.key_id:
        return action
    return replace(action, key_id=record.key_id)


def _needs_reset_flag(user: User, rows: Iterable[Action]) -> bool:
    """A console password never used, and a planned row about it: only then is `GetLoginProfile` read
    (a password being reset gets an alert instead of those rows)."""
    profile = user.login_profile
    if profile is None or profile.last_used is not None:
        return False
    return any(a.credential in _CONSOLE_ROWS and a.action not in _QUIET_KINDS for a in rows)


def _run_id(now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def count_changes(summary: RunSummary) -> dict[str, int]:
    """Outcomes by `<action>:<status>`, for metrics and the CLI summary."""
    counts: dict[str, int] = {}
    for outcome in summary.outcomes:
        label = f"{outcome.action.action.value}:{outcome.status}"
        counts[label] = counts.get(label, 0) + 1
    return counts


def is_finding(action: Action) -> bool:
    """Anything but an audited exemption or best-practice advice is a finding (CLI exit code 1)."""
    return action.action not in {ActionKind.EXEMPT, ActionKind.ADVISE}


__all__ = ["LifecycleService", "count_changes", "is_finding", "key_ref"]
