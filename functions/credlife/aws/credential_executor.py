"""Carries out the planner's rows for the credentials besides access keys: the console password (delete
the login profile), MFA enforcement (attach / detach the project's require-MFA managed policy, or delete
the login profile), and the account password policy (set the baseline). Dry-run aware and idempotent;
the `Executor` audits every row before and after and hands the non-access-key ones to this class.

Also the port the event handler uses to lift MFA enforcement as soon as `EnableMFADevice` arrives."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from credlife.aws.calls import ApiCallCounter
from credlife.aws.credentials import CredentialInventory
from credlife.aws.errors import AwsError, NotFound, translate
from credlife.aws.fresh_facts import ConsoleFacts, FreshFacts, used_since
from credlife.domain.actions import Action, ActionKind, Reason
from credlife.domain.credential_planner import CONSOLE
from credlife.domain.messages import MessageItem
from credlife.domain.models import CredentialType, Notice, User
from credlife.domain.password_policy import PasswordPolicy, PasswordPolicyBaseline, enforced
from credlife.ports import AuditEntry, NoticeMessagesPort, Outcome
from credlife.risk_monitor import MfaLift

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient

log = logging.getLogger("credlife.credential_executor")

#: Granted separately, only on the require-MFA policy (condition `iam:PolicyARN`): see infra.
REQUIRE_MFA_ACTIONS: Final = ("iam:AttachUserPolicy", "iam:DetachUserPolicy")
#: What the `EnableMFADevice` hook needs in the event function (besides the state table's writes).
MFA_LIFT_ACTIONS: Final = ("iam:ListAttachedUserPolicies", "iam:DetachUserPolicy")
#: Everything else this class calls (part of the executor's declared actions).
REQUIRED_ACTIONS: Final = (
    "iam:ListAttachedUserPolicies",
    "iam:ListMFADevices",
    "iam:GetLoginProfile",
    "iam:GetUser",
    "iam:DeleteLoginProfile",
    "iam:GetAccountPasswordPolicy",
    "iam:UpdateAccountPasswordPolicy",
    "iam:UpdateSSHPublicKey",
    "iam:DeleteSSHPublicKey",
    "iam:UpdateServiceSpecificCredential",
    "iam:DeleteServiceSpecificCredential",
    "iam:UpdateSigningCertificate",
)

_T = TypeVar("_T")
_OTHER: Final = frozenset(
    {CredentialType.SSH_KEY, CredentialType.SERVICE_CREDENTIAL, CredentialType.SIGNING_CERTIFICATE}
)


class CredentialStatePort(Protocol):
    def record_credential_notice(
        self,
        account_id: str,
        user: str,
        credential: str,
        credential_id: str,
        notice: Notice,
        *,
        detected_at: datetime | None = None,
        messages: Sequence[MessageItem] = (),
    ) -> bool: ...

    def record_credential_state(
        self,
        account_id: str,
        user: str,
        credential: str,
        credential_id: str,
        *,
        at: dict[str, datetime],
        remove: tuple[str, ...] = (),
    ) -> None: ...

    def write_audit(self, account_id: str, entry: AuditEntry) -> None: ...


class CredentialActions:
    def __init__(
        self,
        iam_client: IAMClient | None = None,
        *,
        state: CredentialStatePort,
        require_mfa_policy_arn: str | None,
        password_baseline: PasswordPolicyBaseline | None = None,
        counter: ApiCallCounter | None = None,
        messages: NoticeMessagesPort | None = None,
    ) -> None:
        self._iam: IAMClient = iam_client if iam_client is not None else boto3.client("iam")
        #: Composes the items that tell the owner about a notice, stored with it (None: notices only).
        self.messages = messages
        if counter is not None:
            counter.attach(self._iam)
        self._state = state
        self._fresh = FreshFacts(self._iam)
        self._policy_arn = require_mfa_policy_arn
        self._baseline = password_baseline or PasswordPolicyBaseline()

    def dispatch(
        self, account_id: str, action: Action, now: datetime, *, user: User | None = None
    ) -> Outcome:
        """Carry out one row. `user` is the user as the plan saw them (the facts a disruptive step is
        checked against right before it happens)."""
        if action.action is ActionKind.WARN:
            return self._warn(account_id, action, now, user or User(name=action.user, arn=""))
        if action.credential is CredentialType.PASSWORD_POLICY and action.action is ActionKind.ENFORCE:
            return self._password_policy(action)
        if action.credential is CredentialType.MFA and action.action is ActionKind.ENFORCE:
            return self._enforce_mfa(account_id, action, now)
        if action.credential is CredentialType.MFA and action.action is ActionKind.LIFT:
            if action.reason is Reason.CONSOLE_PASSWORD_REMOVED:
                facts = self._fresh.console(action.user)
                if facts.created is not None:  # a console password again: the enforcement still applies
                    return Outcome(action, "skipped", "the user has a console password again")
            return self.lift(account_id, action.user, now, dry_run=action.dry_run, action=action)
        if action.credential in _OTHER and action.action in {ActionKind.DEACTIVATE, ActionKind.DELETE}:
            return self._other(account_id, action, now)
        if action.action is ActionKind.DELETE and action.credential in {
            CredentialType.PASSWORD,
            CredentialType.MFA,
        }:
            return self._delete_login_profile(account_id, action, now, user)
        return Outcome(action, "skipped", f"{action.credential.value} {action.action.value} is not supported")

    # -- handlers ------------------------------------------------------------------------------------

    def _warn(self, account_id: str, action: Action, now: datetime, user: User) -> Outcome:
        if action.warns_of is None or action.stage is None or action.deadline is None:
            return Outcome(action, "failed", "a warn action needs warns_of, stage and deadline")
        notice = Notice(action.warns_of.value, action.stage, now, action.deadline, action.dry_run)
        detected = action.key_created if action.credential is CredentialType.MFA else None
        outcome = Outcome(action, "dry_run" if action.dry_run else "applied")
        recorded = self._state.record_credential_notice(
            account_id,
            action.user,
            action.credential.value,
            action.key_id or CONSOLE,
            notice,
            detected_at=detected,
            messages=[] if self.messages is None else self.messages.items_for(user, outcome, now),
        )
        if not recorded:
            return Outcome(action, "noop", f"{action.stage} notice already recorded")
        return replace(outcome, messages_stored=self.messages is not None)

    def _enforce_mfa(self, account_id: str, action: Action, now: datetime) -> Outcome:
        if self._policy_arn is None:
            return Outcome(action, "failed", "no require-MFA policy configured (require_mfa_policy_arn)")
        facts = self._fresh.console(action.user)  # the credential report can be 4 hours old
        if facts.mfa_devices:
            return Outcome(action, "noop", "the user has enabled an MFA device since the report")
        if facts.created is None:
            return Outcome(action, "noop", "the user has no console password any more: nothing to enforce")
        if action.dry_run:
            return Outcome(action, "dry_run", f"would attach {self._policy_arn}")
        arn = self._policy_arn
        self._call(
            "AttachUserPolicy", lambda: self._iam.attach_user_policy(UserName=action.user, PolicyArn=arn)
        )
        self._state.record_credential_state(
            account_id, action.user, CredentialType.MFA.value, CONSOLE, at={"enforced_at": now}
        )
        return Outcome(action, "applied", f"attached {arn}")

    def lift(
        self, account_id: str, user: str, now: datetime, *, dry_run: bool, action: Action | None = None
    ) -> Outcome:
        """Detach the require-MFA policy (if attached) and close the grace episode."""
        return self.lift_enforcement(account_id, user, now, dry_run=dry_run, action=action)[0]

    def lift_enforcement(
        self, account_id: str, user: str, now: datetime, *, dry_run: bool, action: Action | None = None
    ) -> tuple[Outcome, bool]:
        """`lift`, and whether the require-MFA policy was attached and is now detached (dry run: would be);
        False when only the grace episode was closed."""
        subject = action or Action(
            user=user,
            credential=CredentialType.MFA,
            action=ActionKind.LIFT,
            reason=Reason.MFA_ENABLED,
            due=now,
            dry_run=dry_run,
            detail="EnableMFADevice",
        )
        attached = self._attached(user)
        if dry_run:
            detail = "would detach the require-MFA policy" if attached else ""
            return Outcome(subject, "dry_run", detail), attached
        if attached and self._policy_arn is not None:
            arn = self._policy_arn
            try:
                self._call(
                    "DetachUserPolicy", lambda: self._iam.detach_user_policy(UserName=user, PolicyArn=arn)
                )
            except NotFound:
                attached = False
        self._state.record_credential_state(
            account_id,
            user,
            CredentialType.MFA.value,
            CONSOLE,
            at={"resolved_at": now},
            remove=("detected_at", "enforced_at"),
        )
        detail = f"detached {self._policy_arn}" if attached else "grace period closed"
        return Outcome(subject, "applied", detail), attached

    def _attached(self, user: str) -> bool:
        if self._policy_arn is None:
            return False
        try:
            pages = self._call(
                "ListAttachedUserPolicies",
                lambda: list(self._iam.get_paginator("list_attached_user_policies").paginate(UserName=user)),
            )
        except NotFound:
            return False
        return any(
            p.get("PolicyArn") == self._policy_arn for page in pages for p in page.get("AttachedPolicies", [])
        )

    def _delete_login_profile(
        self, account_id: str, action: Action, now: datetime, user: User | None
    ) -> Outcome:
        """Delete the console password, read before (live runs): skipped if the fresh facts void the
        reason (signed in since the plan; in `delete_login_profile` mode, MFA enabled). Any require-MFA
        enforcement of ours goes with the password (nothing is left to enforce)."""
        if action.dry_run:
            return Outcome(action, "dry_run", "would delete the console password (login profile)")
        facts = self._fresh.console(action.user)
        if facts.created is None:
            return Outcome(action, "noop", "the user has no console password any more")
        void = _voided(action, facts, user)
        if void is not None:
            log.info(
                "console password delete skipped: %s",
                void,
                extra={"account_id": account_id, "user": action.user, "reason": action.reason.value},
            )
            return Outcome(action, "skipped", void)
        attached = self._attached(action.user)
        try:
            self._call("DeleteLoginProfile", lambda: self._iam.delete_login_profile(UserName=action.user))
        except NotFound:
            return Outcome(action, "noop", "the user has no console password any more")
        self._state.record_credential_state(
            account_id, action.user, action.credential.value, CONSOLE, at={"deleted_at": now}
        )
        detail = "console password (login profile) deleted"
        if attached:
            lifted, _ = self.lift_enforcement(account_id, action.user, now, dry_run=False)
            detail += f"; require-MFA enforcement lifted ({lifted.detail})"
        return Outcome(action, "applied", detail)

    def _password_policy(self, action: Action) -> Outcome:
        try:
            current = self._call("GetAccountPasswordPolicy", self._iam.get_account_password_policy)[
                "PasswordPolicy"
            ]
            policy: PasswordPolicy | None = PasswordPolicy(
                minimum_length=current.get("MinimumPasswordLength"),
                require_symbols=bool(current.get("RequireSymbols")),
                require_numbers=bool(current.get("RequireNumbers")),
                require_uppercase=bool(current.get("RequireUppercaseCharacters")),
                require_lowercase=bool(current.get("RequireLowercaseCharacters")),
                allow_users_to_change=bool(current.get("AllowUsersToChangePassword")),
                max_age_days=current.get("MaxPasswordAge") if current.get("ExpirePasswords", True) else None,
                reuse_prevention=current.get("PasswordReusePrevention"),
            )
        except NotFound:
            policy = None
        target = enforced(policy, self._baseline)
        if action.dry_run:
            return Outcome(action, "dry_run", "would set the account password policy to the baseline")
        self._call(
            "UpdateAccountPasswordPolicy",
            lambda: self._iam.update_account_password_policy(
                MinimumPasswordLength=target.minimum_length or self._baseline.minimum_length,
                RequireSymbols=target.require_symbols,
                RequireNumbers=target.require_numbers,
                RequireUppercaseCharacters=target.require_uppercase,
                RequireLowercaseCharacters=target.require_lowercase,
                AllowUsersToChangePassword=target.allow_users_to_change,
                MaxPasswordAge=target.max_age_days or self._baseline.max_age_days,
                PasswordReusePrevention=target.reuse_prevention or self._baseline.reuse_prevention,
            ),
        )
        return Outcome(action, "applied", "account password policy set to the baseline")

    def _other(self, account_id: str, action: Action, now: datetime) -> Outcome:
        """SSH keys, service-specific credentials, signing certificates: set Inactive, or delete one that
        is still inactive (an active one is never deleted)."""
        cred_id, user, kind = action.key_id, action.user, action.credential
        if not cred_id:
            return Outcome(action, "failed", f"{kind.value}: no credential id")
        deactivate = action.action is ActionKind.DEACTIVATE
        if action.dry_run:
            return Outcome(action, "dry_run", "would set it Inactive" if deactivate else "would delete it")
        try:
            if deactivate:
                self._set_inactive(kind, user, cred_id)
            else:
                if self._status(kind, user, cred_id) != "Inactive":
                    return Outcome(action, "failed", "refused: the credential is active or gone")
                self._delete_other(kind, user, cred_id)
        except NotFound:
            return Outcome(action, "noop", "the credential no longer exists")
        field = "enforced_at" if deactivate else "deleted_at"
        self._state.record_credential_state(account_id, user, kind.value, cred_id, at={field: now})
        return Outcome(action, "applied", "set Inactive" if deactivate else "deleted")

    def _set_inactive(self, kind: CredentialType, user: str, cred_id: str) -> None:
        iam = self._iam
        if kind is CredentialType.SSH_KEY:
            self._call(
                "UpdateSSHPublicKey",
                lambda: iam.update_ssh_public_key(UserName=user, SSHPublicKeyId=cred_id, Status="Inactive"),
            )
        elif kind is CredentialType.SERVICE_CREDENTIAL:
            self._call(
                "UpdateServiceSpecificCredential",
                lambda: iam.update_service_specific_credential(
                    UserName=user, ServiceSpecificCredentialId=cred_id, Status="Inactive"
                ),
            )
        else:
            self._call(
                "UpdateSigningCertificate",
                lambda: iam.update_signing_certificate(
                    UserName=user, CertificateId=cred_id, Status="Inactive"
                ),
            )

    def _delete_other(self, kind: CredentialType, user: str, cred_id: str) -> None:
        iam = self._iam
        if kind is CredentialType.SSH_KEY:
            self._call(
                "DeleteSSHPublicKey", lambda: iam.delete_ssh_public_key(UserName=user, SSHPublicKeyId=cred_id)
            )
        elif kind is CredentialType.SERVICE_CREDENTIAL:
            self._call(
                "DeleteServiceSpecificCredential",
                lambda: iam.delete_service_specific_credential(
                    UserName=user, ServiceSpecificCredentialId=cred_id
                ),
            )
        else:
            raise NotFound("iam:Delete", "NotSupported", "signing certificates are only set Inactive")

    def _status(self, kind: CredentialType, user: str, cred_id: str) -> str | None:
        """The credential's status right now (re-read before deleting, like access keys)."""
        listings = CredentialInventory(self._iam)
        if kind is CredentialType.SSH_KEY:
            return next((k.status.value for k in listings.ssh_public_keys(user) if k.key_id == cred_id), None)
        return next(
            (c.status.value for c in listings.service_credentials(user) if c.credential_id == cred_id), None
        )

    def _call(self, operation: str, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except ClientError as error:
            raise translate(error, f"iam:{operation}") from None
        except BotoCoreError as error:
            raise AwsError(f"iam:{operation}", type(error).__name__) from None


def _voided(action: Action, facts: ConsoleFacts, user: User | None) -> str | None:
    """Why the fresh facts void a planned console-password deletion, or None."""
    if action.reason is Reason.CONSOLE_NO_MFA:  # delete_login_profile mode: only MFA voids it
        return "an MFA device was enabled since the plan" if facts.mfa_devices else None
    planned = user.login_profile if user is not None else None
    if planned is None:
        return None
    if used_since(facts.last_used, planned.last_used):
        assert facts.last_used is not None
        return f"used since the plan: {facts.last_used:%Y-%m-%d %H:%M}Z"
    return None


class MfaEnabledHook:
    """The event handler's port: `EnableMFADevice` for a user → lift the enforcement at once, audited."""

    def __init__(self, actions: CredentialActions, state: CredentialStatePort, *, dry_run: bool) -> None:
        self._actions = actions
        self._state = state
        self._dry_run = dry_run

    def mfa_enabled(self, account_id: str, user: str, at: datetime) -> MfaLift:
        run_id = f"event-{at:%Y%m%dT%H%M%SZ}"
        probe = Action(
            user=user,
            credential=CredentialType.MFA,
            action=ActionKind.LIFT,
            reason=Reason.MFA_ENABLED,
            due=at,
            dry_run=self._dry_run,
            detail="EnableMFADevice event",
        )
        self._state.write_audit(
            account_id, AuditEntry(at=at, phase="intent", run_id=run_id, action=probe.as_row())
        )
        try:
            outcome, detached = self._actions.lift_enforcement(
                account_id, user, at, dry_run=self._dry_run, action=probe
            )
        except AwsError as error:
            outcome, detached = Outcome(probe, "failed", str(error)), False
        self._state.write_audit(
            account_id,
            AuditEntry(
                at=at,
                phase="result",
                run_id=run_id,
                action=probe.as_row(),
                outcome=outcome.status,
                detail=outcome.detail,
            ),
        )
        return MfaLift(outcome.status, detached=detached)
