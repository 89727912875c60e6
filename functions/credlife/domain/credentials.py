"""The credentials an IAM user can hold besides access keys and the console password: what the per-user
list calls return (the credential report does not cover them). Used only when their type is enabled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from credlife.domain.models import KeyStatus


@dataclass(frozen=True, slots=True)
class SshPublicKey:
    """An SSH public key for CodeCommit. IAM records no last-used date: age rules only."""

    key_id: str
    status: KeyStatus
    uploaded: datetime


@dataclass(frozen=True, slots=True)
class ServiceCredential:
    """A service-specific credential (HTTPS Git for CodeCommit, Keyspaces, Bedrock). No last-used date."""

    credential_id: str
    service: str
    status: KeyStatus
    created: datetime


@dataclass(frozen=True, slots=True)
class SigningCertificate:
    certificate_id: str
    status: KeyStatus
    uploaded: datetime


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """An account-level server certificate stored in IAM; alerts before it expires."""

    name: str
    certificate_id: str
    arn: str
    expiration: datetime
    uploaded: datetime | None = None


@dataclass(frozen=True, slots=True)
class LoginProfileState:
    """What `GetLoginProfile` adds to the credential report: whether a password reset is pending."""

    created: datetime
    reset_required: bool
