"""The key vault against moto's Secrets Manager: the hand-over secret, who may read it, and no leaks."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from unittest import mock

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from moto import mock_aws

from credlife.aws.calls import ApiCallCounter
from credlife.aws.errors import AwsError
from credlife.aws.secrets import REQUIRED_ACTIONS, KeyVault
from credlife.domain.models import User

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
CREATED = datetime(2025, 3, 1, 12, 0, 1, tzinfo=UTC)
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzz"
AUTOMATION = f"arn:aws:iam::{ACCOUNT}:role/credlife-scanner"
VERSION = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def sm() -> Iterator[SecretsManagerClient]:
    with mock_aws():
        yield boto3.client("secretsmanager")


@pytest.fixture
def counter() -> ApiCallCounter:
    return ApiCallCounter()


@pytest.fixture
def vault(sm: SecretsManagerClient, counter: ApiCallCounter) -> KeyVault:
    return KeyVault(sm, automation_principal_arn=AUTOMATION, counter=counter)


def user(name: str = "alice") -> User:
    return User(name=name, arn=f"arn:aws:iam::{ACCOUNT}:user/team/{name}")


def client_error(code: str, operation: str = "CreateSecret") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)


def test_a_new_key_is_stored_as_the_documented_json(vault: KeyVault, sm: SecretsManagerClient) -> None:
    # Given a user without a secret
    # When a new key is stored for them
    name = vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, CREATED)
    # Then the secret holds exactly UserName, AccessKeyId, SecretAccessKey and an ISO-8601 CreateDate
    value = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    assert value == {
        "UserName": "alice",
        "AccessKeyId": "AKIANEWKEY0000000002",
        "SecretAccessKey": SECRET,
        "CreateDate": "2025-03-01T12:00:01+00:00",
    }
    assert datetime.fromisoformat(value["CreateDate"]) == CREATED
    assert name == "credlife/access-keys/alice"


def test_the_secret_is_tagged_for_its_user(vault: KeyVault, sm: SecretsManagerClient) -> None:
    # Given a user whose name holds characters secret names do not allow
    # When a new key is stored
    name = vault.store_new_key(user("a,b_c"), "AKIANEWKEY0000000002", SECRET, CREATED)
    # Then the secret's name is escaped but its tags name the real user and the project
    description = sm.describe_secret(SecretId=name)
    assert name == "credlife/access-keys/a_cb__c"
    assert {t["Key"]: t["Value"] for t in description["Tags"]} == {
        "credlife:user": "a,b_c",
        "managed-by": "credential-lifecycle",
    }


def test_only_the_owner_and_the_automation_may_read(vault: KeyVault, sm: SecretsManagerClient) -> None:
    # Given a stored key
    name = vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, CREATED)
    # When the secret's resource policy is read
    policy = json.loads(sm.get_resource_policy(SecretId=name)["ResourcePolicy"])
    # Then it allows reading to the owner and the automation, and denies GetSecretValue to everyone else
    allow, deny = policy["Statement"]
    readers = [user().arn, AUTOMATION]
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"AWS": readers}
    assert sorted(allow["Action"]) == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    assert deny["Effect"] == "Deny"
    assert deny["Action"] == "secretsmanager:GetSecretValue"
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": readers}}


def test_without_an_automation_principal_only_the_owner_reads(sm: SecretsManagerClient) -> None:
    # Given a vault that knows no automation principal
    vault = KeyVault(sm)
    # When a key is stored
    name = vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, CREATED)
    # Then the owner is the only reader
    policy = json.loads(sm.get_resource_policy(SecretId=name)["ResourcePolicy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": [user().arn]}


def test_a_second_key_becomes_a_new_version(vault: KeyVault, sm: SecretsManagerClient) -> None:
    # Given a user whose secret already exists from an earlier rotation
    vault.store_new_key(user(), "AKIAFIRSTKEY00000001", SECRET, CREATED)
    # When the next key is stored
    name = vault.store_new_key(user(), "AKIASECONDKEY0000002", "another-secret", CREATED)
    # Then the same secret holds the new key as its current version
    current = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    assert current["AccessKeyId"] == "AKIASECONDKEY0000002"
    assert len(sm.list_secrets()["SecretList"]) == 1
    versions = sm.list_secret_version_ids(SecretId=name)["Versions"]
    assert len(versions) == 2


def test_a_configured_kms_key_encrypts_the_secret(sm: SecretsManagerClient) -> None:
    # Given a vault configured with the project's KMS key
    kms_key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    vault = KeyVault(sm, kms_key_id=kms_key)
    # When a key is stored
    name = vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, CREATED)
    # Then the secret is encrypted with that key
    assert sm.describe_secret(SecretId=name)["KmsKeyId"] == kms_key


def test_failures_carry_no_secret(vault: KeyVault, sm: SecretsManagerClient) -> None:
    # Given Secrets Manager failing on create
    with (
        mock.patch.object(sm, "create_secret", side_effect=client_error("InternalServiceError")),
        pytest.raises(AwsError) as caught,
    ):
        # When a key is stored
        vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, CREATED)
    # Then the project's error names the operation, and neither it nor its traceback holds the secret
    assert caught.value.operation == "secretsmanager:CreateSecret"
    assert caught.value.code == "InternalServiceError"
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    rendered = "".join(traceback.format_exception(caught.value))
    assert SECRET not in rendered
    assert SECRET not in repr(caught.value)


def test_no_secret_in_any_log_even_at_debug(vault: KeyVault, caplog: pytest.LogCaptureFixture) -> None:
    # Given every logger (botocore's wire logs included) at DEBUG
    caplog.set_level(logging.DEBUG)
    # When a key is stored, then updated
    vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, CREATED)
    vault.store_new_key(user(), "AKIANEWKEY0000000003", SECRET, CREATED)
    # Then some records were captured, and none of them, messages or extra fields, holds the secret
    assert caplog.records
    for record in caplog.records:
        assert SECRET not in record.getMessage(), record.name
        assert SECRET not in repr(vars(record)), record.name


def test_only_the_declared_actions_are_called(vault: KeyVault, counter: ApiCallCounter) -> None:
    # Given a first and a second rotation for a user, the second withdrawn again
    vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, CREATED)
    name = vault.store_new_key(user(), "AKIANEWKEY0000000003", SECRET, CREATED, version=VERSION)
    vault.withdraw("alice", name, VERSION)
    # When the calls are counted
    called = set(counter.snapshot())
    # Then each is declared (TagResource is declared for CreateSecret's tags)
    assert called <= set(REQUIRED_ACTIONS)
    assert called == set(REQUIRED_ACTIONS) - {"secretsmanager:TagResource"}


def test_a_naive_creation_date_is_refused(vault: KeyVault) -> None:
    # Given a creation date without a time zone
    naive: Any = datetime(2025, 3, 1)
    # When it is stored
    # Then the vault refuses before calling AWS
    with pytest.raises(ValueError, match="timezone-aware"):
        vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, naive)


# -- the order of the writes, and withdrawing a version -----------------------------------------------


def current(sm: SecretsManagerClient, name: str) -> dict[str, Any]:
    """The value labelled AWSCURRENT (asked by label: moto's unlabelled read lags a moved label)."""
    loaded: dict[str, Any] = json.loads(
        sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"]
    )
    return loaded


def test_the_read_policy_is_set_before_any_value_is_written(
    vault: KeyVault, sm: SecretsManagerClient
) -> None:
    # Given a record of every Secrets Manager call and its parameters
    calls: list[tuple[str, dict[str, Any]]] = []
    real = BaseClient._make_api_call  # type: ignore[attr-defined]

    def record(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.append((operation, params))
        return real(self, operation, params)

    # When a first and a second key are stored
    with mock.patch.object(BaseClient, "_make_api_call", record):
        vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, CREATED)
        vault.store_new_key(user(), "AKIANEWKEY0000000003", SECRET, CREATED)
    # Then the secret is created without a value, and each value is written only after the read policy
    names = [operation for operation, _ in calls]
    assert names == [
        "CreateSecret",
        "PutResourcePolicy",
        "PutSecretValue",
        "CreateSecret",  # exists already
        "PutResourcePolicy",
        "PutSecretValue",
    ]
    assert "SecretString" not in calls[0][1]
    assert current(sm, "credlife/access-keys/alice")["AccessKeyId"] == "AKIANEWKEY0000000003"


def test_a_failed_policy_leaves_the_current_value_as_it_was(
    vault: KeyVault, sm: SecretsManagerClient
) -> None:
    # Given Secrets Manager refusing the resource policy (injected: moto accepts every policy)
    failing_policy = mock.patch.object(
        sm, "put_resource_policy", side_effect=client_error("InternalServiceError", "PutResourcePolicy")
    )
    # When a first key is stored
    with failing_policy, pytest.raises(AwsError):
        vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, CREATED)
    # Then the secret holds no value at all
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        sm.get_secret_value(SecretId="credlife/access-keys/alice")
    # And when a key was stored before, a failed policy for the next leaves that one current
    vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, CREATED)
    with failing_policy, pytest.raises(AwsError):
        vault.store_new_key(user(), "AKIANEWKEY0000000003", SECRET, CREATED, version=VERSION)
    assert current(sm, "credlife/access-keys/alice")["AccessKeyId"] == "AKIANEWKEY0000000002"
    assert not vault.is_current("credlife/access-keys/alice", VERSION)


def test_withdraw_makes_the_previous_version_current_again(vault: KeyVault, sm: SecretsManagerClient) -> None:
    # Given a secret whose current version (ours) follows an earlier one
    vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, CREATED)
    name = vault.store_new_key(user(), "AKIANEWKEY0000000003", SECRET, CREATED, version=VERSION)
    assert vault.is_current(name, VERSION)
    # When our version is withdrawn
    done = vault.withdraw("alice", name, VERSION)
    # Then the earlier key is current again, and a second withdraw changes nothing
    assert "previous version" in done
    assert current(sm, name)["AccessKeyId"] == "AKIANEWKEY0000000002"
    assert not vault.is_current(name, VERSION)
    assert "does not hand out" in vault.withdraw("alice", name, VERSION)
    assert current(sm, name)["AccessKeyId"] == "AKIANEWKEY0000000002"


def test_withdrawing_a_first_version_leaves_a_value_naming_no_key(
    vault: KeyVault, sm: SecretsManagerClient
) -> None:
    # Given a new secret whose only version is ours
    name = vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, CREATED, version=VERSION)
    # When it is withdrawn
    vault.withdraw("alice", name, VERSION)
    # Then the current value names no key (and holds no secret)
    value = current(sm, name)
    assert value["AccessKeyId"] is None
    assert value["SecretAccessKey"] is None
    assert SECRET not in json.dumps(value)
    # And withdrawing from a secret that does not exist is a no-op
    assert vault.withdraw("bob", "credlife/access-keys/bob", VERSION) == "no secret"


@pytest.mark.parametrize("operation", ["CreateSecret", "PutSecretValue"])
def test_an_error_echoing_the_value_is_reduced_to_its_code(
    vault: KeyVault, sm: SecretsManagerClient, operation: str
) -> None:
    # Given Secrets Manager failing with a validation error that quotes the value it was sent (injected:
    # moto never echoes a value; a real validation error may)
    real = BaseClient._make_api_call  # type: ignore[attr-defined]

    def echo(self: BaseClient, name: str, params: dict[str, Any]) -> Any:
        if name == operation:
            message = f"1 validation error: Value '{params}' at 'secretString' failed to satisfy constraint"
            raise ClientError({"Error": {"Code": "ValidationException", "Message": message}}, name)
        return real(self, name, params)

    # When a key is stored
    with mock.patch.object(BaseClient, "_make_api_call", echo), pytest.raises(AwsError) as caught:
        vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, CREATED)
    # Then the error keeps the operation and the code, and not a word of AWS's message
    assert caught.value.code == "ValidationException"
    assert str(caught.value) == f"secretsmanager:{operation} failed: ValidationException"
    assert SECRET not in "".join(traceback.format_exception(caught.value))


def test_a_configured_reader_may_read_too(sm: SecretsManagerClient) -> None:
    # Given a vault that names the owner's role as an extra reader of alice's secret
    role = f"arn:aws:iam::{ACCOUNT}:role/team-alice"
    vault = KeyVault(sm, automation_principal_arn=AUTOMATION, reader_of=lambda u: role)

    # When a key is stored
    name = vault.store_new_key(user(), "AKIANEWKEY0000000002", SECRET, CREATED)

    # Then the policy lets the user, the automation and the role read, and denies everyone else
    policy = json.loads(sm.get_resource_policy(SecretId=name)["ResourcePolicy"])
    allow, deny = policy["Statement"]
    readers = [user().arn, AUTOMATION, role]
    assert allow["Principal"]["AWS"] == readers
    assert deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == readers
