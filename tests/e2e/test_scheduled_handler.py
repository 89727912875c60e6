"""The scheduled Lambda handler fed `events/scheduled.json` against moto, with its runtime built the way the
Lambda builds it: from environment variables (`CREDLIFE_STATE_TABLE`, `CREDLIFE_DRY_RUN`) at the first
invocation (`load_settings` + `build_runtime`).

Keys are aged through moto's stored state (see `tests/e2e/conftest.py`): created with the API, then their
`create_date` and `last_used` (`AccessKeyLastUsed`, naive UTC) set relative to the event's `time`. Handler
calls that may create keys run inside `time_machine.travel(<event time>, tick=False)`, so the CreateDate moto
gives a new key is the run's clock."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from credlife.aws.factory import build_runtime
from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.config import load_settings
from credlife.domain.actions import Action, ActionKind
from credlife.domain.models import KeyRecord, key_ref
from credlife.handlers import scheduled
from credlife.ports import AuditEntry
from tests.e2e.conftest import (
    ACCOUNT,
    EVENTS,
    Account,
    LambdaContext,
    Logs,
    event_time,
    failing,
    scheduled_event,
    secret_name,
)

pytestmark = pytest.mark.e2e

TABLE = "credlife-e2e-state"
EVENT = scheduled_event()
NOW = event_time(EVENT)  # 2026-06-01T06:00:00Z: the run's clock
CHANGING = {ActionKind.ROTATE.value, ActionKind.DEACTIVATE.value, ActionKind.DELETE.value}


@pytest.fixture
def lambda_env(aws: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    """The Lambda's environment: state table named in the environment, dry-run off, no runtime built yet."""
    monkeypatch.setenv("CREDLIFE_STATE_TABLE", TABLE)
    monkeypatch.setenv("CREDLIFE_DRY_RUN", "false")
    create_state_table(aws.dynamodb, TABLE)
    scheduled.use_runtime(None)
    try:
        yield aws
    finally:
        scheduled.use_runtime(None)


def invoke(event: Any = EVENT, *, now: datetime | None = None) -> dict[str, Any]:
    """One invocation, with moto's clock at the event's time (keys created now get that CreateDate)."""
    at = now or (event_time(event) if isinstance(event, dict) and "time" in event else NOW)
    with time_machine.travel(at, tick=False):
        response: dict[str, Any] = scheduled.handler(event, LambdaContext())
    return response


def store(aws: Account) -> DynamoStateStore:
    return DynamoStateStore(TABLE, aws.dynamodb)


def results(aws: Account, run_id: str | None = None) -> list[AuditEntry]:
    return [
        e
        for e in store(aws).audit_log(ACCOUNT)
        if e.phase == "result" and (run_id is None or e.run_id == run_id)
    ]


def record(aws: Account, user: str, key_id: str) -> KeyRecord | None:
    created = aws.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    when = next(m["CreateDate"] for m in created if m["AccessKeyId"] == key_id)
    return store(aws).load_records(ACCOUNT).get(key_ref(user, when))


@dataclass(frozen=True)
class Seeded:
    rotate: str = "ana.rotate"
    idle: str = "ben.idle"
    inactive: str = "cy.inactive"
    exempt: str = "dee.exempt"
    young: str = "eli.young"


def seed(aws: Account, now: datetime = NOW) -> tuple[Seeded, dict[str, str]]:
    """Five users, one key each: aged and in use, idle, inactive, aged but exempt, young. Returns the users
    and each one's original key id."""
    s = Seeded()
    spec: list[tuple[str, float, float | None, bool, dict[str, str] | None]] = [
        (s.rotate, 120, 1, True, None),
        (s.idle, 100, 60, True, None),
        (s.inactive, 200, 100, False, None),
        (s.exempt, 300, 1, True, {"credlife:exempt": "true"}),
        (s.young, 10, 1, True, None),
    ]
    keys = {}
    for name, age, used_ago, active, tags in spec:
        aws.user(name, now=now, tags=tags)
        keys[name] = aws.key(name, now=now, age=age, used_ago=used_ago, active=active)
    return s, keys


def plan_now(now: datetime = NOW) -> list[Action]:
    """What `credlife plan` would print: the read-only plan on a runtime built from the same environment."""
    summary, _ = build_runtime(load_settings()).service.plan(now)
    assert summary.failures == []
    return summary.actions


def signature(row: Any) -> tuple[str, str, str | None, str]:
    return (row["user"], row["action"], row["key_id"], row["reason"])


# -- 1. the plan, carried out ----------------------------------------------------------------------


def test_final_key_states_match_the_plan(lambda_env: Account) -> None:
    # Given five users (aged in use, idle, inactive, exempt, young) and the plan for the event's time
    aws = lambda_env
    users, original = seed(aws)
    planned = plan_now()
    by_user = {a.user: a for a in planned}
    assert {u: a.action.value for u, a in by_user.items()} == {
        users.rotate: "rotate",
        users.idle: "warn",
        users.exempt: "exempt",
    }
    before = aws.all_keys()

    # When the scheduled handler runs on the sample event
    response = invoke()

    # Then the run did exactly what the plan said ...
    assert response["status"] == "ok", response
    assert response["dry_run"] is False
    assert response["users"] == 5
    assert response["outcomes"] == {"rotate:applied": 1, "warn:applied": 1, "exempt:reported": 1}
    intents = [e for e in store(aws).audit_log(ACCOUNT) if e.phase == "intent"]
    assert sorted(signature(e.action) for e in intents) == sorted(signature(a.as_row()) for a in planned)

    # ... rotate: the old key kept, a new one beside it, handed over through the user's secret
    keys = aws.keys(users.rotate)
    assert len(keys) == 2
    assert keys[original[users.rotate]] == "Active"
    (new_id,) = set(keys) - {original[users.rotate]}
    assert keys[new_id] == "Active"
    handed_over = aws.secret(users.rotate)
    assert handed_over["UserName"] == users.rotate
    assert handed_over["AccessKeyId"] == new_id
    assert handed_over["SecretAccessKey"] == aws.stored_key(users.rotate, new_id).secret_access_key
    assert datetime.fromisoformat(handed_over["CreateDate"]) == NOW
    rotated = record(aws, users.rotate, original[users.rotate])
    assert rotated is not None
    assert rotated.rotated_at == NOW
    assert rotated.replacement_key_id == new_id

    # ... warn: no IAM change, the notice with its deadline is on record
    warned = by_user[users.idle]
    assert aws.keys(users.idle) == before[users.idle]
    idle_record = record(aws, users.idle, original[users.idle])
    assert idle_record is not None
    assert [(n.warns_of, n.stage, n.deadline, n.dry_run) for n in idle_record.notices] == [
        ("deactivate", warned.stage, warned.deadline, False)
    ]
    assert warned.deadline == NOW + timedelta(days=7)

    # ... exempt, inactive and young: untouched (the inactive key's delete clock starts now)
    for name in (users.exempt, users.inactive, users.young):
        assert aws.keys(name) == before[name], name
    inactive_record = record(aws, users.inactive, original[users.inactive])
    assert inactive_record is not None
    assert inactive_record.first_seen_inactive == NOW
    assert set(aws.secret_versions()) == {secret_name(users.rotate)}


# -- 2. idempotence ----------------------------------------------------------------------------------


def test_second_run_with_the_same_event_time_changes_no_key_and_no_secret(lambda_env: Account) -> None:
    # Given a first run has rotated, warned and reported
    aws = lambda_env
    users, _ = seed(aws)
    assert invoke()["outcomes"]["rotate:applied"] == 1
    keys_before, secrets_before = aws.all_keys(), aws.secret_versions()
    records_before = store(aws).load_records(ACCOUNT)

    # When the same scheduled event is delivered again (e.g. an async retry)
    second = invoke()

    # Then no key, secret version, rotation or deactivation changes, and nothing is rotated twice
    assert second["status"] == "ok", second
    assert aws.all_keys() == keys_before
    assert aws.secret_versions() == secrets_before
    records_after = store(aws).load_records(ACCOUNT)
    assert set(records_after) == set(records_before)
    for ref, before in records_before.items():
        after = records_after[ref]
        assert after == before, ref
    rerun = results(aws, second["run_id"])
    assert not [e for e in rerun if e.action["action"] in CHANGING and e.outcome != "noop"]
    assert {e.action["user"] for e in rerun} <= {users.rotate, users.exempt}


def test_second_run_with_the_same_event_time_only_reports(lambda_env: Account) -> None:
    # Given a first run has rotated, warned and reported
    aws = lambda_env
    seed(aws)
    invoke()

    # When the same scheduled event is delivered again
    second = invoke()

    # Then every action of the second run is a no-op or a report
    assert {e.outcome for e in results(aws, second["run_id"])} <= {"noop", "reported"}


# -- 3. the whole path over simulated days ---------------------------------------------------------


def test_rotation_then_safe_deactivation_then_deletion_over_days(lambda_env: Account) -> None:
    # Given an aged key in daily use by a workload that always picks the newest key
    aws = lambda_env
    user = aws.user("gil.path", now=NOW)
    old = aws.key(user, now=NOW, age=120, used_ago=1)

    def day(n: int) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
        now = NOW + timedelta(days=n)
        aws.use(user, aws.newest_key(user), at=now - timedelta(hours=1))
        response = invoke(scheduled_event(now))
        assert response["status"] == "ok", (n, response)
        rows = [
            (str(e.action["action"]), str(e.action["reason"]), e.outcome)
            for e in results(aws, response["run_id"])
        ]
        return response, rows

    # When the handler runs on day 0: the key is rotated
    _, rows = day(0)
    assert rows == [("rotate", "key_rotation_due", "applied")]
    keys = aws.keys(user)
    (new,) = set(keys) - {old}
    assert keys == {old: "Active", new: "Active"}
    assert aws.secret(user)["AccessKeyId"] == new

    # day 1: the workload has switched to the new key, but the old key has been idle only two days: a weekly
    # job could still need it, so nothing happens yet
    _, rows = day(1)
    assert rows == []
    assert aws.keys(user) == {old: "Active", new: "Active"}

    # day 7: the old key (last used an hour before the day-0 run) has been idle `safe_idle_days` (7) and
    # unused since the new key's first use: it is deactivated as safe, before the announced deadline
    _, rows = day(7)
    assert rows == [("deactivate", "key_replaced_safe", "applied")]
    assert aws.keys(user) == {old: "Inactive", new: "Active"}

    # day 14: its deletion (14 days after deactivation) is announced 7 days ahead
    _, rows = day(14)
    assert rows == [("warn", "inactive_key_cleanup", "applied")]
    assert aws.keys(user) == {old: "Inactive", new: "Active"}

    # day 21: deleted, after the notice; only the new key is left, still the one in the secret
    _, rows = day(21)
    assert rows == [("delete", "inactive_key_cleanup", "applied")]
    assert aws.keys(user) == {new: "Active"}
    assert aws.secret(user)["AccessKeyId"] == new
    assert len(aws.secret_versions()[secret_name(user)]) == 1


# -- 4. Secrets Manager failure --------------------------------------------------------------------


def test_secrets_manager_failure_leaves_no_orphan_key(lambda_env: Account) -> None:
    # Given an aged key due for rotation, and Secrets Manager refusing to create the secret
    aws = lambda_env
    user = aws.user("hal.vaultdown", now=NOW)
    original = aws.key(user, now=NOW, age=120, used_ago=1)

    # When the handler runs
    with failing("CreateSecret", "InternalServiceError") as failed:
        response = invoke()

    # Then the user has exactly its original key, and no secret exists
    assert len(failed) == 1
    assert aws.keys(user) == {original: "Active"}
    assert aws.secret_versions() == {}
    # ... the response says the run failed and names the failure
    assert response["status"] == "failed"
    assert response["outcomes"] == {"rotate:failed": 1}
    (failure,) = response["failures"]
    assert failure.startswith(f"{user}: rotate {original} failed")
    assert "could not store the new key in Secrets Manager" in failure
    assert "InternalServiceError" in failure
    assert "was deleted again" in failure
    # ... the audit has the intent and the failed result, and no rotation is on record
    trail = [
        (e.phase, e.action["action"], e.outcome)
        for e in store(aws).audit_log(ACCOUNT)
        if e.phase in {"intent", "result"}
    ]
    assert trail == [("intent", "rotate", ""), ("result", "rotate", "failed")]
    kept = record(aws, user, original)
    assert kept is None or kept.rotated_at is None


# -- 5. dry-run --------------------------------------------------------------------------------------


def test_dry_run_by_default_changes_nothing_and_audits_dry_run(
    lambda_env: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the Lambda deployed without CREDLIFE_DRY_RUN (dry-run is the default)
    aws = lambda_env
    monkeypatch.delenv("CREDLIFE_DRY_RUN")
    users, _ = seed(aws)
    before = aws.all_keys()

    # When the handler runs
    response = invoke()

    # Then IAM and Secrets Manager are unchanged
    assert response["status"] == "ok", response
    assert response["dry_run"] is True
    assert aws.all_keys() == before
    assert aws.secret_versions() == {}
    # ... and every audited result says what would have happened
    rows = {(e.action["user"], e.action["action"]): e for e in results(aws)}
    assert set(rows) == {(users.rotate, "rotate"), (users.idle, "warn"), (users.exempt, "exempt")}
    assert all(e.action["dry_run"] is True for e in rows.values())
    assert rows[users.rotate, "rotate"].outcome == "dry_run"
    assert "would create a new key" in rows[users.rotate, "rotate"].detail
    assert rows[users.idle, "warn"].outcome == "dry_run"
    assert rows[users.exempt, "exempt"].outcome == "reported"


# -- 6. malformed events -----------------------------------------------------------------------------


def _without(name: str) -> dict[str, Any]:
    event = scheduled_event()
    del event[name]
    return event


def _with(**fields: Any) -> dict[str, Any]:
    return {**scheduled_event(), **fields}


MALFORMED: dict[str, Any] = {
    "missing time": _without("time"),
    "missing source": _without("source"),
    "wrong source": _with(source="aws.iam"),
    "wrong detail-type": _with(**{"detail-type": "AWS API Call via CloudTrail"}),
    "garbage time": _with(time="yesterday at six"),
    "empty time": _with(time=""),
    "numeric time": _with(time=1780293600),
    "null time": _with(time=None),
    "empty dict": {},
    "list": [scheduled_event()],
    "string": json.dumps(scheduled_event()),
    "none": None,
}


@pytest.mark.parametrize("event", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_event_is_rejected_without_side_effects(lambda_env: Account, event: Any) -> None:
    # Given an account with an aged key (a valid event would rotate it)
    aws = lambda_env
    user = aws.user("ida.aged", now=NOW)
    aws.key(user, now=NOW, age=200, used_ago=1)
    before = aws.all_keys()

    # When the handler receives something that is not a scheduled event
    response = invoke(event, now=NOW)

    # Then it is rejected (never raised), and nothing is written anywhere
    assert response == {"status": "rejected", "reason": "malformed"}
    assert aws.all_keys() == before
    assert aws.secret_versions() == {}
    assert aws.table_items(TABLE) == []


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_event_time_without_a_zone_is_rejected(lambda_env: Account) -> None:
    # Given an account with an aged key and an event whose time has no zone designator
    aws = lambda_env
    user = aws.user("ida.aged", now=NOW)
    aws.key(user, now=NOW, age=200, used_ago=1)

    # When the handler receives it
    response = invoke(_with(time="2026-06-01T06:00:00"), now=NOW)

    # Then it is rejected like any other malformed event
    assert response == {"status": "rejected", "reason": "malformed"}
    assert aws.table_items(TABLE) == []


# -- 7. failure isolation ------------------------------------------------------------------------------


def test_one_users_failure_does_not_stop_the_others(lambda_env: Account) -> None:
    # Given three users with due actions, and IAM refusing ListAccessKeys for one of them only
    aws = lambda_env
    users, original = seed(aws)
    broken = aws.user("fay.broken", now=NOW)
    broken_key = aws.key(broken, now=NOW, age=150, used_ago=1)

    # When the handler runs
    with failing("ListAccessKeys", "AccessDenied", when=lambda p: p.get("UserName") == broken) as failed:
        response = invoke()

    # Then the broken user is untouched and named in the response ...
    assert failed, "the fault was never injected"
    assert response["status"] == "failed"
    assert response["failures"] == [f"{broken}: could not list access keys (AccessDenied)"]
    assert aws.keys(broken) == {broken_key: "Active"}
    assert secret_name(broken) not in aws.secret_versions()
    # ... while the other users' actions were applied
    assert response["outcomes"] == {"rotate:applied": 1, "warn:applied": 1, "exempt:reported": 1}
    assert len(aws.keys(users.rotate)) == 2
    assert aws.secret(users.rotate)["AccessKeyId"] != original[users.rotate]
    idle_record = record(aws, users.idle, original[users.idle])
    assert idle_record is not None
    assert len(idle_record.notices) == 1
    assert broken not in {e.action["user"] for e in store(aws).audit_log(ACCOUNT)}


# -- 8. no secret in logs ------------------------------------------------------------------------------


def test_new_secret_access_key_appears_in_no_log_response_or_table_item(
    lambda_env: Account, logs: Logs, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an aged key due for rotation, and every logger at DEBUG (botocore's wire logs too)
    aws = lambda_env
    user = aws.user("jan.secretive", now=NOW)
    aws.key(user, now=NOW, age=120, used_ago=1)

    # When the handler rotates it
    response = invoke()
    logged = logs.text()  # taken before the test itself reads the secret (its own call is logged too)
    printed = capsys.readouterr()

    # Then the secret access key handed over through Secrets Manager ...
    assert response["outcomes"] == {"rotate:applied": 1}, response
    handed_over = aws.secret(user)
    secret_key = handed_over["SecretAccessKey"]
    assert len(secret_key) == 40
    # (the capture did see the run: the new key id and botocore's debug output are in it)
    assert handed_over["AccessKeyId"] in logged
    assert "lifecycle run finished" in logs.stream.getvalue()
    assert any(r.name.startswith("botocore") and r.levelname == "DEBUG" for r in logs.caplog.records)
    # ... appears in no log record, printed output, response, audit row or DynamoDB item
    assert secret_key not in logged
    assert secret_key not in printed.out + printed.err
    assert secret_key not in json.dumps(response)
    assert secret_key not in repr(store(aws).audit_log(ACCOUNT))
    assert secret_key not in json.dumps(aws.table_items(TABLE))


# -- 7. a bounded clock -------------------------------------------------------------------------------

#: "Today" for these tests: the real clock, moved (a run's clock is the real one, never the event's).
TODAY = datetime.fromisoformat("2026-11-29T06:00:00+00:00")


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_stale_sample_event_is_refused_and_records_nothing(lambda_env: Account, logs: Logs) -> None:
    # Given an account whose key is aged and whose unused key is due a warning (a run would act and warn)
    aws = lambda_env
    user = aws.user("ida.aged", now=TODAY)
    aws.key(user, now=TODAY, age=200, used_ago=1)
    idle = aws.user("ivo.idle", now=TODAY)
    aws.key(idle, now=TODAY, age=200, used_ago=60)
    before = aws.all_keys()

    # When `events/scheduled.json` (2026-06-01) is invoked as is, months later (the README's old step)
    response = invoke(scheduled_event(), now=TODAY)

    # Then it is refused with a clear log and nothing is recorded: no notice "sent" months ago
    assert response["status"] == "rejected"
    assert response["reason"] == "clock"
    assert response["event_time"] == "2026-06-01T06:00:00+00:00"
    assert response["now"] == TODAY.isoformat()
    assert aws.all_keys() == before
    assert aws.secret_versions() == {}
    assert aws.table_items(TABLE) == []
    assert "rejected scheduled event: event time 2026-06-01T06:00:00+00:00 is" in logs.text()
    assert "is 181 days 0 h in the past of the real clock 2026-11-29T06:00:00+00:00" in logs.text()


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_an_event_from_the_future_is_refused(lambda_env: Account) -> None:
    aws = lambda_env
    aws.key(aws.user("ida.aged", now=TODAY), now=TODAY, age=200, used_ago=1)
    response = invoke(scheduled_event(TODAY + timedelta(days=30)), now=TODAY)
    assert (response["status"], response["reason"]) == ("rejected", "clock")
    assert aws.table_items(TABLE) == []


def test_a_fresh_event_runs_on_the_real_clock(lambda_env: Account) -> None:
    # Given an aged key, and an event a few minutes off the real clock (allowed: 15 minutes)
    aws = lambda_env
    user = aws.user("ida.aged", now=TODAY)
    old = aws.key(user, now=TODAY, age=200, used_ago=1)

    # When it is invoked
    response = invoke(scheduled_event(TODAY - timedelta(minutes=10)), now=TODAY)

    # Then the run happens, and everything it records is dated by the real clock, not the event's time
    assert response["status"] == "ok"
    (entry,) = [e for e in results(aws) if e.action["action"] == "rotate"]
    assert entry.at == TODAY
    rotated = record(aws, user, old)
    assert rotated is not None
    assert rotated.rotated_at == TODAY


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_tolerance_is_configurable(lambda_env: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDLIFE_EVENT_CLOCK_TOLERANCE_MINUTES", "5")
    scheduled.use_runtime(None)
    response = invoke(scheduled_event(TODAY - timedelta(minutes=10)), now=TODAY)
    assert (response["status"], response["reason"]) == ("rejected", "clock")


def test_the_readmes_verification_step_runs_on_the_real_clock(lambda_env: Account, tmp_path: Path) -> None:
    # Given the README's command that turns the sample into an event of now
    readme = (EVENTS.parent / "README.md").read_text(encoding="utf-8")
    (line,) = [ln for ln in readme.splitlines() if "events/scheduled.json > now.json" in ln]
    command = line.strip().strip(",").removesuffix(", then").strip("`").replace("> now.json", "> $OUT")
    out = tmp_path / "now.json"
    subprocess.run(  # noqa: S603 - the README's own command, run as the operator would
        ["/bin/bash", "-c", command],
        cwd=EVENTS.parent,
        env={"OUT": str(out), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    event = json.loads(out.read_text(encoding="utf-8"))
    # When the scanner is invoked with it, on the real clock (no time travel)
    response: dict[str, Any] = scheduled.handler(event, LambdaContext())
    # Then the run happens (the sample as is would be refused)
    assert response["status"] == "ok", response
