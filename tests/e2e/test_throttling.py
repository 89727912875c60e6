"""A lifecycle run under throttling (DESIGN §3: IAM throttles hard, report generation most of all)
completes, and a repeated run (SQS redelivery, an EventBridge retry) does no action twice.

moto never throttles, so `Throttling` ClientErrors are injected into chosen calls (the n-th call of an
operation); the inventory backs off and retries, sleeping through a recorder instead of the clock."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
import time_machine
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from credlife.aws.factory import build_runtime
from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.config import parse_settings
from credlife.handlers import scheduled
from tests.e2e.conftest import ACCOUNT, SENDER, Account, LambdaContext, event_time, scheduled_event

pytestmark = pytest.mark.e2e

TABLE = "credlife-throttle-state"
EVENT = scheduled_event()
NOW = event_time(EVENT)
#: Operation → which of its calls (1-based) are throttled.
THROTTLED = {
    "GenerateCredentialReport": {1, 2},
    "GetAccountAuthorizationDetails": {1},
    "ListAccessKeys": {1, 3},
    "CreateAccessKey": {1},
    "UpdateAccessKey": {1},
}


@contextmanager
def throttling(plan: dict[str, set[int]]) -> Iterator[Counter[str]]:
    """Raise `Throttling` on the planned calls; every other call goes to moto. Yields the calls seen."""
    real = BaseClient._make_api_call  # type: ignore[attr-defined]
    seen: Counter[str] = Counter()

    def call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        seen[operation] += 1
        if seen[operation] in plan.get(operation, set()):
            seen[f"throttled:{operation}"] += 1
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, operation)
        return real(self, operation, copy.deepcopy(params))

    with mock.patch.object(BaseClient, "_make_api_call", call):
        yield seen


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr("time.sleep", recorded.append)
    return recorded


def test_throttled_run_completes_and_a_repeated_run_duplicates_nothing(
    aws: Account, sleeps: list[float]
) -> None:
    # Given two users whose keys are aged and in use (rotation due) and one with a young key
    create_state_table(aws.dynamodb, TABLE)
    for name in ("ana", "ben"):
        aws.user(name, now=NOW)
        aws.key(name, now=NOW, age=120, used_ago=1)
    aws.user("cy", now=NOW)
    aws.key("cy", now=NOW, age=10, used_ago=1)
    settings = parse_settings({"state_table": TABLE, "sender_email": SENDER, "policy": {"dry_run": False}})
    scheduled.use_runtime(build_runtime(settings))

    # When the scheduled run meets throttling on report generation, authorization details, key listing,
    # key creation and key updates, and the same event is then delivered again
    try:
        with throttling(THROTTLED) as seen, time_machine.travel(NOW, tick=False):
            first = scheduled.handler(EVENT, LambdaContext())
            scheduled.use_runtime(build_runtime(settings))
            second = scheduled.handler(EVENT, LambdaContext())
    finally:
        scheduled.use_runtime(None)

    # Then throttling really happened, and the inventory backed off instead of failing
    assert seen["throttled:GenerateCredentialReport"] == 2
    assert seen["throttled:GetAccountAuthorizationDetails"] == 1
    assert seen["throttled:ListAccessKeys"] == 2
    assert sleeps, "the inventory should have waited between attempts"
    # And after both runs each aged key was rotated exactly once: one new key, one secret
    assert {name: len(aws.keys(name)) for name in ("ana", "ben", "cy")} == {"ana": 2, "ben": 2, "cy": 1}
    assert sorted(s for s in aws.secret_versions() if s.startswith("credlife/")) == [
        "credlife/access-keys/ana",
        "credlife/access-keys/ben",
    ]
    # And no action was applied twice
    applied = Counter(
        (e.action["user"], e.action["action"], e.action["key_id"])
        for e in DynamoStateStore(TABLE, aws.dynamodb).audit_log(ACCOUNT)
        if e.phase == "result" and e.outcome == "applied"
    )
    assert applied
    assert max(applied.values()) == 1, applied
    assert first["status"] in {"ok", "failed"}
    assert second["status"] == "ok", second["failures"]
