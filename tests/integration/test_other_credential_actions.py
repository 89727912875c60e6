"""Deactivate and delete SSH public keys (moto), service-specific credentials and signing certificates
(botocore Stubber: moto does not implement UpdateServiceSpecificCredential/DeleteServiceSpecificCredential
or ListServiceSpecificCredentials, and its UploadSigningCertificate wants a parseable certificate; the
Stubber checks our requests against IAM's real model and answers with the documented shapes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from credlife.aws.credential_executor import CredentialActions
from credlife.domain.actions import Action, ActionKind, Reason
from credlife.domain.models import CredentialType, Notice
from tests.integration.test_credentials import SSH_KEY

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"


class MemoryState:
    def __init__(self) -> None:
        self.states: list[tuple[str, str, str, dict[str, datetime]]] = []

    def record_credential_notice(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def record_credential_state(
        self, account_id: str, user: str, credential: str, credential_id: str, *, at: Any, remove: Any = ()
    ) -> None:
        self.states.append((user, credential, credential_id, dict(at)))

    def write_audit(self, account_id: str, entry: Any) -> None:
        pass


def act(kind: ActionKind, credential: CredentialType, cred_id: str, *, dry_run: bool = False) -> Action:
    reason = Reason.CREDENTIAL_AGED if kind is ActionKind.DEACTIVATE else Reason.INACTIVE_CREDENTIAL_CLEANUP
    return Action("dev", credential, kind, reason, NOW, key_id=cred_id, dry_run=dry_run)


@pytest.fixture
def iam() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("iam", region_name="us-east-1")
        client.create_user(UserName="dev")
        yield client


def test_ssh_key_set_inactive_then_deleted(iam: Any) -> None:
    key_id = iam.upload_ssh_public_key(UserName="dev", SSHPublicKeyBody=SSH_KEY)["SSHPublicKey"][
        "SSHPublicKeyId"
    ]
    state = MemoryState()
    actions = CredentialActions(iam, state=state, require_mfa_policy_arn=None)
    # an active key is never deleted
    assert (
        actions.dispatch(ACCOUNT, act(ActionKind.DELETE, CredentialType.SSH_KEY, key_id), NOW).status
        == "failed"
    )
    # dry-run changes nothing
    assert (
        actions.dispatch(
            ACCOUNT, act(ActionKind.DEACTIVATE, CredentialType.SSH_KEY, key_id, dry_run=True), NOW
        ).status
        == "dry_run"
    )
    assert iam.list_ssh_public_keys(UserName="dev")["SSHPublicKeys"][0]["Status"] == "Active"
    assert (
        actions.dispatch(ACCOUNT, act(ActionKind.DEACTIVATE, CredentialType.SSH_KEY, key_id), NOW).status
        == "applied"
    )
    assert iam.list_ssh_public_keys(UserName="dev")["SSHPublicKeys"][0]["Status"] == "Inactive"
    assert (
        actions.dispatch(ACCOUNT, act(ActionKind.DELETE, CredentialType.SSH_KEY, key_id), NOW).status
        == "applied"
    )
    assert iam.list_ssh_public_keys(UserName="dev")["SSHPublicKeys"] == []
    assert [s[3] for s in state.states] == [{"enforced_at": NOW}, {"deleted_at": NOW}]


def test_service_specific_credential_with_stubber() -> None:
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    actions = CredentialActions(client, state=MemoryState(), require_mfa_policy_arn=None)
    with Stubber(client) as stub:
        stub.add_response(
            "update_service_specific_credential",
            {},
            {"UserName": "dev", "ServiceSpecificCredentialId": "ACCAEXAMPLE123EXAMPLE", "Status": "Inactive"},
        )
        stub.add_response(
            "list_service_specific_credentials",
            {
                "ServiceSpecificCredentials": [
                    {
                        "UserName": "dev",
                        "Status": "Inactive",
                        "ServiceUserName": "dev-at-123456789012",
                        "CreateDate": datetime(2026, 1, 2, tzinfo=UTC),
                        "ServiceSpecificCredentialId": "ACCAEXAMPLE123EXAMPLE",
                        "ServiceName": "codecommit.amazonaws.com",
                    }
                ]
            },
            {"UserName": "dev"},
        )
        stub.add_response(
            "delete_service_specific_credential",
            {},
            {"UserName": "dev", "ServiceSpecificCredentialId": "ACCAEXAMPLE123EXAMPLE"},
        )
        cred = "ACCAEXAMPLE123EXAMPLE"
        assert (
            actions.dispatch(
                ACCOUNT, act(ActionKind.DEACTIVATE, CredentialType.SERVICE_CREDENTIAL, cred), NOW
            ).status
            == "applied"
        )
        assert (
            actions.dispatch(
                ACCOUNT, act(ActionKind.DELETE, CredentialType.SERVICE_CREDENTIAL, cred), NOW
            ).status
            == "applied"
        )
        stub.assert_no_pending_responses()


def test_signing_certificate_set_inactive_with_stubber() -> None:
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    actions = CredentialActions(client, state=MemoryState(), require_mfa_policy_arn=None)
    with Stubber(client) as stub:
        stub.add_response(
            "update_signing_certificate",
            {},
            {"UserName": "dev", "CertificateId": "CERTEXAMPLE1234567890ABCDEF", "Status": "Inactive"},
        )
        row = act(ActionKind.DEACTIVATE, CredentialType.SIGNING_CERTIFICATE, "CERTEXAMPLE1234567890ABCDEF")
        assert actions.dispatch(ACCOUNT, row, NOW).status == "applied"
        stub.assert_no_pending_responses()


def test_warn_records_the_notice_under_the_credential_id(iam: Any) -> None:
    recorded: list[tuple[str, str, Notice]] = []

    class Recorder(MemoryState):
        def record_credential_notice(
            self, account_id: str, user: str, credential: str, credential_id: str, notice: Notice, **_: Any
        ) -> bool:
            recorded.append((credential, credential_id, notice))
            return True

    actions = CredentialActions(iam, state=Recorder(), require_mfa_policy_arn=None)
    warn = Action(
        "dev",
        CredentialType.SSH_KEY,
        ActionKind.WARN,
        Reason.CREDENTIAL_AGED,
        NOW,
        key_id="APKA1",
        warns_of=ActionKind.DEACTIVATE,
        stage="14d",
        deadline=NOW,
    )
    assert actions.dispatch(ACCOUNT, warn, NOW).status == "applied"
    assert [(c, i, n.stage) for c, i, n in recorded] == [("ssh_key", "APKA1", "14d")]
