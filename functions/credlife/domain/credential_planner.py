"""Planner rows for the credentials besides access keys (DESIGN §3): console passwords, MFA for console
users, and the account-level rows (root, password policy, server certificates). Pure, like `planner`.

Every disruptive step goes through `scheduling.schedule` (minimum notice, a missed stage caught up once)
with its notices read from the credential's persisted record (`CredentialRecord`, `cred_ref`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from credlife.domain.actions import Action, ActionKind, Reason, Severity
from credlife.domain.models import (
    AccountSnapshot,
    CredentialRecord,
    CredentialType,
    KeyStatus,
    User,
    cred_ref,
)
from credlife.domain.password_policy import drift
from credlife.domain.policy import Policy
from credlife.domain.root import root_findings
from credlife.domain.scheduling import days, episode_notices, schedule

#: The id of a user's console password / MFA-enforcement record (a user has at most one of each).
CONSOLE = "console"
#: The `user` of account-level rows (password policy, server certificates).
ACCOUNT = "<account>"


def console_record(
    snapshot: AccountSnapshot, user: str, credential: CredentialType
) -> CredentialRecord | None:
    if not snapshot.credential_records:
        return None
    return snapshot.credential_records.get(cred_ref(user, credential.value, CONSOLE))


def mfa_enforced(user: User, policy: Policy) -> bool:
    """The project's require-MFA policy is attached to the user (from the authorization details)."""
    arn = policy.require_mfa_policy_arn
    return arn is not None and arn in user.attached_policies


def mfa_episode_open(user: User, snapshot: AccountSnapshot) -> bool:
    """A no-MFA grace period was started for the user and never closed."""
    record = console_record(snapshot, user.name, CredentialType.MFA)
    return record is not None and record.detected_at is not None


def needs_console_rows(user: User, snapshot: AccountSnapshot, policy: Policy) -> bool:
    """Whether `plan_console` has anything to look at: a console password, MFA, or an enforcement (or grace)
    of ours still in place, which must be lifted once nothing justifies it any more."""
    return (
        user.login_profile is not None
        or user.mfa_active
        or mfa_enforced(user, policy)
        or mfa_episode_open(user, snapshot)
    )


def lift_for_exempt(
    user: User, snapshot: AccountSnapshot, policy: Policy, now: datetime, exempt: Reason
) -> list[Action]:
    """An exempt user keeps no enforcement (or grace period) of ours: lift it, the only row besides the
    audited `exempt` one."""
    if not (mfa_enforced(user, policy) or mfa_episode_open(user, snapshot)):
        return []
    record = console_record(snapshot, user.name, CredentialType.MFA)
    return [
        _row(
            user,
            CredentialType.MFA,
            ActionKind.LIFT,
            Reason.MFA_ENFORCEMENT_EXEMPT,
            policy,
            due=now,
            created=record.detected_at if record else None,
            detail=f"the user is exempt ({exempt.value}): MFA is no longer enforced by the automation",
        )
    ]


def plan_console(user: User, snapshot: AccountSnapshot, policy: Policy, now: datetime) -> list[Action]:
    """The console password and MFA rows of one (non-exempt) user.

    MFA enforcement (and its grace period) is lifted whenever the condition that justified it is gone: an
    MFA device is enabled, or the console password was removed (by us or by hand)."""
    actions: list[Action] = []
    profile = user.login_profile
    enforced = mfa_enforced(user, policy)
    mfa_record = console_record(snapshot, user.name, CredentialType.MFA)
    open_episode = mfa_record is not None and mfa_record.detected_at is not None
    if (user.mfa_active or profile is None) and (enforced or open_episode):
        reason = Reason.MFA_ENABLED if user.mfa_active else Reason.CONSOLE_PASSWORD_REMOVED
        cause = "an MFA device is enabled" if user.mfa_active else "the user has no console password any more"
        actions.append(
            _row(
                user,
                CredentialType.MFA,
                ActionKind.LIFT,
                reason,
                policy,
                due=now,
                created=mfa_record.detected_at if mfa_record else None,
                detail=(
                    f"{cause}: the require-MFA policy is detached"
                    if enforced
                    else f"{cause}: the grace period is closed"
                ),
            )
        )
    if profile is None:
        return actions  # no console password: nothing to enforce (API-only users are the key rows' job)
    if user.password_reset_required:
        # Created with a password that must be reset: reported until the user signs in, nothing else.
        return [
            *actions,
            _row(
                user,
                CredentialType.PASSWORD,
                ActionKind.ALERT,
                Reason.PASSWORD_RESET_PENDING,
                policy,
                due=now,
                created=profile.created,
                severity=Severity.LOW,
                detail=(
                    f"console password set {profile.created:%Y-%m-%d} must be reset at first sign-in and "
                    "the user has not signed in yet"
                ),
            ),
        ]
    actions.extend(_unused_password(user, snapshot, policy, now))
    if not user.mfa_active and not enforced:
        actions.extend(_no_mfa(user, mfa_record, policy, now))
    return actions


def _unused_password(user: User, snapshot: AccountSnapshot, policy: Policy, now: datetime) -> list[Action]:
    profile = user.login_profile
    assert profile is not None
    last = profile.last_used or profile.created
    natural_due = last + days(policy.password_unused_days)
    if now < natural_due - days(max(policy.password_warn_days, default=0)) - days(policy.notice_days):
        return []
    record = console_record(snapshot, user.name, CredentialType.PASSWORD)
    idle = (now - last).days
    detail = (
        f"console password never used in {idle} days"
        if profile.last_used is None
        else f"console password not used for {idle} days"
    )
    return _scheduled(
        user,
        record,
        policy,
        now,
        credential=CredentialType.PASSWORD,
        kind=ActionKind.DELETE,
        reason=Reason.PASSWORD_UNUSED,
        natural_due=natural_due,
        warn_days=policy.password_warn_days,
        created=profile.created,
        severity=Severity.MEDIUM,
        detail=detail,
    )


def _no_mfa(user: User, record: CredentialRecord | None, policy: Policy, now: datetime) -> list[Action]:
    detected = record.detected_at if record is not None and record.detected_at is not None else now
    mode = policy.mfa_enforcement
    if mode == "policy" and policy.require_mfa_policy_arn is None:
        mode = "alert"  # nothing to attach: report only
    natural_due = detected + days(policy.mfa_grace_days)
    what = {
        "policy": (
            "the require-MFA policy is attached: console sessions without MFA can then only set up MFA and "
            "change the password; calls signed with the user's access keys are not affected"
        ),
        "delete_login_profile": "the console password is removed",
        "alert": "the security team is alerted",
    }[mode]
    detail = f"console password without an MFA device since {detected:%Y-%m-%d}; after the grace {what}"
    if mode == "alert":
        if now < natural_due:
            return (
                [
                    _row(
                        user,
                        CredentialType.MFA,
                        ActionKind.WARN,
                        Reason.CONSOLE_NO_MFA,
                        policy,
                        due=now,
                        created=detected,
                        deadline=natural_due,
                        warns_of=ActionKind.ALERT,
                        stage="notice",
                        detail=detail,
                    )
                ]
                if record is None or not record.notices
                else []
            )
        return [
            _row(
                user,
                CredentialType.MFA,
                ActionKind.ALERT,
                Reason.CONSOLE_NO_MFA,
                policy,
                due=natural_due,
                created=detected,
                severity=Severity.HIGH,
                detail=detail,
            )
        ]
    kind = ActionKind.ENFORCE if mode == "policy" else ActionKind.DELETE
    return _scheduled(
        user,
        record,
        policy,
        now,
        credential=CredentialType.MFA,
        kind=kind,
        reason=Reason.CONSOLE_NO_MFA,
        natural_due=natural_due,
        warn_days=policy.mfa_warn_days,
        created=detected,
        severity=Severity.HIGH,
        detail=detail,
    )


def _scheduled(
    user: User,
    record: CredentialRecord | None,
    policy: Policy,
    now: datetime,
    *,
    credential: CredentialType,
    kind: ActionKind,
    reason: Reason,
    natural_due: datetime,
    warn_days: Sequence[int],
    created: datetime,
    severity: Severity,
    detail: str,
) -> list[Action]:
    notices = (
        episode_notices(record.notices, kind.value, natural_due, dry_run=policy.dry_run) if record else []
    )
    step = schedule(
        now=now,
        natural_due=natural_due,
        warn_days=warn_days,
        notices=notices,
        notice=timedelta(days=policy.notice_days),
    )
    if step is None:
        return []
    if step.act:
        return [
            _row(
                user,
                credential,
                kind,
                reason,
                policy,
                due=step.due,
                created=created,
                severity=severity,
                detail=detail,
            )
        ]
    return [
        _row(
            user,
            credential,
            ActionKind.WARN,
            reason,
            policy,
            due=step.due,
            created=created,
            deadline=step.deadline,
            warns_of=kind,
            stage=step.stage,
            detail=detail,
            opens_notice=step.opens_notice,
        )
    ]


def _row(
    user: User,
    credential: CredentialType,
    kind: ActionKind,
    reason: Reason,
    policy: Policy,
    *,
    due: datetime,
    created: datetime | None,
    detail: str,
    severity: Severity = Severity.INFO,
    deadline: datetime | None = None,
    warns_of: ActionKind | None = None,
    stage: str | None = None,
    key_id: str | None = None,
    opens_notice: bool = False,
) -> Action:
    return Action(
        user=user.name,
        credential=credential,
        action=kind,
        reason=reason,
        due=due,
        key_id=key_id,
        key_created=created,
        deadline=deadline,
        warns_of=warns_of,
        stage=stage,
        severity=severity,
        dry_run=policy.dry_run,
        detail=detail,
        opens_notice=opens_notice,
    )


# -- SSH keys, service-specific credentials, signing certificates --------------------------------------


def other_credentials(user: User) -> list[tuple[CredentialType, str, KeyStatus, datetime]]:
    """(type, id, status, created) of every listed credential of these types."""
    found: list[tuple[CredentialType, str, KeyStatus, datetime]] = []
    for ssh in user.ssh_keys or ():
        found.append((CredentialType.SSH_KEY, ssh.key_id, ssh.status, ssh.uploaded))
    for cred in user.service_credentials or ():
        found.append((CredentialType.SERVICE_CREDENTIAL, cred.credential_id, cred.status, cred.created))
    for cert in user.signing_certificates or ():
        found.append((CredentialType.SIGNING_CERTIFICATE, cert.certificate_id, cert.status, cert.uploaded))
    return found


#: Types whose inactive credentials are deleted later (a signing certificate is only set Inactive).
_DELETABLE = frozenset({CredentialType.SSH_KEY, CredentialType.SERVICE_CREDENTIAL})


def unrecorded_inactive_credentials(snapshot: AccountSnapshot) -> list[tuple[str, CredentialType, str]]:
    """Inactive SSH keys / service-specific credentials whose delete clock has not started: the caller
    records `detected_at` (first seen inactive) once."""
    found = []
    for user in snapshot.users:
        for credential, cred_id, status, _ in other_credentials(user):
            if status is KeyStatus.INACTIVE and credential in _DELETABLE:
                record = snapshot.credential_records.get(cred_ref(user.name, credential.value, cred_id))
                if record is None or (record.detected_at is None and record.enforced_at is None):
                    found.append((user.name, credential, cred_id))
    return found


def plan_other(user: User, snapshot: AccountSnapshot, policy: Policy, now: datetime) -> list[Action]:
    """Age → Inactive (warned first); inactive SSH keys and service-specific credentials deleted later."""
    actions: list[Action] = []
    for credential, cred_id, status, created in other_credentials(user):
        record = snapshot.credential_records.get(cred_ref(user.name, credential.value, cred_id))
        label = credential.value.replace("_", " ")
        if status is KeyStatus.ACTIVE:
            natural_due = created + days(policy.other_credentials_max_age_days)
            if now < natural_due - days(max(max(policy.other_warn_days, default=0), policy.notice_days)):
                continue
            kind, reason = ActionKind.DEACTIVATE, Reason.CREDENTIAL_AGED
            warn_days = policy.other_warn_days
            limit = policy.other_credentials_max_age_days
            detail = f"{label} is {(now - created).days} days old; set Inactive at {limit} days"
        elif credential in _DELETABLE:
            start = (record.enforced_at or record.detected_at) if record is not None else None
            natural_due = (start or now) + days(policy.other_delete_inactive_after_days)
            kind, reason = ActionKind.DELETE, Reason.INACTIVE_CREDENTIAL_CLEANUP
            warn_days = policy.delete_warn_days
            detail = f"{label} inactive since {(start or now):%Y-%m-%d}"
        else:
            continue
        for action in _scheduled(
            user,
            record,
            policy,
            now,
            credential=credential,
            kind=kind,
            reason=reason,
            natural_due=natural_due,
            warn_days=warn_days,
            created=created,
            severity=Severity.MEDIUM if kind is ActionKind.DEACTIVATE else Severity.LOW,
            detail=detail,
        ):
            actions.append(replace(action, key_id=cred_id))
    return actions


# -- account level ----------------------------------------------------------------------------------------


def plan_account(snapshot: AccountSnapshot, policy: Policy, now: datetime) -> list[Action]:
    """Root alerts (never act), password-policy drift (alert or enforce), server certificate expiry."""
    facts = snapshot.account
    if facts is None:
        return []
    actions = [
        _dry(a, policy) for a in root_findings(facts.root, now, recent_days=policy.root_recent_use_days)
    ]
    baseline = policy.password_policy
    if facts.password_policy_known:
        weaker = drift(facts.password_policy, baseline)
        if weaker:
            actions.append(
                Action(
                    user=ACCOUNT,
                    credential=CredentialType.PASSWORD_POLICY,
                    action=ActionKind.ENFORCE if baseline.enforce else ActionKind.ALERT,
                    reason=Reason.PASSWORD_POLICY_WEAK,
                    due=now,
                    severity=Severity.MEDIUM,
                    dry_run=policy.dry_run,
                    detail=("no account password policy; " if facts.password_policy is None else "")
                    + "; ".join(d.describe() for d in weaker),
                )
            )
    for cert in facts.server_certificates:
        left = cert.expiration - now
        if left <= timedelta(0):
            reason, stage, severity = Reason.SERVER_CERT_EXPIRED, "expired", Severity.HIGH
        else:
            reached = [d for d in policy.server_certificate_warn_days if left <= days(d)]
            if not reached:
                continue
            reason, stage, severity = Reason.SERVER_CERT_EXPIRING, f"{min(reached)}d", Severity.MEDIUM
        actions.append(
            Action(
                user=ACCOUNT,
                credential=CredentialType.SERVER_CERTIFICATE,
                action=ActionKind.ALERT,
                reason=reason,
                due=now,
                key_id=cert.name,
                key_created=cert.expiration,
                stage=stage,
                deadline=cert.expiration,
                severity=severity,
                dry_run=policy.dry_run,
                detail=(
                    f"server certificate {cert.name} expired on {cert.expiration:%Y-%m-%d}: "
                    "replace and delete it"
                    if reason is Reason.SERVER_CERT_EXPIRED
                    else f"server certificate {cert.name} expires on {cert.expiration:%Y-%m-%d %H:%M}Z: "
                    "renew it"
                ),
            )
        )
    return actions


def _dry(action: Action, policy: Policy) -> Action:
    return replace(action, dry_run=policy.dry_run)
