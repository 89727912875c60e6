# ruff: noqa: F811 - the `env` fixture is imported from the notifications tests
"""The minimum notice counts from delivery, and retirement before the deadline needs proof: the scheduled
handler against moto, day by day, reading what SES delivered and what IAM holds.

Faults moto cannot produce (SES refusing mail, a throttled outbox write) are injected at the botocore call
(`failing` in tests/e2e/conftest.py, or the hook below that matches an outbox write by its item)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from credlife.aws.state_store import DynamoStateStore
from tests.e2e.conftest import ACCOUNT, failing
from tests.e2e.test_notifications import NOW, TABLE, Env, env, invoke  # noqa: F401 - `env` is a fixture

pytestmark = pytest.mark.e2e

OWNER = "ana@example.com"


def day(n: float) -> datetime:
    return NOW + timedelta(days=n)


def owner_mails(env: Env) -> list[str]:
    return [m.text for m in env.emails() if m.to == OWNER]


@contextmanager
def outbox_writes_fail(code: str = "ThrottlingException") -> Iterator[list[str]]:
    """Every DynamoDB write that would store an outbox item fails (a single `PutItem` or a transaction
    holding one); everything else goes to moto. Yields the failed operations."""
    real = BaseClient._make_api_call  # type: ignore[attr-defined]
    failed: list[str] = []

    def holds_outbox(params: dict[str, Any]) -> bool:
        items = [params.get("Item", {})]
        items += [t.get("Put", {}).get("Item", {}) for t in params.get("TransactItems", [])]
        return any(str(i.get("pk", {}).get("S", "")).startswith("OUTBOX#") for i in items)

    def call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation in {"PutItem", "TransactWriteItems"} and holds_outbox(copy.deepcopy(params)):
            failed.append(operation)
            raise ClientError({"Error": {"Code": code, "Message": "injected by the test"}}, operation)
        return real(self, operation, params)

    with mock.patch.object(BaseClient, "_make_api_call", call):
        yield failed


def unused_key(env: Env) -> str:
    """Ana's key, unused for 60 days: due for deactivation (after a delivered notice)."""
    env.aws.user("ana.idle", now=NOW, tags={"owner": OWNER})
    return env.aws.key("ana.idle", now=NOW, age=200, used_ago=60)


def walk(env: Env, days: range, *, during: Callable[[], Any] | None = None) -> dict[int, str]:
    """Run the handler once a day; the key's status after each run."""
    status: dict[int, str] = {}
    for n in days:
        if during is not None:
            with during():
                invoke(day(n))
        else:
            invoke(day(n))
        status[n] = next(iter(env.aws.keys("ana.idle").values()))
    return status


def test_an_undelivered_notice_postpones_the_deadline_and_the_late_notice_says_so(env: Env) -> None:
    # Given an unused key and SES refusing every email for the first 9 days
    key_id = unused_key(env)
    refused = walk(env, range(9), during=lambda: failing("SendEmail", "MessageRejected"))
    # Then the key stays active all that time, although a deadline 7 days after the first run passed
    assert set(refused.values()) == {"Active"}, refused
    assert owner_mails(env) == []
    # ... and the security topic heard, every run, that the owner cannot be reached
    summaries = [m for _, m in env.topic_messages()]
    assert len(summaries) == 9
    assert all(any("could not be reached" in f for f in s["failures"]) for s in summaries)
    # When SES accepts mail again (day 9)
    after = walk(env, range(9, 17))
    # Then the owner got the notice once, naming the key, with the deadline 7 days after its delivery (and
    # the day it passed, that the key was deactivated)
    mail, done = owner_mails(env)
    assert key_id in mail
    assert "was deactivated" in done
    assert "will be deactivated on 2026-06-17 06:00 UTC" in mail  # day 9 + 7 days
    assert "could not be delivered earlier" in mail
    # ... and the key was deactivated on that day, not before
    assert {n for n, s in after.items() if s == "Active"} == set(range(9, 16))
    assert after[16] == "Inactive"


def test_a_failed_outbox_write_records_no_notice_and_the_next_run_warns_again(env: Env) -> None:
    # Given an unused key and the first run's outbox write throttled
    key_id = unused_key(env)
    with outbox_writes_fail() as failed:
        first = invoke(day(0))
    assert failed
    assert first["status"] == "failed", first
    # Then no notice counts: no email, and the state table holds no notice for the key
    assert owner_mails(env) == []
    records = DynamoStateStore(TABLE, env.aws.dynamodb).load_records(ACCOUNT)
    assert all(not r.notices for r in records.values())
    # When the days go on with the table healthy
    statuses = walk(env, range(1, 9))
    # Then the next run warned (delivered on day 1) and the key was deactivated 7 days after that delivery
    mail, _ = owner_mails(env)
    assert key_id in mail
    assert "will be deactivated on 2026-06-09 06:00 UTC" in mail  # day 1 + 7 days
    assert {n for n, s in statuses.items() if s == "Active"} == set(range(1, 8))
    assert statuses[8] == "Inactive"


def test_a_fleet_half_on_the_old_key_keeps_it_until_the_announced_deadline(env: Env) -> None:
    # Given ana's aged key, rotated by the first run (the rotation message announces the old key's deadline)
    env.aws.user("ana.fleet", now=NOW, tags={"owner": OWNER})
    old = env.aws.key("ana.fleet", now=NOW, age=120, used_ago=1)
    invoke(day(0))
    new = next(k for k in env.aws.keys("ana.fleet") if k != old)
    statuses: dict[int, str] = {}
    # When one host uses the new key at 05:00 and another still uses the old key at 02:00, every day
    for n in range(1, 15):
        env.aws.use("ana.fleet", old, at=day(n) - timedelta(hours=4))
        env.aws.use("ana.fleet", new, at=day(n) - timedelta(hours=1))
        invoke(day(n))
        statuses[n] = env.aws.keys("ana.fleet")[old]
    # Then the old key is never taken for idle: it stays active until the deadline the owner was given
    # (rotation + 14 days), and only then is deactivated
    assert {n for n, s in statuses.items() if s == "Active"} == set(range(1, 14)), statuses
    assert statuses[14] == "Inactive"
    assert env.aws.keys("ana.fleet")[new] == "Active"


def test_a_key_the_owner_reactivated_is_not_deactivated_again_at_once(env: Env) -> None:
    # Given an unused key the lifecycle deactivated after its notice
    key_id = unused_key(env)
    statuses = walk(env, range(8))
    assert statuses[7] == "Inactive"
    # When the owner turns it back on ("still needed") and does not use it yet
    env.aws.iam.update_access_key(UserName="ana.idle", AccessKeyId=key_id, Status="Active")
    after = walk(env, range(8, 16))
    # Then it is not deactivated again before a new notice's full notice period
    assert {n for n, s in after.items() if s == "Active"} == set(range(8, 15)), after
    mails = owner_mails(env)
    assert len(mails) == 3  # the first notice, the deactivation, the new notice
    assert "will be deactivated on 2026-06-16 06:00 UTC" in mails[2]


def test_without_an_email_sender_owner_notices_never_count(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a live deployment with no SES sender: owner notices can only be logged
    monkeypatch.delenv("CREDLIFE_SENDER_EMAIL")
    unused_key(env)
    # When the days pass well beyond the notice period
    statuses = walk(env, range(12))
    # Then the unused key is never deactivated: a log line is not a notice anybody received
    assert set(statuses.values()) == {"Active"}, statuses
    assert env.emails() == []
    # ... and every run tells the security team the owner cannot be reached, and why
    summaries = [m for _, m in env.topic_messages()]
    assert len(summaries) == 12
    assert all(
        any("could not be reached (no e-mail sender configured" in f for f in s["failures"])
        for s in summaries
    )
