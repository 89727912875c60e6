"""Per-user and account-level credential listings the credential report does not cover.

Each call is paginated and counted; the lifecycle calls them only for credential types enabled in the
settings (they cost one call per user each), and MFA/login-profile lookups only for users that need them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

import boto3
from botocore.exceptions import ClientError

from credlife.aws.calls import ApiCallCounter
from credlife.aws.errors import NotFound, translate
from credlife.domain.credentials import (
    LoginProfileState,
    ServerCertificate,
    ServiceCredential,
    SigningCertificate,
    SshPublicKey,
)
from credlife.domain.models import KeyStatus, MfaDevice
from credlife.domain.password_policy import PasswordPolicy

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient

REQUIRED_ACTIONS: Final = (
    "iam:ListSSHPublicKeys",
    "iam:ListServiceSpecificCredentials",
    "iam:ListSigningCertificates",
    "iam:ListServerCertificates",
    "iam:ListMFADevices",
    "iam:GetLoginProfile",
    "iam:GetAccountPasswordPolicy",
)

#: The listings the scheduled lifecycle calls (the per-user types only when enabled in the policy).
SCAN_ACTIONS: Final = (
    "iam:GetLoginProfile",
    "iam:GetAccountPasswordPolicy",
    "iam:ListServerCertificates",
    "iam:ListSSHPublicKeys",
    "iam:ListServiceSpecificCredentials",
    "iam:ListSigningCertificates",
)

_T = TypeVar("_T")


class CredentialInventory:
    def __init__(self, iam_client: IAMClient | None = None, *, counter: ApiCallCounter | None = None) -> None:
        self._iam: IAMClient = iam_client if iam_client is not None else boto3.client("iam")
        if counter is not None:
            counter.attach(self._iam)

    def ssh_public_keys(self, user: str) -> tuple[SshPublicKey, ...]:
        return tuple(
            SshPublicKey(item["SSHPublicKeyId"], KeyStatus(item["Status"]), _utc(item["UploadDate"]))
            for item in self._pages(
                "ListSSHPublicKeys", "list_ssh_public_keys", "SSHPublicKeys", UserName=user
            )
        )

    def service_credentials(self, user: str) -> tuple[ServiceCredential, ...]:
        # Not paginated by IAM: one call returns every credential of the user.
        response = self._call(
            "ListServiceSpecificCredentials",
            lambda: self._iam.list_service_specific_credentials(UserName=user),
        )
        return tuple(
            ServiceCredential(
                item["ServiceSpecificCredentialId"],
                item["ServiceName"],
                KeyStatus(item["Status"]),
                _utc(item["CreateDate"]),
            )
            for item in response.get("ServiceSpecificCredentials", [])
        )

    def signing_certificates(self, user: str) -> tuple[SigningCertificate, ...]:
        return tuple(
            SigningCertificate(item["CertificateId"], KeyStatus(item["Status"]), _utc(item["UploadDate"]))
            for item in self._pages(
                "ListSigningCertificates", "list_signing_certificates", "Certificates", UserName=user
            )
        )

    def server_certificates(self) -> tuple[ServerCertificate, ...]:
        return tuple(
            ServerCertificate(
                name=item["ServerCertificateName"],
                certificate_id=item["ServerCertificateId"],
                arn=item["Arn"],
                expiration=_utc(item["Expiration"]),
                uploaded=_utc(item["UploadDate"]) if item.get("UploadDate") else None,
            )
            for item in self._pages(
                "ListServerCertificates", "list_server_certificates", "ServerCertificateMetadataList"
            )
        )

    def mfa_devices(self, user: str) -> tuple[MfaDevice, ...]:
        return tuple(
            MfaDevice(item["SerialNumber"], _utc(item["EnableDate"]) if item.get("EnableDate") else None)
            for item in self._pages("ListMFADevices", "list_mfa_devices", "MFADevices", UserName=user)
        )

    def login_profile(self, user: str) -> LoginProfileState | None:
        """None when the user has no console password."""
        try:
            profile = self._call("GetLoginProfile", lambda: self._iam.get_login_profile(UserName=user))[
                "LoginProfile"
            ]
        except NotFound:
            return None
        return LoginProfileState(_utc(profile["CreateDate"]), bool(profile.get("PasswordResetRequired")))

    def password_policy(self) -> PasswordPolicy | None:
        """None when the account has no password policy (IAM answers NoSuchEntity)."""
        try:
            policy = self._call("GetAccountPasswordPolicy", self._iam.get_account_password_policy)[
                "PasswordPolicy"
            ]
        except NotFound:
            return None
        return PasswordPolicy(
            minimum_length=policy.get("MinimumPasswordLength"),
            require_symbols=bool(policy.get("RequireSymbols")),
            require_numbers=bool(policy.get("RequireNumbers")),
            require_uppercase=bool(policy.get("RequireUppercaseCharacters")),
            require_lowercase=bool(policy.get("RequireLowercaseCharacters")),
            allow_users_to_change=bool(policy.get("AllowUsersToChangePassword")),
            max_age_days=policy.get("MaxPasswordAge") if policy.get("ExpirePasswords", True) else None,
            reuse_prevention=policy.get("PasswordReusePrevention"),
        )

    # -- helpers -----------------------------------------------------------------------------------

    def _pages(self, operation: str, method: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        paginator = self._iam.get_paginator(method)  # type: ignore[call-overload]
        pages = self._call(operation, lambda: list(paginator.paginate(**params)))
        for page in pages:
            yield from page.get(key, [])

    def _call(self, operation: str, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except ClientError as error:
            raise translate(error, operation) from None


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
