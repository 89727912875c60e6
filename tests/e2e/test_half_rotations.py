"""Half rotations and secrets near error text, through the scheduled handler on moto (runtime built from the
environment, owner e-mail through SES, the run summary on the security topic).

A rotation that stops half-way — the function stopping right after `CreateAccessKey`, or Secrets Manager
failing while deleting the new key again is throttled — is finished or undone by the next run, before it
plans: afterwards no active key exists without a current secret version holding it, no secret's current
value names a deleted key, and the owner was told only about keys that exist. And an AWS error that echoes
the secret value of the call that failed reaches no outcome, audit item, message, log or response."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import boto3
import pytest
import time_machine
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from credlife.aws import rotation
from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.handlers import scheduled
from tests.e2e.conftest import (
    ACCOUNT,
    REGION,
    Account,
    LambdaContext,
    Logs,
    event_time,
    failing,
    scheduled_event,
    secret_name,
)

pytestmark = pytest.mark.e2e

TABLE = "credlife-half-rotations"
SENDER = "credlife@example.com"
OWNER = "platform@example.com"
EVENT = scheduled_event()
NOW = event_time(EVENT)  # 2026-06-01T06:00:00Z
KEY_ID = re.compile(r"\b(?:AKIA|LKIA)[A-Z0-9]{16}\b")


class Stop(BaseException):
    """The function stopped (timeout, crash): nothing after this point of the run happens."""


@dataclass
class Env:
    aws: Account
    topic_arn: str

    def run(self, at: datetime) -> dict[str, Any]:
        with time_machine.travel(at, tick=False):
            response: dict[str, Any] = scheduled.handler(scheduled_event(at), LambdaContext())
        return response

    def emails(self) -> str:
        return "\n".join(getattr(m, "raw_data", "") for m in ses_backends[ACCOUNT][REGION].sent_messages)

    def summaries(self) -> str:
        sent = sns_backends[ACCOUNT][REGION].topics[self.topic_arn].sent_notifications
        return "\n".join(f"{subject}\n{message}" for _, message, subject, _, _ in sent)

    def current_secret(self, user: str) -> dict[str, Any] | None:
        """What a reader gets (asked by label: moto's unlabelled read lags a moved label)."""
        try:
            value = self.aws.sm.get_secret_value(SecretId=secret_name(user), VersionStage="AWSCURRENT")
        except ClientError:
            return None
        loaded: dict[str, Any] = json.loads(value["SecretString"])
        return loaded

    def assert_converged(self, user: str, original: str) -> None:
        """The invariants of a hand-over, checked from the outside."""
        keys = self.aws.keys(user)
        secret = self.current_secret(user)
        named = secret.get("AccessKeyId") if secret else None
        for key_id, status in keys.items():
            if key_id != original and status == "Active":
                assert named == key_id, f"active key {key_id} without a secret holding it"
        assert named is None or named in keys, f"the secret hands out the deleted key {named}"
        told = set(KEY_ID.findall(self.emails()))
        assert told <= set(keys), f"the owner was told about keys that do not exist: {told - set(keys)}"
        assert DynamoStateStore(TABLE, self.aws.dynamodb).open_journals(ACCOUNT) == []


@pytest.fixture
def env(aws: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
    topic_arn = boto3.client("sns", region_name=REGION).create_topic(Name="credlife-security")["TopicArn"]
    create_state_table(aws.dynamodb, TABLE)
    monkeypatch.setenv("CREDLIFE_STATE_TABLE", TABLE)
    monkeypatch.setenv("CREDLIFE_DRY_RUN", "false")
    monkeypatch.setenv("CREDLIFE_SENDER_EMAIL", SENDER)
    monkeypatch.setenv("CREDLIFE_SECURITY_TOPIC_ARN", topic_arn)
    monkeypatch.setenv(
        "CREDLIFE_CONFIG", json.dumps({"notifications": {"path_owners": {"/service/": OWNER}}})
    )
    monkeypatch.setattr(rotation, "DELETE_RETRY_DELAYS", (0.0, 0.0))  # retried at once: no pause needed
    scheduled.use_runtime(None)
    try:
        yield Env(aws, topic_arn)
    finally:
        scheduled.use_runtime(None)


def aged_user(aws: Account, name: str) -> str:
    """A workload user whose only key is 120 days old and in daily use (its rotation is due)."""
    aws.iam.create_user(UserName=name, Path="/service/")
    aws.users.append(name)
    return aws.key(name, now=NOW, age=120, used_ago=1)


def stop_after(operation: str) -> Any:
    """Every call of `operation` goes to moto, then the function stops."""
    real = BaseClient._make_api_call  # type: ignore[attr-defined]

    def call(self: BaseClient, name: str, params: dict[str, Any]) -> Any:
        result = real(self, name, params)
        if name == operation:
            raise Stop
        return result

    return mock.patch.object(BaseClient, "_make_api_call", call)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # the stopped run flushes none
def test_a_stop_right_after_create_access_key_converges_at_the_next_run(env: Env) -> None:
    # Given a workload key due for rotation, and the function stopping right after CreateAccessKey
    user = "svc.stopped"
    original = aged_user(env.aws, user)
    with stop_after("CreateAccessKey"), pytest.raises(Stop):
        env.run(NOW)
    (orphan,) = set(env.aws.keys(user)) - {original}  # an active key whose secret nobody holds
    # When the next day's run comes
    response = env.run(NOW + timedelta(days=1))
    # Then the orphan is gone, the rotation was done again and handed over, and the owner was told only
    # about the key that exists
    keys = env.aws.keys(user)
    assert orphan not in keys
    (new,) = set(keys) - {original}
    secret = env.current_secret(user)
    assert secret is not None
    assert secret["AccessKeyId"] == new
    assert keys == {original: "Active", new: "Active"}
    assert new in env.emails()
    env.assert_converged(user, original)
    # And the security team heard about the interrupted rotation
    assert response["outcomes"] == {"rotate:failed": 1, "rotate:applied": 1}, response
    assert any(
        f"the new key {orphan} was never handed over and was deleted" in f for f in response["failures"]
    )
    assert orphan in env.summaries()


def test_a_failed_store_with_a_throttled_clean_up_converges_at_the_next_run(env: Env) -> None:
    # Given a workload key due for rotation, Secrets Manager refusing to store and IAM throttling every
    # attempt to delete the new key again (injected: moto neither fails nor throttles)
    user = "svc.throttled"
    original = aged_user(env.aws, user)
    real = BaseClient._make_api_call  # type: ignore[attr-defined]

    def faulty(self: BaseClient, name: str, params: dict[str, Any]) -> Any:
        if name in {"CreateSecret", "PutSecretValue"}:
            raise ClientError({"Error": {"Code": "InternalServiceError", "Message": "injected"}}, name)
        if name == "DeleteAccessKey":
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, name)
        return real(self, name, params)

    with mock.patch.object(BaseClient, "_make_api_call", faulty):
        first = env.run(NOW)
    (left,) = set(env.aws.keys(user)) - {original}
    assert any(f"{left} could NOT be deleted again" in f for f in first["failures"]), first
    # When the next day's run comes (IAM answering again)
    env.run(NOW + timedelta(days=1))
    # Then the key nobody could read is gone, and the rotation went through
    keys = env.aws.keys(user)
    assert left not in keys
    assert len(keys) == 2
    env.assert_converged(user, original)


def test_a_key_that_could_not_be_handed_over_is_never_planned_around(env: Env) -> None:
    # Given a rotation whose secret could not be stored and whose new key could not be deleted, on two
    # days running (injected: moto neither fails nor throttles)
    user = "svc.held"
    original = aged_user(env.aws, user)
    real = BaseClient._make_api_call  # type: ignore[attr-defined]

    def faulty(self: BaseClient, name: str, params: dict[str, Any]) -> Any:
        if name == "CreateSecret":
            raise ClientError({"Error": {"Code": "InternalServiceError", "Message": "injected"}}, name)
        if name == "DeleteAccessKey":
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, name)
        return real(self, name, params)

    with mock.patch.object(BaseClient, "_make_api_call", faulty):
        env.run(NOW)
        (left,) = set(env.aws.keys(user)) - {original}
        # When the next day's run still cannot delete it
        response = env.run(NOW + timedelta(days=1))
    # Then that user's key actions wait, said in the run's failures: the key nobody holds is not taken for
    # the owner's replacement (no retirement of the original is announced) and the owner is told nothing
    assert response["outcomes"] == {}, response
    assert any(f.startswith(f"{user}: access-key actions wait") and left in f for f in response["failures"])
    assert env.aws.keys(user) == {original: "Active", left: "Active"}
    assert env.emails() == ""
    # And once IAM answers, the next run converges
    env.run(NOW + timedelta(days=2))
    assert left not in env.aws.keys(user)
    env.assert_converged(user, original)


def test_an_error_echoing_the_new_secret_reaches_no_output(env: Env, logs: Logs) -> None:
    # Given a workload key due for rotation, and Secrets Manager refusing the value with a validation error
    # that quotes the parameter it was sent (injected: moto never echoes a value; a real validation may)
    user = "svc.echo"
    aged_user(env.aws, user)
    real = BaseClient._make_api_call  # type: ignore[attr-defined]
    sent: list[str] = []

    def echoing(self: BaseClient, name: str, params: dict[str, Any]) -> Any:
        if "SecretString" in params:  # CreateSecret or PutSecretValue, whichever carries the value
            sent.append(params["SecretString"])
            message = f"1 validation error detected: Value '{params['SecretString']}' at 'secretString'"
            raise ClientError({"Error": {"Code": "ValidationException", "Message": message}}, name)
        return real(self, name, params)

    # When the handler rotates it
    with mock.patch.object(BaseClient, "_make_api_call", echoing):
        response = env.run(NOW)
    # Then the failure is reported with its code ...
    (value,) = sent
    secret = json.loads(value)["SecretAccessKey"]
    assert len(secret) == 40
    assert response["outcomes"] == {"rotate:failed": 1}, response
    assert any("ValidationException" in f for f in response["failures"])
    assert "ValidationException" in env.summaries()
    # ... and the secret is in no response, audit item, table item, message or log
    items = json.dumps(env.aws.table_items(TABLE))
    assert "recover_rotation" not in items  # (nothing was left to recover)
    assert secret not in json.dumps(response)
    assert secret not in items
    assert secret not in repr(DynamoStateStore(TABLE, env.aws.dynamodb).audit_log(ACCOUNT))
    assert secret not in env.summaries()
    assert secret not in env.emails()
    assert secret not in logs.text()
    assert "validation error detected" not in logs.text() + items + env.summaries()


def test_an_unreadable_journal_holds_every_access_key_action(env: Env) -> None:
    # Given a key due for rotation, and the state table refusing to read the rotation journal (injected)
    user = "svc.blind"
    original = aged_user(env.aws, user)
    with failing("Query", "InternalServerError", when=lambda params: "JOURNAL#" in json.dumps(params)):
        # When the handler runs
        response = env.run(NOW)
    # Then no access-key action runs (an open rotation might be there, unseen), and the run says why
    assert response["outcomes"] == {}, response
    assert any("the rotation journal could not be read" in f for f in response["failures"])
    assert env.aws.keys(user) == {original: "Active"}
