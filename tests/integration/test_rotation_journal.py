"""Half rotations, on moto: a rotation is journalled before `CreateAccessKey`, and whatever stops it half-way
(the function stopped, Secrets Manager failing while the clean-up is throttled, a refused resource policy)
leaves either nothing or an open journal entry that the next run finishes or undoes. After that run: no
active key without a current secret version holding it, no secret whose current value names a deleted key.

A stop is a `BaseException` raised right after a real call (what a Lambda timeout or crash looks like to the
code: nothing after it runs). Faults moto cannot produce (throttling, a refused policy) are injected."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from unittest import mock

import boto3
import pytest
import time_machine
from botocore.exceptions import ClientError
from moto import mock_aws

from credlife.aws.executor import Executor
from credlife.aws.secrets import KeyVault
from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.domain.actions import Action, ActionKind, Reason
from credlife.domain.models import AccessKey, CredentialType, KeyStatus, User, key_ref
from credlife.ports import Outcome, Recovery

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
TABLE = "credlife-journal-test"
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
NEXT_RUN = NOW + timedelta(days=1)
DEADLINE = NOW + timedelta(days=14)


class Stop(BaseException):
    """The function stopped (timeout, crash): nothing after this point of the run happens."""


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@dataclass
class World:
    iam: IAMClient
    sm: SecretsManagerClient
    state: DynamoStateStore
    executor: Executor

    def make_user(self, name: str) -> User:
        self.iam.create_user(UserName=name, Path="/team/")
        self.iam.create_access_key(UserName=name)
        return self.user(name)

    def user(self, name: str) -> User:
        found = self.iam.get_user(UserName=name)["User"]
        keys = tuple(
            AccessKey(created=m["CreateDate"], status=KeyStatus(m["Status"]), key_id=m["AccessKeyId"])
            for m in self.iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        )
        return User(
            name=name, arn=found["Arn"], user_id=found["UserId"], access_keys=keys, keys_resolved=True
        )

    def keys(self, name: str) -> dict[str, str]:
        return {
            m["AccessKeyId"]: m["Status"]
            for m in self.iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        }

    def rotate(self, user: User, key: AccessKey, *, at: datetime = NOW) -> Outcome:
        """The planned rotation of `key`, applied with moto's clock at `at` (new keys get that date)."""
        action = rotation(user, key, at)
        with time_machine.travel(at, tick=False):
            (outcome,) = self.executor.apply(ACCOUNT, user, [action], now=at, run_id=f"run-{at:%d}")
        return outcome

    def recover(self, at: datetime = NEXT_RUN) -> Recovery:
        return self.executor.recover_rotations(ACCOUNT, now=at, run_id=f"run-{at:%d%H%M}", dry_run=False)

    def current_secret(self, user: str) -> dict[str, Any] | None:
        """The value a reader gets now (by its label: moto's unlabelled read lags a moved label)."""
        try:
            value = self.sm.get_secret_value(
                SecretId=f"credlife/access-keys/{user}", VersionStage="AWSCURRENT"
            )
        except ClientError:
            return None
        loaded: dict[str, Any] = json.loads(value["SecretString"])
        return loaded

    def assert_converged(self, user: str) -> None:
        """No active key without a current secret holding it (beside the user's original keys), and no
        secret whose current value names a key that does not exist; no rotation left open."""
        keys = self.keys(user)
        secret = self.current_secret(user)
        named = secret.get("AccessKeyId") if secret else None
        assert named is None or named in keys, f"the secret hands out the deleted key {named}"
        assert self.state.open_journals(ACCOUNT) == []

    def journal_items(self) -> list[dict[str, Any]]:
        items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
        return [i for i in items if i["sk"]["S"].startswith("JOURNAL#")]


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        create_state_table(dynamodb, TABLE)
        state = DynamoStateStore(TABLE, dynamodb)
        sm = boto3.client("secretsmanager")
        vault = KeyVault(sm, automation_principal_arn=f"arn:aws:iam::{ACCOUNT}:role/credlife")
        iam = boto3.client("iam")
        executor = Executor(iam, vault=vault, state=state, retry_delays=(0.0, 0.0))
        yield World(iam, sm, state, executor)


def rotation(user: User, key: AccessKey, at: datetime) -> Action:
    return Action(
        user=user.name,
        credential=CredentialType.ACCESS_KEY,
        action=ActionKind.ROTATE,
        reason=Reason.KEY_ROTATION_DUE,
        due=at,
        key_id=key.key_id,
        key_created=key.created,
        deadline=at + timedelta(days=14),
        warns_of=ActionKind.DEACTIVATE,
        stage="14d",
    )


def then_stop(real: Callable[..., Any]) -> Callable[..., Any]:
    """`real`, after which the function stops."""

    def call(**params: Any) -> Any:
        real(**params)
        raise Stop

    return call


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)


# -- a rotation that went through --------------------------------------------------------------------


def test_a_rotation_is_journalled_and_closed(world: World) -> None:
    # Given a user with one key
    alice = world.make_user("alice")
    (old,) = alice.access_keys
    # When it is rotated
    outcome = world.rotate(alice, old)
    # Then the entry went through every step and is closed, naming both keys and no secret
    assert outcome.status == "applied"
    (item,) = world.journal_items()
    assert item["step"]["S"] == "completed"
    assert item["old_key_id"]["S"] == old.key_id
    assert item["new_key_id"]["S"] == outcome.new_key_id
    assert "finished_at" in item
    assert "expires_at" in item
    secret = world.current_secret("alice")
    assert secret is not None
    assert secret["AccessKeyId"] == outcome.new_key_id
    assert secret["SecretAccessKey"] not in json.dumps(item)
    # And the next run has nothing to recover
    recovery = world.recover()
    assert recovery.outcomes == ()
    assert dict(recovery.held) == {}


def test_no_key_is_created_when_the_journal_cannot_be_written(world: World) -> None:
    # Given the state table refusing the journal entry (injected: moto's DynamoDB does not throttle)
    alice = world.make_user("alice")
    (old,) = alice.access_keys
    with mock.patch.object(
        world.state,
        "journal_intent",
        side_effect=client_error("ProvisionedThroughputExceededException", "PutItem"),
    ):
        # When the key is rotated
        outcome = world.rotate(alice, old)
    # Then nothing was attempted
    assert outcome.status == "failed"
    assert outcome.detail.startswith("not attempted: the rotation journal could not be written")
    assert world.keys("alice") == {old.key_id: "Active"}


# -- the function stops right after CreateAccessKey ----------------------------------------------------


def test_a_stop_right_after_create_access_key_is_undone_by_the_next_run(world: World) -> None:
    # Given a user with one key, and the function stopping right after IAM created the new key
    alice = world.make_user("alice")
    (old,) = alice.access_keys
    with (
        mock.patch.object(world.iam, "create_access_key", side_effect=then_stop(world.iam.create_access_key)),
        pytest.raises(Stop),
    ):
        world.rotate(alice, old)
    # (an active key exists whose secret nobody holds, and the journal says a rotation was under way)
    (orphan,) = set(world.keys("alice")) - {old.key_id}
    (entry,) = world.state.open_journals(ACCOUNT)
    assert (entry.step, entry.new_key_id) == ("intent", None)
    # When a run starts within minutes (the stopped run might still be going), then the next day
    soon = world.recover(NOW + timedelta(minutes=5))
    assert dict(soon.held) == {"alice": "a rotation is under way"}
    assert orphan in world.keys("alice")
    recovery = world.recover()
    # Then the next run deleted the key that was never handed over, and says so
    assert world.keys("alice") == {old.key_id: "Active"}
    (outcome,) = recovery.outcomes
    assert outcome.status == "failed"
    assert f"the new key {orphan} was never handed over and was deleted" in outcome.detail
    assert outcome.action.key_id == old.key_id
    assert dict(recovery.held) == {}
    world.assert_converged("alice")
    # And the recovery is audited before and after
    trail = [(e.phase, e.action["action"], e.outcome) for e in world.state.audit_log(ACCOUNT)]
    assert trail[-2:] == [("intent", "recover_rotation", ""), ("result", "recover_rotation", "failed")]
    # And the old key's record shows no rotation: the next plan rotates it again
    record = world.state.load_records(ACCOUNT).get(key_ref("alice", old.created))
    assert record is None or record.rotated_at is None


def test_a_refused_create_access_key_closes_the_entry(world: World) -> None:
    # Given IAM refusing to create a key (quota; injected to keep the test to one key)
    alice = world.make_user("alice")
    (old,) = alice.access_keys
    with mock.patch.object(
        world.iam, "create_access_key", side_effect=client_error("LimitExceeded", "CreateAccessKey")
    ):
        outcome = world.rotate(alice, old)
    # Then the rotation failed, and nothing is left to recover
    assert outcome.status == "failed"
    assert "LimitExceeded" in outcome.detail
    assert world.state.open_journals(ACCOUNT) == []


def test_a_create_access_key_that_timed_out_after_creating_is_undone_by_the_next_run(world: World) -> None:
    # Given IAM creating the key but the answer lost (a server error after the fact; injected)
    alice = world.make_user("alice")
    (old,) = alice.access_keys
    real = world.iam.create_access_key

    def created_then_failed(**params: Any) -> Any:
        real(**params)
        raise client_error("ServiceFailure", "CreateAccessKey")

    with mock.patch.object(world.iam, "create_access_key", side_effect=created_then_failed):
        outcome = world.rotate(alice, old)
    # Then the outcome says the next run deletes such a key, and the entry stays open
    (orphan,) = set(world.keys("alice")) - {old.key_id}
    assert outcome.status == "failed"
    assert "the next run deletes it" in outcome.detail
    assert len(world.state.open_journals(ACCOUNT)) == 1
    # And the next run does
    recovery = world.recover()
    assert [o.status for o in recovery.outcomes] == ["failed"]
    assert world.keys("alice") == {old.key_id: "Active"}
    assert orphan in recovery.outcomes[0].detail
    world.assert_converged("alice")


def test_a_key_the_owner_made_after_the_stop_is_never_deleted(world: World) -> None:
    # Given a rotation stopped before its key was recorded, the orphan deleted by hand, and the owner's own
    # new key made since (the same minute, and already in use)
    alice = world.make_user("alice")
    (old,) = alice.access_keys
    with (
        mock.patch.object(world.iam, "create_access_key", side_effect=then_stop(world.iam.create_access_key)),
        pytest.raises(Stop),
    ):
        world.rotate(alice, old)
    (orphan,) = set(world.keys("alice")) - {old.key_id}
    world.iam.delete_access_key(UserName="alice", AccessKeyId=orphan)
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        owners = world.iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    used = mock.patch.object(
        world.iam,
        "get_access_key_last_used",
        return_value={"UserName": "alice", "AccessKeyLastUsed": {"LastUsedDate": NOW, "ServiceName": "s3"}},
    )  # injected: moto records no use of a key made through the API
    # When the next run recovers
    with used:
        recovery = world.recover()
    # Then the owner's key is kept, and the entry stays open for a human, the user's key actions held
    assert world.keys("alice") == {old.key_id: "Active", owners: "Active"}
    assert recovery.outcomes == ()
    assert "cannot be told apart" in recovery.held["alice"]


# -- Secrets Manager fails and the clean-up is throttled ----------------------------------------------


@pytest.mark.parametrize("failing_call", ["create_secret", "put_secret_value"])
def test_a_failed_store_with_a_throttled_clean_up_is_finished_by_the_next_run(
    world: World, failing_call: str
) -> None:
    # Given Secrets Manager failing, and IAM throttling every attempt to delete the new key again
    alice = world.make_user("alice")
    (old,) = alice.access_keys
    deletes: list[dict[str, Any]] = []

    def throttled(**params: Any) -> None:
        deletes.append(params)
        raise client_error("Throttling", "DeleteAccessKey")

    with (
        mock.patch.object(world.sm, failing_call, side_effect=client_error("InternalServiceError", "x")),
        mock.patch.object(world.iam, "delete_access_key", side_effect=throttled),
    ):
        # When the key is rotated
        outcome = world.rotate(alice, old)
    # Then the delete was tried three times, and the outcome names the key left behind
    (left,) = set(world.keys("alice")) - {old.key_id}
    assert len(deletes) == 3
    assert outcome.status == "failed"
    assert f"{left} could NOT be deleted again" in outcome.detail
    assert "the next run deletes it" in outcome.detail
    assert world.current_secret("alice") is None
    (entry,) = world.state.open_journals(ACCOUNT)
    assert (entry.step, entry.new_key_id) == ("undoing", left)
    # When the next run finds IAM still throttling: the user's key actions wait
    with mock.patch.object(world.iam, "delete_access_key", side_effect=throttled):
        held = world.recover()
    assert held.outcomes == ()
    assert left in held.held["alice"]
    # When the run after that finds IAM answering
    recovery = world.recover(NEXT_RUN + timedelta(days=1))
    # Then the key that nobody could read is gone
    assert world.keys("alice") == {old.key_id: "Active"}
    (undone,) = recovery.outcomes
    assert undone.status == "failed"
    assert f"the new key {left} was never handed over and was deleted" in undone.detail
    world.assert_converged("alice")


def test_secrets_manager_down_still_gets_the_new_key_deleted_at_once(world: World) -> None:
    # Given Secrets Manager failing every call (injected), before any value could be stored
    alice = world.make_user("alice")
    (old,) = alice.access_keys
    down = client_error("InternalServiceError", "x")
    with (
        mock.patch.object(world.sm, "create_secret", side_effect=down),
        mock.patch.object(world.sm, "describe_secret", side_effect=down),
    ):
        # When the key is rotated
        outcome = world.rotate(alice, old)
    # Then the new key is deleted at once (no value was sent: nothing to withdraw first), nothing is open
    assert outcome.status == "failed"
    assert "was deleted again" in outcome.detail
    assert world.keys("alice") == {old.key_id: "Active"}
    world.assert_converged("alice")


def test_a_value_that_may_have_been_stored_keeps_the_key_until_the_secret_is_checked(world: World) -> None:
    # Given PutSecretValue failing and Secrets Manager unable to say which version is current (injected)
    alice = world.make_user("alice")
    (old,) = alice.access_keys
    down = client_error("InternalServiceError", "x")
    with (
        mock.patch.object(world.sm, "put_secret_value", side_effect=down),
        mock.patch.object(world.sm, "describe_secret", side_effect=down),
    ):
        outcome = world.rotate(alice, old)
    # Then the key is kept (deleting it might leave a secret naming a deleted key) and the entry open
    (kept,) = set(world.keys("alice")) - {old.key_id}
    assert f"{kept} could NOT be deleted again" in outcome.detail
    assert "the secret could not be rolled back" in outcome.detail
    # And the next run, with Secrets Manager answering, deletes it
    recovery = world.recover()
    assert [o.status for o in recovery.outcomes] == ["failed"]
    assert world.keys("alice") == {old.key_id: "Active"}
    world.assert_converged("alice")


# -- the secret's value and policy ----------------------------------------------------------------------


def rotated_once(world: World) -> tuple[User, str]:
    """alice after one rotation that went through and the retirement of her first key: her only key is the
    one the secret hands out. Returns her and that key."""
    alice = world.make_user("alice")
    (first,) = alice.access_keys
    assert first.key_id is not None
    second = world.rotate(alice, first, at=NOW - timedelta(days=30)).new_key_id
    assert second is not None
    world.iam.delete_access_key(UserName="alice", AccessKeyId=first.key_id)
    return world.user("alice"), second


def test_a_refused_policy_leaves_the_secret_on_the_key_it_held(world: World) -> None:
    # Given a user whose secret holds her current key, and Secrets Manager refusing the resource policy
    alice, current = rotated_once(world)
    (key,) = alice.access_keys
    with mock.patch.object(
        world.sm, "put_resource_policy", side_effect=client_error("InternalServiceError", "PutResourcePolicy")
    ):
        # When that key is rotated
        outcome = world.rotate(alice, key)
    # Then the new key is deleted again, and the secret still hands out the key that exists
    assert outcome.status == "failed"
    assert "was deleted again" in outcome.detail
    assert world.keys("alice") == {current: "Active"}
    secret = world.current_secret("alice")
    assert secret is not None
    assert secret["AccessKeyId"] == current
    world.assert_converged("alice")


def test_a_value_stored_although_its_call_failed_is_withdrawn_with_the_key(world: World) -> None:
    # Given a user whose secret holds her current key, and PutSecretValue storing the value but failing
    # (a timeout after AWS applied it; injected)
    alice, current = rotated_once(world)
    (key,) = alice.access_keys
    real = world.sm.put_secret_value

    def stored_then_failed(**params: Any) -> Any:
        real(**params)
        raise client_error("RequestTimeout", "PutSecretValue")

    with mock.patch.object(world.sm, "put_secret_value", side_effect=stored_then_failed):
        # When that key is rotated
        outcome = world.rotate(alice, key)
    # Then the new key is deleted and the secret hands out the earlier (existing) key again
    assert outcome.status == "failed"
    assert "was deleted again" in outcome.detail
    assert world.keys("alice") == {current: "Active"}
    secret = world.current_secret("alice")
    assert secret is not None
    assert secret["AccessKeyId"] == current
    world.assert_converged("alice")


# -- stopped after the hand-over -----------------------------------------------------------------------


def test_a_stop_after_the_hand_over_is_completed_by_the_next_run(world: World) -> None:
    # Given a rotation whose secret was written, and the function stopping before the rotation was recorded
    alice = world.make_user("alice")
    (old,) = alice.access_keys
    with mock.patch.object(world.state, "record_rotation", side_effect=Stop), pytest.raises(Stop):
        world.rotate(alice, old)
    (new,) = set(world.keys("alice")) - {old.key_id}
    (entry,) = world.state.open_journals(ACCOUNT)
    assert entry.step == "stored"
    # When the next run recovers
    recovery = world.recover()
    # Then the rotation is completed: the record names the replacement, dated when the rotation began; no
    # notice is recorded by the recovery (its message goes out like any outcome's, and the planner's next run
    # announces the old key's deadline with a notice stored with its message, counted from its delivery)
    (outcome,) = recovery.outcomes
    assert outcome.status == "applied"
    assert outcome.new_key_id == new
    assert outcome.secret_name == "credlife/access-keys/alice"
    assert outcome.action.deadline == DEADLINE
    record = world.state.load_records(ACCOUNT)[key_ref("alice", old.created)]
    assert record.rotated_at == NOW
    assert record.replacement_key_id == new
    assert record.notices == ()
    secret = world.current_secret("alice")
    assert secret is not None
    assert secret["AccessKeyId"] == new
    assert set(world.keys("alice")) == {old.key_id, new}
    world.assert_converged("alice")


def test_recovery_in_dry_run_changes_nothing(world: World) -> None:
    # Given a rotation stopped right after CreateAccessKey
    alice = world.make_user("alice")
    (old,) = alice.access_keys
    with (
        mock.patch.object(world.iam, "create_access_key", side_effect=then_stop(world.iam.create_access_key)),
        pytest.raises(Stop),
    ):
        world.rotate(alice, old)
    before = world.keys("alice")
    # When a dry run recovers
    recovery = world.executor.recover_rotations(ACCOUNT, now=NEXT_RUN, run_id="dry", dry_run=True)
    # Then it says what it would do (audited as a dry run), changes nothing, tells no owner (no outcome),
    # and the user's key actions wait
    assert recovery.outcomes == ()
    assert recovery.held["alice"].startswith("dry run: would undo the interrupted rotation")
    assert world.keys("alice") == before
    assert len(world.state.open_journals(ACCOUNT)) == 1
    result = world.state.audit_log(ACCOUNT)[-1]
    assert (result.action["action"], result.action["dry_run"], result.outcome) == (
        "recover_rotation",
        True,
        "dry_run",
    )
