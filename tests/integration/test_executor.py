"""The executor against moto's IAM, Secrets Manager and DynamoDB: each action, idempotence, dry-run,
audit, failure isolation, and the secret access key never leaving the vault."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.iam.models import AccessKeyLastUsed, iam_backends

from credlife.aws.calls import ApiCallCounter
from credlife.aws.errors import AwsError, Throttled
from credlife.aws.executor import KEY_ACTIONS, REQUIRED_ACTIONS, Executor
from credlife.aws.secrets import KeyVault
from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.domain.actions import Action, ActionKind, Reason, Severity
from credlife.domain.messages import OutcomeFacts, compose, render_digest
from credlife.domain.models import AccessKey, CredentialType, KeyStatus, User, key_ref
from credlife.domain.owners import Owner
from credlife.ports import AuditEntry, Outcome
from credlife.templates import load_templates

if TYPE_CHECKING:
    from mypy_boto3_iam.client import IAMClient
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
TABLE = "credlife-state-test"
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
RUN = "run-1"
DEFAULT_REASON = {
    ActionKind.WARN: Reason.KEY_ROTATION_DUE,
    ActionKind.ROTATE: Reason.KEY_ROTATION_DUE,
    ActionKind.DEACTIVATE: Reason.KEY_UNUSED,
    ActionKind.DELETE: Reason.INACTIVE_KEY_CLEANUP,
    ActionKind.ALERT: Reason.KEY_QUOTA_CONFLICT,
    ActionKind.BLOCKED: Reason.KEY_QUOTA_WAIT,
    ActionKind.EXEMPT: Reason.EXEMPT_TAG,
}


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
    vault: KeyVault
    executor: Executor
    counter: ApiCallCounter

    def user(self, name: str) -> User:
        """The user as IAM has it now, key ids resolved (what the worker hands the executor)."""
        found = self.iam.get_user(UserName=name)["User"]
        keys = tuple(
            AccessKey(created=m["CreateDate"], status=KeyStatus(m["Status"]), key_id=m["AccessKeyId"])
            for m in self.iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        )
        return User(
            name=name, arn=found["Arn"], user_id=found["UserId"], access_keys=keys, keys_resolved=True
        )

    def make_user(self, name: str, *statuses: KeyStatus) -> User:
        self.iam.create_user(UserName=name, Path="/team/")
        for status in statuses:
            key_id = self.iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
            self.iam.update_access_key(UserName=name, AccessKeyId=key_id, Status=status.value)
        return self.user(name)

    def iam_keys(self, name: str) -> dict[str, str]:
        return {
            m["AccessKeyId"]: m["Status"]
            for m in self.iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        }

    def apply(self, user: User, *actions: Action) -> list[Outcome]:
        return self.executor.apply(ACCOUNT, user, actions, now=NOW, run_id=RUN)

    def audit(self) -> list[AuditEntry]:
        return self.state.audit_log(ACCOUNT)


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        counter = ApiCallCounter()
        dynamodb = boto3.client("dynamodb")
        create_state_table(dynamodb, TABLE)
        state = DynamoStateStore(TABLE, dynamodb, counter=counter)
        sm = boto3.client("secretsmanager")
        vault = KeyVault(
            sm, automation_principal_arn=f"arn:aws:iam::{ACCOUNT}:role/credlife", counter=counter
        )
        iam = boto3.client("iam")
        executor = Executor(iam, vault=vault, state=state, counter=counter)
        yield World(iam, sm, state, vault, executor, counter)


def act(kind: ActionKind, user: User, key: AccessKey, *, dry_run: bool = False, **fields: Any) -> Action:
    return Action(
        user=user.name,
        credential=CredentialType.ACCESS_KEY,
        action=kind,
        reason=fields.pop("reason", DEFAULT_REASON[kind]),
        due=NOW,
        key_id=key.key_id,
        key_created=key.created,
        dry_run=dry_run,
        **fields,
    )


def warn(user: User, key: AccessKey, *, dry_run: bool = False, stage: str = "7d") -> Action:
    return act(
        ActionKind.WARN,
        user,
        key,
        dry_run=dry_run,
        warns_of=ActionKind.DEACTIVATE,
        stage=stage,
        deadline=NOW + timedelta(days=7),
    )


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)


def secret_versions(world: World, name: str) -> dict[str, list[str]]:
    """Version id → labels (moto stamps listed versions with the time of the listing: left out)."""
    listed = world.sm.list_secret_version_ids(SecretId=name)["Versions"]
    return {v["VersionId"]: sorted(v.get("VersionStages", [])) for v in listed}


def statuses(outcomes: list[Outcome]) -> list[tuple[str, str]]:
    return [(o.action.action.value, o.status) for o in outcomes]


# -- rotate ------------------------------------------------------------------------------------------


def test_rotation_hands_the_new_key_over_in_a_secret(world: World) -> None:
    # Given a user with one active key
    alice = world.make_user("alice", KeyStatus.ACTIVE)
    (old,) = alice.access_keys
    # When the key is rotated
    (outcome,) = world.apply(alice, act(ActionKind.ROTATE, alice, old))
    # Then a second key exists and its secret holds exactly the documented JSON for that key
    assert outcome.status == "applied"
    assert outcome.new_key_id is not None
    assert outcome.new_key_id != old.key_id
    assert set(world.iam_keys("alice")) == {old.key_id, outcome.new_key_id}
    assert outcome.secret_name == "credlife/access-keys/alice"
    value = json.loads(world.sm.get_secret_value(SecretId=outcome.secret_name)["SecretString"])
    assert set(value) == {"UserName", "AccessKeyId", "SecretAccessKey", "CreateDate"}
    assert value["UserName"] == "alice"
    assert value["AccessKeyId"] == outcome.new_key_id
    assert datetime.fromisoformat(value["CreateDate"]).tzinfo is not None
    # And the old key's record remembers the rotation and its replacement
    record = world.state.load_records(ACCOUNT)[key_ref("alice", old.created)]
    assert record.rotated_at == NOW
    assert record.replacement_key_id == outcome.new_key_id


def test_no_secret_access_key_leaks_anywhere(world: World, caplog: pytest.LogCaptureFixture) -> None:
    # Given every logger at DEBUG (botocore's wire logs included) and a user due for rotation
    caplog.set_level(logging.DEBUG)
    alice = world.make_user("alice", KeyStatus.ACTIVE)
    (old,) = alice.access_keys
    # When the key is rotated and the outcome is rendered into the owner's message
    outcomes = world.apply(alice, act(ActionKind.ROTATE, alice, old))
    facts = OutcomeFacts(
        outcomes[0].action,
        outcomes[0].status,
        outcomes[0].detail,
        outcomes[0].new_key_id,
        outcomes[0].secret_name,
    )
    message_items = compose(facts, Owner("alice@example.com", "test"), now=NOW, secret_name=None)
    email = render_digest(
        "alice@example.com",
        message_items,
        load_templates(),
        account_id=ACCOUNT,
        now=NOW,
        security_email="s@example.com",
    )
    logged = list(caplog.records)  # before the test reads the secret itself (botocore logs that response)
    secret_name = outcomes[0].secret_name
    assert secret_name is not None
    secret = json.loads(world.sm.get_secret_value(SecretId=secret_name)["SecretString"])["SecretAccessKey"]
    # Then the secret access key is in none of the logs, outcomes, audit entries or state items
    assert len(secret) >= 20
    assert any(r.name == "credlife.executor" for r in logged)
    assert any(r.name == "botocore.parsers" for r in logged)  # wire logs were on, only the secret's cut
    for record in logged:
        assert secret not in record.getMessage(), record.name
        assert secret not in repr(vars(record)), record.name
    assert secret not in repr(outcomes)
    assert str(outcomes[0].new_key_id) in email.text
    assert secret not in email.text + email.html + email.subject
    assert secret not in repr(world.audit())
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    assert len(items) >= 3
    assert secret not in json.dumps(items)


def test_a_secrets_manager_failure_leaves_no_orphan_key(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a user with one key, and Secrets Manager refusing the value with an error whose text echoes it
    # (a validation error quoting its parameter; injected: moto never echoes a value)
    alice = world.make_user("alice", KeyStatus.ACTIVE)
    (old,) = alice.access_keys
    sent: dict[str, Any] = {}

    def failing_put_secret_value(**params: Any) -> None:
        sent.update(params)
        message = f"Value at 'secretString' failed to satisfy constraint: {params['SecretString']}"
        raise ClientError({"Error": {"Code": "ValidationException", "Message": message}}, "PutSecretValue")

    # When the key is rotated
    with mock.patch.object(world.sm, "put_secret_value", side_effect=failing_put_secret_value):
        (outcome,) = world.apply(alice, act(ActionKind.ROTATE, alice, old))
    # Then the outcome is failed, says why, and the user is left with only the original key
    assert outcome.status == "failed"
    assert "Secrets Manager" in outcome.detail
    assert "ValidationException" in outcome.detail
    assert "deleted again" in outcome.detail
    assert outcome.new_key_id is None
    assert world.iam_keys("alice") == {old.key_id: "Active"}
    # And the audit shows the intent and the failed result; no rotation is recorded
    assert [(e.phase, e.outcome) for e in world.audit()] == [("intent", ""), ("result", "failed")]
    assert key_ref("alice", old.created) not in world.state.load_records(ACCOUNT)
    # And the new key's secret, which did reach the vault, is nowhere in the outcome, audit or logs
    secret = json.loads(sent["SecretString"])["SecretAccessKey"]
    assert secret not in repr(outcome)
    assert secret not in repr(world.audit())
    assert all(secret not in repr(vars(r)) for r in caplog.records)


def test_a_failed_rollback_is_reported_loudly(world: World, caplog: pytest.LogCaptureFixture) -> None:
    # Given Secrets Manager failing, and IAM refusing to delete the new key again
    alice = world.make_user("alice", KeyStatus.ACTIVE)
    (old,) = alice.access_keys
    with (
        mock.patch.object(
            world.sm, "create_secret", side_effect=client_error("InternalServiceError", "CreateSecret")
        ),
        mock.patch.object(
            world.iam, "delete_access_key", side_effect=client_error("AccessDenied", "DeleteAccessKey")
        ),
    ):
        # When the key is rotated
        (outcome,) = world.apply(alice, act(ActionKind.ROTATE, alice, old))
    # Then the outcome names the key left behind, and a critical log line says so
    new_ids = set(world.iam_keys("alice")) - {old.key_id}
    (left_behind,) = new_ids
    assert outcome.status == "failed"
    assert f"{left_behind} could NOT be deleted" in outcome.detail
    assert any(
        r.levelno == logging.CRITICAL and getattr(r, "new_key_id", None) == left_behind
        for r in caplog.records
    )


def test_rotation_with_two_keys_already_is_a_noop(world: World) -> None:
    # Given a user who already has two active keys
    bob = world.make_user("bob", KeyStatus.ACTIVE, KeyStatus.ACTIVE)
    before = world.iam_keys("bob")
    # When one of them is rotated
    (outcome,) = world.apply(bob, act(ActionKind.ROTATE, bob, bob.access_keys[0]))
    # Then nothing is created (IAM's quota is respected) and no secret is written
    assert outcome.status == "noop"
    assert world.iam_keys("bob") == before
    assert world.sm.list_secrets()["SecretList"] == []


# -- idempotence, order, dry-run ---------------------------------------------------------------------


def test_deleting_first_makes_room_and_a_second_apply_changes_nothing(world: World) -> None:
    # Given a user with an old inactive key and an aged active key (two keys: the quota is full)
    carol = world.make_user("carol", KeyStatus.INACTIVE, KeyStatus.ACTIVE)
    inactive, active = carol.access_keys
    actions = [
        warn(carol, active),
        act(ActionKind.ROTATE, carol, active),
        act(ActionKind.DELETE, carol, inactive),
    ]
    # When the actions are applied (listed in the "wrong" order)
    first = world.apply(carol, *actions)
    # Then the delete ran first and made room for the rotation; the warning was recorded
    assert statuses(first) == [("delete", "applied"), ("rotate", "applied"), ("warn", "applied")]
    after_first = world.iam_keys("carol")
    assert inactive.key_id not in after_first
    assert set(after_first) == {active.key_id, first[1].new_key_id}
    secret_name = first[1].secret_name
    assert secret_name is not None
    versions = secret_versions(world, secret_name)
    # When the same actions are applied again to the user as IAM now has them
    second = world.apply(world.user("carol"), *actions)
    # Then every action is a noop and IAM and the secret are unchanged
    assert statuses(second) == [("delete", "noop"), ("rotate", "noop"), ("warn", "noop")]
    assert world.iam_keys("carol") == after_first
    assert secret_versions(world, secret_name) == versions


def test_dry_run_changes_nothing_in_iam_and_is_audited(world: World) -> None:
    # Given a user with an inactive and an active key
    dave = world.make_user("dave", KeyStatus.INACTIVE, KeyStatus.ACTIVE)
    inactive, active = dave.access_keys
    before = world.iam_keys("dave")
    actions = [
        act(ActionKind.DELETE, dave, inactive, dry_run=True),
        act(ActionKind.ROTATE, dave, active, dry_run=True),
        warn(dave, active, dry_run=True),
    ]
    world.counter.reset()
    # When the actions are applied in dry-run
    outcomes = world.apply(dave, *actions)
    # Then each reports what it would do, and IAM and Secrets Manager are untouched
    assert statuses(outcomes) == [("delete", "dry_run"), ("rotate", "dry_run"), ("warn", "dry_run")]
    assert world.counter.total("iam") == 0
    assert world.counter.total("secretsmanager") == 0
    assert world.iam_keys("dave") == before
    assert world.sm.list_secrets()["SecretList"] == []
    # And every action has an intent and a result in the audit trail
    audit = world.audit()
    assert [(e.phase, e.action["action"]) for e in audit] == [
        ("intent", "delete"),
        ("result", "delete"),
        ("intent", "rotate"),
        ("result", "rotate"),
        ("intent", "warn"),
        ("result", "warn"),
    ]
    assert all(e.action["dry_run"] is True for e in audit)
    # And the "would do" notice is recorded as a dry-run notice, so the next dry run does not repeat it
    (notice,) = world.state.load_records(ACCOUNT)[key_ref("dave", active.created)].notices
    assert notice.dry_run is True
    again = world.apply(dave, warn(dave, active, dry_run=True))
    assert statuses(again) == [("warn", "noop")]


# -- deactivate and delete ---------------------------------------------------------------------------


def used_in_iam(user: str, key_id: str, at: datetime) -> None:
    """A workload signs a call with the key at `at` (moto's stored last-used date, read by
    GetAccessKeyLastUsed; a credential report generated earlier would not show it)."""
    for stored in iam_backends[ACCOUNT]["global"].users[user].access_keys:
        if stored.access_key_id == key_id:
            stored.last_used = AccessKeyLastUsed(
                timestamp=at.astimezone(UTC).replace(tzinfo=None), service="s3", region="us-east-1"
            )


def as_planned(user: User, last_used: datetime | None) -> User:
    """The user as the (older) credential report showed them: every key last used at `last_used`."""
    keys = tuple(replace(k, last_used=last_used) for k in user.access_keys)
    return replace(user, access_keys=keys)


@pytest.mark.parametrize(
    ("kind", "status", "reason"),
    [
        (ActionKind.DEACTIVATE, KeyStatus.ACTIVE, Reason.KEY_UNUSED),
        (ActionKind.DEACTIVATE, KeyStatus.ACTIVE, Reason.KEY_REPLACED_SAFE),
        (ActionKind.DELETE, KeyStatus.INACTIVE, Reason.INACTIVE_KEY_CLEANUP),
    ],
)
def test_a_key_used_since_the_plan_is_left_alone(
    world: World, kind: ActionKind, status: KeyStatus, reason: Reason
) -> None:
    # Given a plan made from a credential report in which the key was last used 50 days ago
    ivan = world.make_user("ivan", status)
    planned = as_planned(ivan, NOW - timedelta(days=50))
    (key,) = planned.access_keys
    assert key.key_id is not None
    # and a workload that used it an hour ago (after the report was generated)
    used_in_iam("ivan", key.key_id, NOW - timedelta(hours=1))
    # When the disruptive step is applied
    (outcome,) = world.apply(planned, act(kind, planned, key, reason=reason))
    # Then the fresh last use voids it: skipped, saying when, IAM unchanged, audited
    assert outcome.status == "skipped"
    assert outcome.detail.startswith("used since the plan: 2026-01-15 08:00Z")
    assert world.iam_keys("ivan") == {key.key_id: status.value}
    results = [(e.phase, e.outcome) for e in world.audit()]
    assert results == [("intent", ""), ("result", "skipped")]
    # And nothing is recorded as done (no deactivation or deletion date for the planner to go on from)
    record = world.state.load_records(ACCOUNT).get(key_ref("ivan", key.created))
    assert record is None or (record.deactivated_at is None and record.first_seen_inactive is None)


def test_a_key_whose_last_use_is_the_plans_own_is_acted_on(world: World) -> None:
    # Given the report's last use and IAM's agree (the same use, read twice)
    judy = world.make_user("judy", KeyStatus.ACTIVE)
    (key,) = judy.access_keys
    assert key.key_id is not None
    used_in_iam("judy", key.key_id, NOW - timedelta(days=50))
    planned = as_planned(judy, NOW - timedelta(days=50))
    # Then the step goes ahead
    (outcome,) = world.apply(planned, act(ActionKind.DEACTIVATE, planned, planned.access_keys[0]))
    assert outcome.status == "applied"
    assert world.iam_keys("judy") == {key.key_id: "Inactive"}


def test_the_announced_deadline_of_a_replaced_key_stands_even_if_it_is_still_used(world: World) -> None:
    # Given the old key of a rotation at its announced deadline, still used by a workload that did not switch
    karl = world.make_user("karl", KeyStatus.ACTIVE)
    (key,) = karl.access_keys
    assert key.key_id is not None
    used_in_iam("karl", key.key_id, NOW - timedelta(hours=1))
    planned = as_planned(karl, NOW - timedelta(days=2))
    action = act(ActionKind.DEACTIVATE, planned, planned.access_keys[0], reason=Reason.KEY_REPLACED_OVERDUE)
    world.counter.reset()
    # Then the deadline the owner was given is kept (use does not void a replacement's deadline)
    (outcome,) = world.apply(planned, action)
    assert outcome.status == "applied"
    assert "iam:GetAccessKeyLastUsed" not in world.counter.snapshot()


def test_deactivate_sets_the_key_inactive_and_records_why(world: World) -> None:
    # Given a user with an active key
    erin = world.make_user("erin", KeyStatus.ACTIVE)
    (key,) = erin.access_keys
    # When the key is deactivated, then the same action is applied again
    (first,) = world.apply(erin, act(ActionKind.DEACTIVATE, erin, key))
    (second,) = world.apply(world.user("erin"), act(ActionKind.DEACTIVATE, erin, key))
    # Then IAM has it inactive, the record says when and why, and the repeat is a noop
    assert (first.status, second.status) == ("applied", "noop")
    assert world.iam_keys("erin") == {key.key_id: "Inactive"}
    record = world.state.load_records(ACCOUNT)[key_ref("erin", key.created)]
    assert record.deactivated_at == NOW
    assert record.deactivation_reason == "key_unused"


def test_delete_removes_an_inactive_key(world: World) -> None:
    # Given a user with an inactive key that has a record
    frank = world.make_user("frank", KeyStatus.INACTIVE)
    (key,) = frank.access_keys
    world.state.record_first_seen_inactive(ACCOUNT, "frank", key, at=NOW - timedelta(days=40))
    # When it is deleted
    (outcome,) = world.apply(frank, act(ActionKind.DELETE, frank, key))
    # Then IAM no longer has it and its record is retired
    assert outcome.status == "applied"
    assert world.iam_keys("frank") == {}
    assert key_ref("frank", key.created) not in world.state.load_records(ACCOUNT)


def test_delete_of_a_key_already_gone_is_a_noop(world: World) -> None:
    # Given a user read with an inactive key that someone deleted since
    grace = world.make_user("grace", KeyStatus.INACTIVE)
    (key,) = grace.access_keys
    assert key.key_id is not None
    world.iam.delete_access_key(UserName="grace", AccessKeyId=key.key_id)
    # When the (stale) delete is applied
    (outcome,) = world.apply(grace, act(ActionKind.DELETE, grace, key))
    # Then nothing fails: the key is simply gone
    assert outcome.status == "noop"
    assert "no longer exists" in outcome.detail


def test_delete_refuses_an_active_key(world: World) -> None:
    # Given a user with an active key
    heidi = world.make_user("heidi", KeyStatus.ACTIVE)
    (key,) = heidi.access_keys
    # When a delete is applied to it
    (outcome,) = world.apply(heidi, act(ActionKind.DELETE, heidi, key))
    # Then it is refused, saying why, and the key is still there and active
    assert outcome.status == "failed"
    assert "active" in outcome.detail
    assert world.iam_keys("heidi") == {key.key_id: "Active"}


def test_delete_refuses_a_key_reactivated_since_the_scan(world: World) -> None:
    # Given a user read with an inactive key, which the owner re-activates before the delete runs
    ivan = world.make_user("ivan", KeyStatus.INACTIVE)
    (key,) = ivan.access_keys
    assert key.key_id is not None
    world.iam.update_access_key(UserName="ivan", AccessKeyId=key.key_id, Status="Active")
    # When the delete is applied with the stale view
    (outcome,) = world.apply(ivan, act(ActionKind.DELETE, ivan, key))
    # Then IAM is checked again and the now active key is kept
    assert outcome.status == "failed"
    assert "re-activated" in outcome.detail
    assert world.iam_keys("ivan") == {key.key_id: "Active"}


def test_an_unknown_key_status_is_never_acted_on(world: World) -> None:
    # Given a user whose key carries a status string that is not an IAM status
    judy = world.make_user("judy", KeyStatus.INACTIVE)
    (key,) = judy.access_keys
    odd = AccessKey(created=key.created, status="inactive", key_id=key.key_id)  # type: ignore[arg-type]
    judy_odd = User(name=judy.name, arn=judy.arn, access_keys=(odd,), keys_resolved=True)
    # When a delete is applied
    (outcome,) = world.apply(judy_odd, act(ActionKind.DELETE, judy_odd, odd))
    # Then it fails on validation and the key is kept
    assert outcome.status == "failed"
    assert "unknown access key status" in outcome.detail
    assert world.iam_keys("judy") == {key.key_id: "Inactive"}


# -- failures, reports, audit ------------------------------------------------------------------------


def test_one_failing_action_does_not_stop_the_next(world: World, caplog: pytest.LogCaptureFixture) -> None:
    # Given a user with an active key (to deactivate) and an inactive key (to delete), and IAM denying the
    # deactivation
    kate = world.make_user("kate", KeyStatus.ACTIVE, KeyStatus.INACTIVE)
    active, inactive = kate.access_keys
    actions = [
        act(ActionKind.DEACTIVATE, kate, active),
        act(ActionKind.DELETE, kate, inactive),
        warn(kate, active),
    ]
    # When the actions are applied
    with mock.patch.object(
        world.iam, "update_access_key", side_effect=client_error("AccessDenied", "UpdateAccessKey")
    ):
        outcomes = world.apply(kate, *actions)
    # Then the deactivation failed with the translated error, and the other actions still ran
    assert statuses(outcomes) == [("delete", "applied"), ("deactivate", "failed"), ("warn", "applied")]
    assert "AccessDenied" in outcomes[1].detail
    assert world.iam_keys("kate") == {active.key_id: "Active"}
    # And the failure was logged with the user and the key id
    (failure,) = [r for r in caplog.records if r.name == "credlife.executor" and r.levelno >= logging.ERROR]
    assert getattr(failure, "user", None) == "kate"
    assert getattr(failure, "key_id", None) == active.key_id
    assert getattr(failure, "outcome", None) == "failed"


def test_report_only_actions_are_audited_and_change_nothing(world: World) -> None:
    # Given a user with two active keys and a quota conflict, plus exempt and blocked rows
    liam = world.make_user("liam", KeyStatus.ACTIVE, KeyStatus.ACTIVE)
    before = world.iam_keys("liam")
    key = liam.access_keys[0]
    actions = [
        act(ActionKind.ALERT, liam, key, severity=Severity.CRITICAL, detail="both keys active"),
        act(ActionKind.BLOCKED, liam, key),
        act(ActionKind.EXEMPT, liam, key),
    ]
    world.counter.reset()
    # When they are applied
    outcomes = world.apply(liam, *actions)
    # Then each is reported, IAM is untouched, and each has an intent and a result
    assert statuses(outcomes) == [("alert", "reported"), ("blocked", "reported"), ("exempt", "reported")]
    assert outcomes[0].detail == "both keys active"
    assert world.counter.total("iam") == 0
    assert world.iam_keys("liam") == before
    assert [e.outcome for e in world.audit() if e.phase == "result"] == ["reported"] * 3


def test_no_action_runs_without_its_audit_intent(world: World) -> None:
    # Given a state store whose audit writes fail
    mia = world.make_user("mia", KeyStatus.ACTIVE)
    (key,) = mia.access_keys
    failing = mock.patch.object(
        world.state, "write_audit", side_effect=AwsError("dynamodb:PutItem", "InternalServerError")
    )
    # When a deactivation is applied
    with failing:
        (outcome,) = world.apply(mia, act(ActionKind.DEACTIVATE, mia, key))
    # Then it is not attempted, and says why
    assert outcome.status == "failed"
    assert "audit intent" in outcome.detail
    assert world.iam_keys("mia") == {key.key_id: "Active"}


def test_the_result_audit_holds_the_outcome_and_new_key_id(world: World) -> None:
    # Given a user due for rotation
    noah = world.make_user("noah", KeyStatus.ACTIVE)
    (key,) = noah.access_keys
    # When the key is rotated
    (outcome,) = world.apply(noah, act(ActionKind.ROTATE, noah, key))
    # Then the result entry names the new key and the secret, and both entries carry the plan row
    intent, result = world.audit()
    assert intent.action == result.action == act(ActionKind.ROTATE, noah, key).as_row()
    assert result.outcome == "applied"
    assert f"new_key_id={outcome.new_key_id}" in result.detail
    assert "secret_name=credlife/access-keys/noah" in result.detail
    assert intent.run_id == result.run_id == RUN


def test_only_the_declared_iam_actions_are_called(world: World) -> None:
    # Given users due for rotation, deactivation and deletion
    olga = world.make_user("olga", KeyStatus.ACTIVE)
    pete = world.make_user("pete", KeyStatus.INACTIVE, KeyStatus.ACTIVE)
    world.counter.reset()
    # When those actions are applied
    world.apply(olga, act(ActionKind.ROTATE, olga, olga.access_keys[0]))
    world.apply(
        pete,
        act(ActionKind.DELETE, pete, pete.access_keys[0]),
        act(ActionKind.DEACTIVATE, pete, pete.access_keys[1]),
    )
    # Then the IAM calls made are exactly the executor's access-key actions (all declared in REQUIRED_ACTIONS;
    # the other credentials' actions are checked in test_credential_actions.py)
    # and the key's last use, re-read right before deleting it (read before you break)
    called = {name for name in world.counter.snapshot() if name.startswith("iam:")}
    assert called == {*KEY_ACTIONS, "iam:GetAccessKeyLastUsed"}
    assert called <= set(REQUIRED_ACTIONS)


def test_a_throttled_result_row_is_written_on_a_later_attempt(world: World) -> None:
    # Given an unused key to deactivate and the state table throttling the first two result writes
    # (injected: moto never throttles)
    alice = world.make_user("alice", KeyStatus.ACTIVE)
    (key,) = alice.access_keys
    real = world.state.write_audit
    refused: list[str] = []

    def flaky(account_id: str, entry: AuditEntry) -> None:
        if entry.phase == "result" and len(refused) < 2:
            refused.append(entry.phase)
            raise Throttled("dynamodb:PutItem", "ThrottlingException")
        real(account_id, entry)

    sleeps: list[float] = []
    world.executor._sleep = sleeps.append  # no real pauses in the test
    with mock.patch.object(world.state, "write_audit", side_effect=flaky):
        (outcome,) = world.apply(alice, act(ActionKind.DEACTIVATE, alice, key))
    # Then the action is on record before and after, and the outcome says nothing went missing
    assert outcome.status == "applied"
    assert "audit result not written" not in outcome.detail
    assert [(e.phase, e.outcome) for e in world.audit()] == [("intent", ""), ("result", "applied")]
    assert refused == ["result", "result"]
    assert len(sleeps) == 2
