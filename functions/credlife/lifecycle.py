"""The scheduled lifecycle, independent of where it runs (Lambda, CLI, demo): inventory → plan → resolve
key ids for the users with actions → re-plan them → execute → queue and deliver the notices (one digest
per owner, one summary for the security team, see `credlife.notifications`).

Inventory cost stays constant in the number of users: per-user calls (`ListAccessKeys`) happen only for
users the first plan has an action for. One user's failure never stops the others."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from credlife.aws.errors import NotFound
from credlife.domain.actions import Action, ActionKind
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
from credlife.ports import ExecutorPort, InventoryPort, Recovery, RunSummary, StateStorePort

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
        summary, resolved = self._plan(snapshot, now)
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
        summary, resolved = self._plan(snapshot, now, run_id=run_id)
        if rotate_now:  # "rotate now" is about access keys: the other credentials wait for the schedule
            summary.actions = [
                a for a in summary.actions if a.credential in _KEY_ROWS and a.action is not ActionKind.ADVISE
            ]
        users = {u.name: u for u in snapshot.users}
        self._report_recovery(summary, users, recovery, recovery_failure, now)
        by_user: dict[str, list[Action]] = {}
        for action in summary.actions:
            by_user.setdefault(action.user, []).append(action)
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
        if self.notifications is not None:
            try:
                self.notifications.deliver(summary, now)
            except Exception as error:  # e.g. the outbox unreadable: the items wait for the next run
                summary.failures.append(f"notification delivery failed ({type(error).__name__})")
                log.exception("notification delivery failed")
        if self.publisher is not None and only_user is None and not rotate_now:
            report_users = {u.name: resolved.get(u.name, u) for u in snapshot.users}
            try:
                self.publisher.publish(summary, report_users, now)
            except Exception as error:  # the run's actions stand; the report waits for the next run
                summary.failures.append(f"report not published ({error})"[:300])
                log.exception("publishing the report failed")
        summary.api_calls = self._api_calls()
        return summary

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

    def _enrich(self, users: tuple[User, ...]) -> tuple[User, ...]:
        """`GetLoginProfile` (the reset flag) only for console passwords never used: the users that may
        be mid-reset. Everyone else is judged on the credential report alone."""
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
            profile = user.login_profile
            if profile is not None and profile.last_used is None:
                try:
                    state = listings.login_profile(user.name)
                except Exception as error:
                    log.warning(
                        "could not read login profile", extra={"user": user.name, "error": str(error)}
                    )
                else:
                    user = replace(user, password_reset_required=bool(state and state.reset_required))
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
        self, snapshot: AccountSnapshot, now: datetime, *, run_id: str | None = None
    ) -> tuple[RunSummary, dict[str, User]]:
        summary = RunSummary(snapshot.account_id, run_id or _run_id(now), now, self.policy.dry_run)
        summary.users = len(snapshot.users)
        first = plan(snapshot, self.policy, now)
        needing = users_needing_key_ids(first)
        first_by_user: dict[str, list[Action]] = {}
        for action in first:
            first_by_user.setdefault(action.user, []).append(action)
        resolved: dict[str, User] = {}
        actions: list[Action] = []
        progress, done = self.progress, 0
        to_resolve = sum(1 for user in snapshot.users if user.name in needing)
        for user in snapshot.users:
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
        summary.actions = actions
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
