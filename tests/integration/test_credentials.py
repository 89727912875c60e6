"""Per-user credential listings against moto; service-specific credentials through botocore's Stubber
because moto does not implement them (the stub uses IAM's real request and response shapes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.iam.models import iam_backends

from credlife.aws.calls import ApiCallCounter
from credlife.aws.credentials import REQUIRED_ACTIONS, CredentialInventory
from credlife.aws.errors import AccessDenied
from credlife.domain.models import KeyStatus
from credlife.domain.password_policy import PasswordPolicy

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient

ACCOUNT = "123456789012"  # moto's default account
SSH_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDlhDoNr0WyH3mdtCt6BqDnDRRWb3BSWs9GSoBwv1hvKRPSUbdG8OcYcIDOPrm2d"
    "8ufXAyqYQUsjLdGiUEEjIsHqpmpsN1oUBpzIpo7ajV8tDyvGxQxcKR2bXzUH8VDGVGzjULVDVHvVWqjn4j0n5Y2WGMQDrbKRRc"
    "6U2W2cbc7Smkh1NzEHUq6MCMxhrAB1bSXt0wWsJFajfv6Mm1a1JaHCtfvFyfcSZyl9lJ9IFi8hVGfXAqSNTVkFhV4nUFTEAmoh"
    "PVQ0cmbaK3lxzkIk3NunVJ0nxaOSuvygWFrqOCpUAuwzDBZvWr6E3Bmd5LcAJvvfLzj2D4Qvg0nWtuZN user@example"
)


@pytest.fixture
def iam() -> Iterator[IAMClient]:
    with mock_aws():
        client = boto3.client("iam", region_name="us-east-1")
        client.create_user(UserName="dev+git@example.com")
        yield client


def test_ssh_keys_signing_certificates_and_mfa_devices_are_listed(iam: IAMClient) -> None:
    # Given a user with an SSH key (then set inactive), a signing certificate and an enabled virtual MFA
    client = iam
    user = "dev+git@example.com"
    ssh = client.upload_ssh_public_key(UserName=user, SSHPublicKeyBody=SSH_KEY)["SSHPublicKey"]
    client.update_ssh_public_key(UserName=user, SSHPublicKeyId=ssh["SSHPublicKeyId"], Status="Inactive")
    serial = client.create_virtual_mfa_device(VirtualMFADeviceName="dev")["VirtualMFADevice"]["SerialNumber"]
    client.enable_mfa_device(
        UserName=user, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    counter = ApiCallCounter()
    inventory = CredentialInventory(client, counter=counter)
    # When listed
    keys = inventory.ssh_public_keys(user)
    devices = inventory.mfa_devices(user)
    certs = inventory.signing_certificates(user)
    # Then each comes back typed, with aware UTC dates, one call each
    assert [(k.key_id, k.status) for k in keys] == [(ssh["SSHPublicKeyId"], KeyStatus.INACTIVE)]
    assert keys[0].uploaded.tzinfo is UTC
    assert [d.serial for d in devices] == [serial]
    assert devices[0].enabled is not None
    assert certs == ()
    assert counter.snapshot() == {
        "iam:ListMFADevices": 1,
        "iam:ListSSHPublicKeys": 1,
        "iam:ListSigningCertificates": 1,
    }


def test_login_profile_reports_a_pending_reset_and_none_without_password(iam: IAMClient) -> None:
    client = iam
    # moto's CreateLoginProfile ignores PasswordResetRequired (and UpdateLoginProfile without a password drops
    # the password): the flag is set on moto's stored user instead
    client.create_login_profile(UserName="dev+git@example.com", Password="x" * 20)
    iam_backends[ACCOUNT]["global"].users["dev+git@example.com"].password_reset_required = True
    client.create_user(UserName="api-only")
    inventory = CredentialInventory(client)
    profile = inventory.login_profile("dev+git@example.com")
    assert profile is not None
    assert profile.reset_required is True
    assert inventory.login_profile("api-only") is None


def test_password_policy_absent_then_read(iam: IAMClient) -> None:
    client = iam
    inventory = CredentialInventory(client)
    # Given no password policy: None (IAM's NoSuchEntity is not an error here)
    assert inventory.password_policy() is None
    # When one is set
    client.update_account_password_policy(
        MinimumPasswordLength=12, RequireSymbols=True, MaxPasswordAge=180, PasswordReusePrevention=5
    )
    # Then it is read faithfully
    assert inventory.password_policy() == PasswordPolicy(
        minimum_length=12,
        require_symbols=True,
        require_numbers=False,
        require_uppercase=False,
        require_lowercase=False,
        allow_users_to_change=False,
        max_age_days=180,
        reuse_prevention=5,
    )


def test_server_certificates_are_listed_with_their_expiry(iam: IAMClient) -> None:
    # moto answers a fixed Expiration (2012-05-08); expiry rules are tested on pure inputs
    client = iam
    client.upload_server_certificate(
        ServerCertificateName="web", CertificateBody="-----BEGIN CERTIFICATE-----", PrivateKey="k"
    )
    (cert,) = CredentialInventory(client).server_certificates()
    assert cert.name == "web"
    assert cert.expiration == datetime(2012, 5, 8, 1, 2, 3, 4000, tzinfo=UTC)


def test_service_specific_credentials_with_stubber() -> None:
    # moto does not implement ListServiceSpecificCredentials: the Stubber checks our request against IAM's
    # model and answers with the documented response shape
    client = boto3.client("iam", region_name="us-east-1")
    inventory = CredentialInventory(client)
    with Stubber(client) as stub:
        stub.add_response(
            "list_service_specific_credentials",
            {
                "ServiceSpecificCredentials": [
                    {
                        "UserName": "dev",
                        "Status": "Active",
                        "ServiceUserName": "dev-at-123456789012",
                        "CreateDate": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                        "ServiceSpecificCredentialId": "ACCAEXAMPLE123EXAMPLE",
                        "ServiceName": "codecommit.amazonaws.com",
                    }
                ]
            },
            {"UserName": "dev"},
        )
        stub.add_client_error(
            "list_service_specific_credentials", service_error_code="AccessDenied", http_status_code=403
        )
        (credential,) = inventory.service_credentials("dev")
        with pytest.raises(AccessDenied):
            inventory.service_credentials("dev")
    assert (credential.credential_id, credential.service, credential.status) == (
        "ACCAEXAMPLE123EXAMPLE",
        "codecommit.amazonaws.com",
        KeyStatus.ACTIVE,
    )


def test_declared_actions_cover_every_call(iam: IAMClient) -> None:
    client = iam
    counter = ApiCallCounter()
    inventory = CredentialInventory(client, counter=counter)
    user = "dev+git@example.com"
    inventory.ssh_public_keys(user)
    inventory.signing_certificates(user)
    inventory.server_certificates()
    inventory.mfa_devices(user)
    inventory.login_profile(user)
    inventory.password_policy()
    called = set(counter.snapshot())
    assert called <= set(REQUIRED_ACTIONS)
    assert set(REQUIRED_ACTIONS) - called == {"iam:ListServiceSpecificCredentials"}  # stubbed above
