"""Issue 4 end to end: console users without MFA and unused console passwords through the real scheduled
handler, and the `EnableMFADevice` event through the real event handler, against moto.

moto cannot evaluate the require-MFA policy's Condition (tests/unit/test_mfa_policy.py asserts the document);
here the policy is a moto managed policy and we check it is attached after the grace and detached at once
when the IAM event arrives."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from moto.iam.models import iam_backends

from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.domain.mfa_policy import POLICY_NAME, require_mfa_policy_document
from credlife.handlers import events as event_handler
from credlife.handlers import scheduled
from tests.e2e.conftest import ACCOUNT, EVENTS, Account, LambdaContext, naive_utc, scheduled_event

pytestmark = pytest.mark.e2e

TABLE = "credlife-console-e2e"
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
    event_handler.use_runtime(None)
    yield aws, arn
    scheduled.use_runtime(None)
    event_handler.use_runtime(None)


def console_user(aws: Account, name: str, *, created: datetime, used: datetime | None) -> None:
    aws.iam.create_user(UserName=name, Tags=[{"Key": "owner", "Value": f"{name}@example.com"}])
    aws.iam.create_login_profile(UserName=name, Password="Correct-Horse-9!")
    stored = iam_backends[ACCOUNT]["global"].users[name]
    stored.create_date = naive_utc(created)
    stored.password_last_used = naive_utc(used) if used else None  # type: ignore[assignment]


def run(at: datetime) -> dict[str, Any]:
    with time_machine.travel(at, tick=False):
        result: dict[str, Any] = scheduled.handler(scheduled_event(at), LambdaContext())
    return result


def attached(aws: Account, name: str) -> list[str]:
    return [p["PolicyArn"] for p in aws.iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]]


def enable_mfa_event(name: str, at: datetime) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / "iam-enable-mfa-device.json").read_text()))
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    event["time"] = event["detail"]["eventTime"] = stamp
    event["detail"]["requestParameters"]["userName"] = name
    event["detail"]["userIdentity"]["userName"] = name
    event["detail"]["userIdentity"]["arn"] = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    event["detail"]["eventID"] = f"enable-mfa-{name}-{stamp}"
    return event


def test_enforcement_attached_after_the_grace_and_detached_on_enable_mfa_device(
    env: tuple[Account, str],
) -> None:
    aws, arn = env
    # Given a console user without MFA who signs in daily
    console_user(aws, "nomfa", created=DAY0 - timedelta(days=30), used=DAY0 - timedelta(days=1))
    # When the daily run sees them first: warned, nothing attached; the detection is persisted
    first = run(DAY0)
    assert first["outcomes"] == {"warn:applied": 1}
    assert attached(aws, "nomfa") == []
    (record,) = DynamoStateStore(TABLE, aws.dynamodb).load_credential_records(ACCOUNT).values()
    assert record.detected_at == DAY0
    # ... reminded on the way (3 days and 1 day before), never enforced early
    for day in range(1, 7):
        run(DAY0 + timedelta(days=day))
        assert attached(aws, "nomfa") == []
    # Then after the 7-day grace the require-MFA policy is attached
    enforced = run(DAY0 + timedelta(days=7))
    assert enforced["outcomes"] == {"enforce:applied": 1}
    assert attached(aws, "nomfa") == [arn]
    # When the user enables a virtual MFA device and the IAM event arrives
    serial = aws.iam.create_virtual_mfa_device(VirtualMFADeviceName="nomfa-phone")["VirtualMFADevice"][
        "SerialNumber"
    ]
    aws.iam.enable_mfa_device(
        UserName="nomfa", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    at = DAY0 + timedelta(days=7, hours=3)
    response = event_handler.handler(
        enable_mfa_event("nomfa", at), LambdaContext(function_name="credlife-events")
    )
    # Then the enforcement is lifted at once (not at the next scan), and audited before and after
    assert response["status"] == "ok"
    assert attached(aws, "nomfa") == []
    entries = DynamoStateStore(TABLE, aws.dynamodb).audit_log(ACCOUNT)
    lifts = [(e.phase, e.outcome) for e in entries if e.action["action"] == "lift"]
    assert lifts == [("intent", ""), ("result", "applied")]
    # And the next scan has nothing more to do for the user
    later = run(DAY0 + timedelta(days=8))
    assert later["outcomes"] == {}
    assert attached(aws, "nomfa") == []


def test_lifted_at_the_next_scan_when_the_event_never_came(env: tuple[Account, str]) -> None:
    aws, arn = env
    console_user(aws, "late", created=DAY0 - timedelta(days=30), used=DAY0 - timedelta(days=1))
    for day in range(8):
        run(DAY0 + timedelta(days=day))
    assert attached(aws, "late") == [arn]
    serial = aws.iam.create_virtual_mfa_device(VirtualMFADeviceName="late-phone")["VirtualMFADevice"][
        "SerialNumber"
    ]
    aws.iam.enable_mfa_device(
        UserName="late", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    result = run(DAY0 + timedelta(days=9))
    assert result["outcomes"] == {"lift:applied": 1}
    assert attached(aws, "late") == []


def test_unused_console_password_warned_then_deleted(env: tuple[Account, str]) -> None:
    aws, _ = env
    # Given a console user with MFA whose password was last used 40 days ago
    console_user(aws, "idle", created=DAY0 - timedelta(days=200), used=DAY0 - timedelta(days=40))
    iam_backends[ACCOUNT]["global"].users["idle"].mfa_devices["arn:aws:iam::123456789012:mfa/idle"] = (
        _fake_mfa()
    )
    # When the runs go on: warned 7 days before the 45-day mark, deleted at it
    assert run(DAY0)["outcomes"] == {"warn:applied": 1}
    assert aws.iam.get_login_profile(UserName="idle")["LoginProfile"]
    result = run(DAY0 + timedelta(days=7))
    assert result["outcomes"] == {"delete:applied": 1}
    with pytest.raises(aws.iam.exceptions.NoSuchEntityException):
        aws.iam.get_login_profile(UserName="idle")


def test_user_mid_reset_is_reported_and_left_alone(env: tuple[Account, str]) -> None:
    aws, _ = env
    console_user(aws, "newbie", created=DAY0 - timedelta(days=100), used=None)
    iam_backends[ACCOUNT]["global"].users["newbie"].password_reset_required = True
    result = run(DAY0)
    assert result["outcomes"] == {"alert:reported": 1}
    assert aws.iam.get_login_profile(UserName="newbie")["LoginProfile"]
    assert attached(aws, "newbie") == []


def _fake_mfa() -> Any:
    from moto.iam.models import MFADevice

    return MFADevice("arn:aws:iam::123456789012:mfa/idle", "123456", "654321")


def test_plan_json_lists_console_mfa_and_password_policy_rows(
    env: tuple[Account, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from credlife.cli import main

    aws, _ = env
    console_user(aws, "nomfa", created=DAY0 - timedelta(days=30), used=DAY0 - timedelta(days=1))
    aws.iam.update_account_password_policy(MinimumPasswordLength=8)
    with time_machine.travel(DAY0, tick=False):
        code = main(["plan", "--json"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert code == 1
    assert {(r["user"], r["credential"], r["action"], r["reason"]) for r in rows} == {
        ("nomfa", "mfa", "warn", "console_no_mfa"),
        ("<account>", "password_policy", "alert", "password_policy_weak"),
    }
    warn = next(r for r in rows if r["user"] == "nomfa")
    assert warn["warns_of"] == "enforce"
    assert warn["deadline"] == "2026-06-08T06:00:00Z"
    assert warn["control"] == "CIS 2.10 / IAM.5"
