"""What one scan knows about an account: IAM facts plus the lifecycle state the project recorded earlier.

Plain frozen dataclasses (not pydantic) because snapshots of 5,000 users are built on every run and the
planner must stay fast; validation happens at the edges (inventory parsing, state store decoding).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from credlife.domain.credentials import (
        ServerCertificate,
        ServiceCredential,
        SigningCertificate,
        SshPublicKey,
    )
    from credlife.domain.password_policy import PasswordPolicy
    from credlife.domain.root import RootAccount


class KeyStatus(StrEnum):
    ACTIVE = "Active"
    INACTIVE = "Inactive"


class CredentialType(StrEnum):
    ACCESS_KEY = "access_key"
    PASSWORD = "password"  # noqa: S105 - a credential type, not a secret
    MFA = "mfa"
    USER = "user"
    ROOT = "root"
    PASSWORD_POLICY = "password_policy"  # noqa: S105 - a credential type, not a secret
    SERVER_CERTIFICATE = "server_certificate"
    SSH_KEY = "ssh_key"
    SERVICE_CREDENTIAL = "service_credential"
    SIGNING_CERTIFICATE = "signing_certificate"


@dataclass(frozen=True, slots=True)
class AccessKey:
    """One access key. `key_id` is None while only the credential report is known (it has no key ids);
    the key is then identified by its creation time, which is unique per user to the second."""

    created: datetime
    status: KeyStatus
    last_used: datetime | None = None
    key_id: str | None = None

    @property
    def active(self) -> bool:
        return self.status is KeyStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class LoginProfile:
    created: datetime
    last_used: datetime | None = None


@dataclass(frozen=True, slots=True)
class MfaDevice:
    serial: str
    enabled: datetime | None = None


@dataclass(frozen=True, slots=True)
class User:
    name: str
    arn: str
    path: str = "/"
    created: datetime | None = None
    user_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    access_keys: tuple[AccessKey, ...] = ()
    login_profile: LoginProfile | None = None
    mfa_active: bool = False
    mfa_devices: tuple[MfaDevice, ...] = ()
    #: True once `ListAccessKeys` filled in the key ids.
    keys_resolved: bool = False
    #: `GetLoginProfile`'s PasswordResetRequired, looked up only for console passwords never used (None:
    #: not looked up).
    password_reset_required: bool | None = None
    #: ARNs of the managed policies attached to the user (from the authorization details, no extra call).
    attached_policies: tuple[str, ...] = ()
    #: Names of the user's inline policies and groups, and the ARN of its permissions boundary (from the
    #: authorization details, no extra call).
    inline_policies: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    permissions_boundary: str | None = None
    #: Listed per user only when their type is enabled in the policy (None: not listed).
    ssh_keys: tuple[SshPublicKey, ...] | None = None
    service_credentials: tuple[ServiceCredential, ...] | None = None
    signing_certificates: tuple[SigningCertificate, ...] | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """A warning the project recorded (or, in dry-run, would have sent) about an upcoming action on one
    credential. `sent_at` is when it was decided; `delivered_at` when a channel accepted it for the owner
    (None: still waiting in the outbox). Only a delivered notice starts the minimum-notice clock."""

    warns_of: str  # ActionKind value of the action announced
    stage: str  # e.g. "14d", "7d", "1d"
    sent_at: datetime
    deadline: datetime
    dry_run: bool = False
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """Persisted lifecycle state of one access key: the planner's memory between runs.

    Identified by (user, key creation time) because the credential report has no key ids."""

    user: str
    key_created: datetime
    key_id: str | None = None
    notices: tuple[Notice, ...] = ()
    rotated_at: datetime | None = None
    replacement_key_id: str | None = None
    replacement_created: datetime | None = None
    deactivated_at: datetime | None = None
    deactivation_reason: str | None = None
    first_seen_inactive: datetime | None = None
    #: When a scan first saw the replacement key used (the start of the switch-over; None: not seen yet).
    replacement_first_used: datetime | None = None
    #: When a scan first saw the key active again after the project deactivated it: the owner's "still
    #: needed". Notices before it belong to an ended episode.
    reactivated_at: datetime | None = None

    @property
    def reactivated(self) -> bool:
        """Active again after our deactivation, and that re-activation already recorded."""
        return self.reactivated_at is not None and (
            self.deactivated_at is None or self.reactivated_at >= self.deactivated_at
        )


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """Persisted lifecycle state of one credential other than an access key (console password, MFA
    enforcement, ...), keyed by (user, credential type, credential id). `detected_at` starts a grace period
    (e.g. a console user without MFA); `resolved_at` ends it (e.g. MFA enabled)."""

    user: str
    credential: str  # CredentialType value
    credential_id: str
    notices: tuple[Notice, ...] = ()
    detected_at: datetime | None = None
    resolved_at: datetime | None = None
    enforced_at: datetime | None = None
    deleted_at: datetime | None = None


def cred_ref(user: str, credential: str, credential_id: str) -> str:
    """Identity of a non-access-key credential record inside an account."""
    return f"{credential}|{user}|{credential_id}"


def key_ref(user: str, created: datetime) -> str:
    """Stable identity of a key inside an account, usable before its id is known. IAM reports creation
    times to the second, in UTC; sub-seconds (moto) and other offsets are normalised away."""
    return f"{user}|{created.astimezone(UTC).replace(microsecond=0).isoformat()}"


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What one scan knows about the account itself. `password_policy_known` is False when the policy
    could not be read (then no drift is claimed)."""

    root: RootAccount | None = None
    password_policy: PasswordPolicy | None = None
    password_policy_known: bool = False
    server_certificates: tuple[ServerCertificate, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    account_id: str
    taken_at: datetime
    users: tuple[User, ...]
    #: Lifecycle records keyed by `key_ref(user, key_created)`.
    records: Mapping[str, KeyRecord] = field(default_factory=dict)
    #: Users whose rotation was requested now ("rotate now"), mapped to who asked.
    rotate_now: Mapping[str, str] = field(default_factory=dict)
    #: Records of the other credentials, keyed by `cred_ref(user, credential, credential_id)`.
    credential_records: Mapping[str, CredentialRecord] = field(default_factory=dict)
    #: Account-level facts (root row, password policy, server certificates); None when not inventoried.
    account: AccountFacts | None = None

    def record_for(self, user: str, key: AccessKey) -> KeyRecord | None:
        return self.records.get(key_ref(user, key.created))
