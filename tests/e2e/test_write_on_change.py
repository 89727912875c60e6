"""Write only on change: a row that changes nothing (report-only, dry-run) is audited once per episode,
keys are listed only for rows that need their ids, and a row that comes back is audited again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.iam.models import iam_backends

from credlife.aws.factory import build_runtime
from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.config import parse_settings
from tests.e2e.conftest import ACCOUNT, REGION, SENDER, Account, naive_utc

pytestmark = pytest.mark.e2e

TABLE = "credlife-e2e-state"
NOW = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)


def _runtime(aws: Account) -> Any:
    create_state_table(aws.dynamodb, TABLE)
    boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
    settings = parse_settings(
        {
            "state_table": TABLE,
            "sender_email": SENDER,
            "policy": {"dry_run": True, "path_prefixes": ["/people/"]},
        }
    )
    return build_runtime(settings, boto3.Session(region_name=REGION))


def _day(runtime: Any, n: int) -> tuple[Any, dict[str, int]]:
    iam_backends[ACCOUNT]["global"].credential_report = None  # each day reads a fresh report
    runtime.counter.reset()
    summary = runtime.service.run(NOW + timedelta(days=n))
    return summary, runtime.counter.snapshot()


def _audited(aws: Account, run_id: str, user: str) -> list[tuple[str, str]]:
    store = DynamoStateStore(TABLE, aws.dynamodb)
    return [
        (e.phase, str(e.action.get("action")))
        for e in store.audit_log(ACCOUNT)
        if e.run_id == run_id and e.action.get("user") == user and e.phase in ("intent", "result")
    ]


def test_a_quiet_row_is_audited_once_per_episode_and_again_when_it_comes_back(aws: Account) -> None:
    # Given an exempt service user with an old key, and a person whose old key is due (dry-run)
    aws.user("svc", now=NOW, path="/system/")
    aws.key("svc", now=NOW, age=200, used_ago=1)
    aws.user("ana", now=NOW, path="/people/")
    ana_key = aws.key("ana", now=NOW, age=120, used_ago=1)
    runtime = _runtime(aws)

    # When the first day runs, the exempt row and ana's dry-run rotation are audited before and after
    first, _ = _day(runtime, 0)
    assert _audited(aws, first.run_id, "svc") == [("intent", "exempt"), ("result", "exempt")]
    assert _audited(aws, first.run_id, "ana") == [("intent", "rotate"), ("result", "rotate")]

    # When the next day plans the same rows, nothing about them is written and no key is listed
    second, calls = _day(runtime, 1)
    assert {a.user for a in second.actions} >= {"svc", "ana"}
    assert all(a.repeat for a in second.actions if a.user in ("svc", "ana"))
    assert _audited(aws, second.run_id, "svc") == []
    assert _audited(aws, second.run_id, "ana") == []
    assert calls.get("iam:ListAccessKeys", 0) == 0
    writes = ("PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem")
    assert {w: calls.get(f"dynamodb:{w}", 0) for w in writes} == dict.fromkeys(writes, 0)
    # ... and the repeated rows still name the key by id, from the episode marker
    assert {a.key_id for a in second.actions if a.user == "ana"} == {ana_key}

    # When the exemption ends for a day and comes back, the exempt row is a new episode: audited again
    aws.iam.update_user(UserName="svc", NewPath="/people/")
    _day(runtime, 2)
    aws.iam.update_user(UserName="svc", NewPath="/system/")
    fourth, _ = _day(runtime, 3)
    assert _audited(aws, fourth.run_id, "svc") == [("intent", "exempt"), ("result", "exempt")]


def test_the_reset_flag_is_read_only_for_a_never_used_password_a_row_is_about(aws: Account) -> None:
    # Given two console users who never signed in: one new with MFA (nothing due), one long unused
    for name in ("calm", "due"):
        aws.user(name, now=NOW, path="/people/")
        aws.iam.create_login_profile(UserName=name, Password="Correct-Horse-9!")
    iam_backends[ACCOUNT]["global"].users["calm"].create_date = naive_utc(NOW - timedelta(days=1))
    serial = aws.iam.create_virtual_mfa_device(VirtualMFADeviceName="calm-phone")["VirtualMFADevice"][
        "SerialNumber"
    ]
    aws.iam.enable_mfa_device(
        UserName="calm", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    runtime = _runtime(aws)
    # When the scheduled run plans them
    summary, calls = _day(runtime, 0)
    # Then only the user with a console row planned has its login profile read
    rows = {a.user for a in summary.actions}
    assert "due" in rows
    assert "calm" not in rows
    assert calls.get("iam:GetLoginProfile", 0) == 1
