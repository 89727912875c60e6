"""The promise's guards end to end (real scheduled handler, moto, the real clock moved with time travel):
MFA enforcement that never touches access keys and is lifted once nothing justifies it, and fresh facts
read right before a disruptive step.

moto cannot evaluate the require-MFA policy's Condition: the document attached in moto is asserted
statement by statement. moto's credential report is rebuilt on every read, so a report older than the
facts cannot be produced by seeding alone: `used_after_the_inventory` records the workload's use right
after the run's inventory read IAM (a hook on `IamInventory.users`), which is exactly what an up to
4 hours old credential report looks like to the run."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
import time_machine
from moto.iam.models import iam_backends

from credlife.aws.inventory import IamInventory
from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.domain.mfa_policy import POLICY_NAME, require_mfa_policy_document
from credlife.handlers import scheduled
from tests.e2e.conftest import ACCOUNT, Account, LambdaContext, naive_utc, scheduled_event

pytestmark = pytest.mark.e2e

TABLE = "credlife-guards-e2e"
DAY0 = datetime.fromisoformat("2026-06-01T06:00:00+00:00")


@pytest.fixture
def env(aws: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Account, str]]:
    arn = aws.iam.create_policy(
        PolicyName=POLICY_NAME, PolicyDocument=json.dumps(require_mfa_policy_document())
    )["Policy"]["Arn"]
    monkeypatch.setenv("CREDLIFE_STATE_TABLE", TABLE)
    monkeypatch.setenv("CREDLIFE_DRY_RUN", "false")
    monkeypatch.setenv("CREDLIFE_REQUIRE_MFA_POLICY_ARN", arn)
    create_state_table(aws.dynamodb, TABLE)
    scheduled.use_runtime(None)
    yield aws, arn
    scheduled.use_runtime(None)


def run(at: datetime) -> dict[str, Any]:
    """One daily run, the real clock at `at`."""
    with time_machine.travel(at, tick=False):
        result: dict[str, Any] = scheduled.handler(scheduled_event(at), LambdaContext())
    return result


def console_user(
    aws: Account, name: str, *, used: datetime | None, tags: dict[str, str] | None = None
) -> None:
    tagged = {"owner": f"{name}@example.com", **(tags or {})}
    aws.iam.create_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in tagged.items()])
    aws.iam.create_login_profile(UserName=name, Password="Correct-Horse-9!")
    stored = iam_backends[ACCOUNT]["global"].users[name]
    stored.create_date = naive_utc(DAY0 - timedelta(days=300))
    stored.password_last_used = naive_utc(used) if used else None  # type: ignore[assignment]


def attached(aws: Account, name: str) -> list[str]:
    return [p["PolicyArn"] for p in aws.iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]]


def enforced_console_user(aws: Account, arn: str, name: str) -> None:
    """A console user without MFA, warned at DAY0 and enforced after the 7-day grace."""
    console_user(aws, name, used=DAY0 - timedelta(days=1))
    for day in range(8):
        run(DAY0 + timedelta(days=day))
    assert attached(aws, name) == [arn]


@contextmanager
def used_after_the_inventory(action: Callable[[], None]) -> Iterator[None]:
    """Run `action` (a use recorded in moto) right after the run's inventory read IAM: the run then plans
    from facts older than IAM's, as with a credential report up to 4 hours old."""
    real = IamInventory.users

    def users(self: IamInventory) -> Any:
        found = real(self)
        action()
        return found

    with mock.patch.object(IamInventory, "users", users):
        yield


def audit_results(aws: Account, action: str) -> list[tuple[str, str]]:
    entries = DynamoStateStore(TABLE, aws.dynamodb).audit_log(ACCOUNT)
    return [(e.outcome, e.detail) for e in entries if e.phase == "result" and e.action["action"] == action]


# -- MFA enforcement must not touch access keys ------------------------------------------------------


def test_the_enforced_policy_never_denies_calls_signed_with_the_users_access_keys(
    env: tuple[Account, str],
) -> None:
    # Given a console user without MFA whose access key a workload uses daily
    aws, arn = env
    console_user(aws, "dora", used=DAY0 - timedelta(days=1))
    aws.key("dora", now=DAY0, age=10, used_ago=0.1)
    # When the grace runs out and the enforcement is attached
    for day in range(8):
        result = run(DAY0 + timedelta(days=day))
    assert result["outcomes"] == {"enforce:applied": 1}
    assert attached(aws, "dora") == [arn]
    # Then the policy attached in IAM denies only sessions that say "no MFA": the deny's condition is a
    # plain Bool on aws:MultiFactorAuthPresent = false (absent in access-key calls), never ...IfExists
    version = aws.iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    raw: Any = aws.iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    document: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else raw
    denies = [s for s in document["Statement"] if s["Effect"] == "Deny"]
    assert [s["Condition"] for s in denies] == [{"Bool": {"aws:MultiFactorAuthPresent": "false"}}]
    # And the notices said so
    entries = DynamoStateStore(TABLE, aws.dynamodb).audit_log(ACCOUNT)
    warned = [e for e in entries if e.action["action"] == "warn" and e.action["credential"] == "mfa"]
    assert warned
    assert all("access keys are not affected" in str(e.action["detail"]) for e in warned)


def test_enforcement_is_lifted_once_the_console_password_is_deleted_by_hand(env: tuple[Account, str]) -> None:
    # Given an enforced console user without MFA
    aws, arn = env
    enforced_console_user(aws, arn, "erin")
    # When an administrator removes the console password
    aws.iam.delete_login_profile(UserName="erin")
    result = run(DAY0 + timedelta(days=9))
    # Then nothing justifies the enforcement any more: the next scan lifts it, audited
    assert result["outcomes"] == {"lift:applied": 1}
    assert attached(aws, "erin") == []
    assert audit_results(aws, "lift") == [("applied", f"detached {arn}")]
    # And nothing more happens afterwards
    assert run(DAY0 + timedelta(days=10))["outcomes"] == {}


def test_enforcement_is_lifted_when_the_user_becomes_exempt(env: tuple[Account, str]) -> None:
    aws, arn = env
    enforced_console_user(aws, arn, "fred")
    aws.iam.tag_user(UserName="fred", Tags=[{"Key": "credlife:exempt", "Value": "true"}])
    result = run(DAY0 + timedelta(days=9))
    assert result["outcomes"] == {"exempt:reported": 1, "lift:applied": 1}
    assert attached(aws, "fred") == []


# -- read before you break --------------------------------------------------------------------------


def test_a_key_used_after_the_report_is_not_deactivated_and_its_episode_ends(
    env: tuple[Account, str],
) -> None:
    # Given an unused key (60 days old, last used 50 days before DAY0), warned at DAY0: 7-day deadline
    aws, _ = env
    user = aws.user("gil", now=DAY0, tags={"owner": "gil@example.com"})
    key = aws.key(user, now=DAY0, age=60, used_ago=50)
    assert run(DAY0)["outcomes"] == {"warn:applied": 1}
    deadline = DAY0 + timedelta(days=7)
    # When, on the deadline, the workload uses the key after the run read the (older) facts
    used_at = deadline - timedelta(hours=1)
    with used_after_the_inventory(lambda: aws.use(user, key, at=used_at)):
        result = run(deadline)
    # Then the fresh last use voids the deactivation: skipped, audited with when, the key still active
    assert result["outcomes"] == {"deactivate:skipped": 1}
    assert aws.keys(user) == {key: "Active"}
    ((outcome, detail),) = audit_results(aws, "deactivate")
    assert outcome == "skipped"
    assert detail.startswith(f"used since the plan: {used_at:%Y-%m-%d %H:%M}Z")
    # And the episode is over: the next runs see the new last use and do nothing
    assert run(deadline + timedelta(days=1))["outcomes"] == {}
    # and when the key is idle again, a new notice with a new deadline comes first (the old notice
    # does not count): warned, never deactivated at once
    again = used_at + timedelta(days=45)
    later = run(again)
    assert later["outcomes"] == {"warn:applied": 1}
    assert aws.keys(user) == {key: "Active"}


def test_a_console_password_used_after_the_report_is_not_deleted(env: tuple[Account, str]) -> None:
    # Given a console user with MFA whose password was last used 40 days before DAY0 (deleted at 45)
    aws, _ = env
    console_user(aws, "hana", used=DAY0 - timedelta(days=40))
    serial = aws.iam.create_virtual_mfa_device(VirtualMFADeviceName="hana")["VirtualMFADevice"][
        "SerialNumber"
    ]
    aws.iam.enable_mfa_device(
        UserName="hana", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    assert run(DAY0)["outcomes"] == {"warn:applied": 1}
    deadline = DAY0 + timedelta(days=7)
    # When the user signs in on the deadline, after the run read the facts
    signed_in = deadline - timedelta(minutes=30)

    def sign_in() -> None:
        stored = iam_backends[ACCOUNT]["global"].users["hana"]
        stored.password_last_used = naive_utc(signed_in)  # type: ignore[assignment]

    with used_after_the_inventory(sign_in):
        result = run(deadline)
    # Then the password is kept, and the skip is audited with when
    assert result["outcomes"] == {"delete:skipped": 1}
    aws.iam.get_login_profile(UserName="hana")
    assert audit_results(aws, "delete") == [("skipped", f"used since the plan: {signed_in:%Y-%m-%d %H:%M}Z")]
    assert run(deadline + timedelta(days=1))["outcomes"] == {}
