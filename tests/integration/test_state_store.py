"""The DynamoDB state store against moto: conditional writes, round trips, one Query per account."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from credlife.aws.calls import ApiCallCounter
from credlife.aws.errors import NotFound
from credlife.aws.state_store import (
    AUDIT_RETENTION_DAYS,
    REQUIRED_ACTIONS,
    DynamoStateStore,
    create_state_table,
)
from credlife.domain.messages import Audience, MessageItem
from credlife.domain.models import AccessKey, KeyRecord, KeyStatus, Notice, key_ref
from credlife.ports import AuditEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

pytestmark = pytest.mark.integration

TABLE = "credlife-state-test"
ACCOUNT = "123456789012"
NOW = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
CREATED = datetime(2024, 11, 1, 8, 30, 15, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def dynamodb() -> Iterator[DynamoDBClient]:
    with mock_aws():
        client = boto3.client("dynamodb")
        create_state_table(client, TABLE)
        yield client


@pytest.fixture
def counter() -> ApiCallCounter:
    return ApiCallCounter()


@pytest.fixture
def store(dynamodb: DynamoDBClient, counter: ApiCallCounter) -> DynamoStateStore:
    return DynamoStateStore(TABLE, dynamodb, counter=counter)


def key(created: datetime = CREATED, key_id: str | None = "AKIAOLDKEY0000000001") -> AccessKey:
    return AccessKey(created=created, status=KeyStatus.ACTIVE, key_id=key_id)


def notice(stage: str = "14d", *, dry_run: bool = False, warns_of: str = "rotate") -> Notice:
    return Notice(
        warns_of=warns_of, stage=stage, sent_at=NOW, deadline=NOW + timedelta(days=14), dry_run=dry_run
    )


def raw_items(dynamodb: DynamoDBClient) -> list[dict[str, Any]]:
    return list(dynamodb.scan(TableName=TABLE)["Items"])


def test_table_has_the_declared_shape(dynamodb: DynamoDBClient) -> None:
    # Given the table made by create_state_table
    # When it is described
    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    # Then it has the pk/sk string keys, on-demand billing and TTL on expires_at
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {
        ("pk", "HASH"),
        ("sk", "RANGE"),
    }
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert ttl["AttributeName"] == "expires_at"
    assert ttl["TimeToLiveStatus"] == "ENABLED"


def test_a_notice_is_recorded_once(store: DynamoStateStore) -> None:
    # Given a key without any record
    # When the same 14-day rotation notice is recorded twice
    first = store.record_notice(ACCOUNT, "alice", key(), notice("14d"))
    second = store.record_notice(ACCOUNT, "alice", key(), notice("14d"))
    # Then the first write stores it and the second reports it was already there
    assert first is True
    assert second is False
    (record,) = store.load_records(ACCOUNT).values()
    assert len(record.notices) == 1


def test_other_stages_and_dry_run_notices_are_separate(store: DynamoStateStore) -> None:
    # Given a recorded live 14-day notice
    store.record_notice(ACCOUNT, "alice", key(), notice("14d"))
    # When a 7-day notice, a dry-run 14-day notice and a notice about another action follow
    results = [
        store.record_notice(ACCOUNT, "alice", key(), notice("7d")),
        store.record_notice(ACCOUNT, "alice", key(), notice("14d", dry_run=True)),
        store.record_notice(ACCOUNT, "alice", key(), notice("14d", warns_of="deactivate")),
        store.record_notice(ACCOUNT, "alice", key(), notice("7d")),
    ]
    # Then each distinct (warns_of, stage, live/dry) is stored once
    assert results == [True, True, True, False]
    (record,) = store.load_records(ACCOUNT).values()
    assert sorted((n.warns_of, n.stage, n.dry_run) for n in record.notices) == [
        ("deactivate", "14d", False),
        ("rotate", "14d", False),
        ("rotate", "14d", True),
        ("rotate", "7d", False),
    ]


def test_a_new_episode_with_a_new_deadline_is_recorded_again(store: DynamoStateStore) -> None:
    # Given a 7-day "deactivate (unused)" notice for one deadline
    first = Notice("deactivate", "7d", NOW, NOW + timedelta(days=7))
    store.record_notice(ACCOUNT, "alice", key(), first)
    # When the key was used again and, idle again, is announced for a later deadline at the same stage
    later = Notice("deactivate", "7d", NOW + timedelta(days=40), NOW + timedelta(days=47))
    stored = store.record_notice(ACCOUNT, "alice", key(), later)
    # Then the new episode's notice is stored beside the old one (else the planner would warn forever)
    assert stored is True
    (record,) = store.load_records(ACCOUNT).values()
    assert sorted(n.deadline for n in record.notices) == [first.deadline, later.deadline]


def test_a_notice_joins_a_record_created_by_another_write(store: DynamoStateStore) -> None:
    # Given a key record created by the first-seen-inactive clock
    store.record_first_seen_inactive(ACCOUNT, "alice", key(), at=NOW)
    # When a notice is recorded for the same key
    stored = store.record_notice(ACCOUNT, "alice", key(), notice("7d", warns_of="delete"))
    # Then it is added to the same item, keeping what was there
    (record,) = store.load_records(ACCOUNT).values()
    assert stored is True
    assert record.first_seen_inactive == NOW
    assert [n.stage for n in record.notices] == ["7d"]


def test_load_records_round_trips_datetimes_and_notices(store: DynamoStateStore) -> None:
    # Given a key created at a non-UTC offset, with a notice, a rotation, a deactivation and an inactive clock
    created = datetime(2024, 11, 1, 10, 30, 15, tzinfo=timezone(timedelta(hours=2)))
    old = key(created)
    replacement = AccessKey(
        created=datetime(2025, 3, 1, 12, 0, 1, tzinfo=UTC),
        status=KeyStatus.ACTIVE,
        key_id="AKIANEWKEY0000000002",
    )
    sent = notice("14d")
    store.record_notice(ACCOUNT, "first.last+ci=1@ex_ample,org-x", old, sent)
    store.record_rotation(
        ACCOUNT, "first.last+ci=1@ex_ample,org-x", old, rotated_at=NOW, replacement=replacement
    )
    later = NOW + timedelta(days=14, microseconds=7)
    store.record_deactivation(
        ACCOUNT, "first.last+ci=1@ex_ample,org-x", old, at=later, reason="key_replaced_safe"
    )
    store.record_first_seen_inactive(ACCOUNT, "first.last+ci=1@ex_ample,org-x", old, at=later)
    # When the account's records are loaded
    records = store.load_records(ACCOUNT)
    # Then the record comes back whole, under the key_ref the planner uses, with aware UTC datetimes
    record = records[key_ref("first.last+ci=1@ex_ample,org-x", created)]
    assert record == KeyRecord(
        user="first.last+ci=1@ex_ample,org-x",
        key_created=created,
        key_id="AKIAOLDKEY0000000001",
        notices=(sent,),
        rotated_at=NOW,
        replacement_key_id="AKIANEWKEY0000000002",
        replacement_created=replacement.created,
        deactivated_at=later,
        deactivation_reason="key_replaced_safe",
        first_seen_inactive=later,
    )
    assert record.key_created.tzinfo is UTC
    assert record.notices[0].sent_at.microsecond == NOW.microsecond


def test_key_creation_time_is_kept_to_the_second(store: DynamoStateStore) -> None:
    # Given a key creation time with microseconds (as moto's ListAccessKeys reports it)
    with_micros = CREATED.replace(microsecond=546136)
    store.record_notice(ACCOUNT, "alice", key(with_micros), notice())
    # When the record is loaded
    records = store.load_records(ACCOUNT)
    # Then it is found under the whole-second time the credential report gives
    assert key_ref("alice", CREATED) in records
    assert records[key_ref("alice", CREATED)].key_created == CREATED


def test_first_seen_inactive_starts_the_clock_only_once(store: DynamoStateStore) -> None:
    # Given a key first seen inactive now
    first = store.record_first_seen_inactive(ACCOUNT, "alice", key(), at=NOW)
    # When a later scan sees it inactive again
    again = store.record_first_seen_inactive(ACCOUNT, "alice", key(), at=NOW + timedelta(days=1))
    # Then the clock keeps its first start
    assert (first, again) == (True, False)
    (record,) = store.load_records(ACCOUNT).values()
    assert record.first_seen_inactive == NOW


def test_load_records_is_one_query_for_many_users(store: DynamoStateStore, counter: ApiCallCounter) -> None:
    # Given 60 users with two key records each (and another account's record, which must not leak in)
    for index in range(60):
        store.record_notice(ACCOUNT, f"user-{index}", key(CREATED, None), notice())
        store.record_notice(ACCOUNT, f"user-{index}", key(CREATED + timedelta(days=1), None), notice())
    store.record_notice("999999999999", "user-0", key(), notice())
    counter.reset()
    # When the account's records are loaded
    records = store.load_records(ACCOUNT)
    # Then all 120 come back from a single Query call
    assert len(records) == 120
    assert counter.snapshot() == {"dynamodb:Query": 1}


def test_load_records_follows_every_page() -> None:
    # Given a Query answer split over two pages (moto never splits small results: botocore's Stubber does)
    client = boto3.client("dynamodb")
    store = DynamoStateStore(TABLE, client)
    item_a = {"pk": {"S": f"ACCOUNT#{ACCOUNT}"}, "sk": {"S": "KEY#a#x"}, "user": {"S": "a"}}
    item_a["key_created"] = {"S": CREATED.isoformat()}
    item_b = {**item_a, "sk": {"S": "KEY#b#x"}, "user": {"S": "b"}}
    with Stubber(client) as stub:
        stub.add_response(
            "query",
            {"Items": [item_a], "LastEvaluatedKey": {"pk": item_a["pk"], "sk": item_a["sk"]}},
            {
                "TableName": TABLE,
                "ConsistentRead": True,
                "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
                "FilterExpression": "attribute_not_exists(#deleted)",
                "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk", "#deleted": "deleted_at"},
                "ExpressionAttributeValues": {":pk": {"S": f"ACCOUNT#{ACCOUNT}"}, ":prefix": {"S": "KEY#"}},
            },
        )
        stub.add_response("query", {"Items": [item_b]})
        # When the records are loaded
        records = store.load_records(ACCOUNT)
        # Then both pages were read
        stub.assert_no_pending_responses()
    assert set(records) == {key_ref("a", CREATED), key_ref("b", CREATED)}


def test_a_deleted_key_leaves_the_records_and_expires(
    store: DynamoStateStore, dynamodb: DynamoDBClient
) -> None:
    # Given a deactivated key that is then deleted
    store.record_deactivation(ACCOUNT, "alice", key(), at=NOW, reason="key_unused")
    store.record_deletion(ACCOUNT, "alice", key(), at=NOW)
    # When the records are loaded
    records = store.load_records(ACCOUNT)
    # Then the deleted key is no longer among them, and its item carries a TTL 400 days out
    assert records == {}
    (item,) = raw_items(dynamodb)
    assert int(item["expires_at"]["N"]) == int((NOW + timedelta(days=AUDIT_RETENTION_DAYS)).timestamp())


def test_audit_entries_round_trip_in_order_and_expire(
    store: DynamoStateStore, dynamodb: DynamoDBClient
) -> None:
    # Given an intent and a result written at the same instant, and one in another account
    row = {
        "user": "alice",
        "key_id": "AKIAOLDKEY0000000001",
        "action": "rotate",
        "dry_run": False,
        "stage": None,
    }
    intent = AuditEntry(at=NOW, phase="intent", run_id="run-1", action=row)
    result = AuditEntry(
        at=NOW, phase="result", run_id="run-1", action=row, outcome="applied", detail="new key X"
    )
    store.write_audit(ACCOUNT, intent)
    store.write_audit(ACCOUNT, result)
    store.write_audit("999999999999", intent)
    # When the account's audit trail is read
    log = store.audit_log(ACCOUNT)
    # Then it holds exactly the two entries, intent first, each with a TTL 400 days after it happened
    assert log == [intent, result]
    expires = {int(i["expires_at"]["N"]) for i in raw_items(dynamodb) if i["pk"]["S"] == f"AUDIT#{ACCOUNT}"}
    assert expires == {int((NOW + timedelta(days=400)).timestamp())}


def test_naive_datetimes_are_refused(store: DynamoStateStore) -> None:
    # Given a key whose creation time has no time zone
    naive = AccessKey(created=datetime(2024, 1, 1), status=KeyStatus.ACTIVE)
    # When it is recorded
    # Then the store refuses instead of guessing the zone
    with pytest.raises(ValueError, match="timezone-aware"):
        store.record_first_seen_inactive(ACCOUNT, "alice", naive, at=NOW)


def test_aws_errors_are_translated(dynamodb: DynamoDBClient) -> None:
    # Given a store pointed at a table that does not exist
    store = DynamoStateStore("no-such-table", dynamodb)
    # When records are loaded
    # Then the project's NotFound error is raised, naming the operation
    with pytest.raises(NotFound, match="dynamodb:Query"):
        store.load_records(ACCOUNT)


def test_an_undecodable_record_is_skipped(
    store: DynamoStateStore, dynamodb: DynamoDBClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Given one good record and one item without a key creation time
    store.record_notice(ACCOUNT, "alice", key(), notice())
    dynamodb.put_item(
        TableName=TABLE,
        Item={"pk": {"S": f"ACCOUNT#{ACCOUNT}"}, "sk": {"S": "KEY#bob#x"}, "user": {"S": "bob"}},
    )
    # When the records are loaded
    records = store.load_records(ACCOUNT)
    # Then the good record is returned and the bad one is logged
    assert [r.user for r in records.values()] == ["alice"]
    assert any("undecodable" in r.getMessage() for r in caplog.records)


def test_only_the_declared_actions_are_called(store: DynamoStateStore, counter: ApiCallCounter) -> None:
    # Given every kind of write and read
    store.record_notice(ACCOUNT, "alice", key(), notice())
    store.record_notice(ACCOUNT, "alice", key(), notice())
    store.record_rotation(ACCOUNT, "alice", key(), rotated_at=NOW, replacement=key(NOW, "AKIANEW"))
    store.record_deactivation(ACCOUNT, "alice", key(), at=NOW, reason="key_unused")
    store.record_first_seen_inactive(ACCOUNT, "alice", key(), at=NOW)
    store.record_deletion(ACCOUNT, "alice", key(), at=NOW)
    store.write_audit(ACCOUNT, AuditEntry(at=NOW, phase="intent", run_id="r", action={}))
    store.load_records(ACCOUNT)
    store.audit_log(ACCOUNT)
    store.record_episodes(ACCOUNT, {"e1": "AKIAOLD"}, at=NOW)
    store.end_episodes(ACCOUNT, ["e1"])
    # When the calls are counted
    called = {f"dynamodb:{name.split(':')[1]}" for name in counter.snapshot()}
    # Then they are exactly the adapter's REQUIRED_ACTIONS
    assert called == set(REQUIRED_ACTIONS)


def test_episodes_are_remembered_in_batches_and_forgotten(
    store: DynamoStateStore, counter: ApiCallCounter
) -> None:
    # Given 60 audited episodes, one naming its key
    episodes = {f"episode-{i:03d}": ("AKIAOLD" if i == 0 else "") for i in range(60)}
    store.record_episodes(ACCOUNT, episodes, at=NOW)
    # Then they are read back with the key id, written in 3 batches of at most 25
    assert store.load_episodes(ACCOUNT) == episodes
    assert counter.snapshot()["dynamodb:BatchWriteItem"] == 3
    # When all but one end, only that one is left
    store.end_episodes(ACCOUNT, [e for e in episodes if e != "episode-007"])
    assert store.load_episodes(ACCOUNT) == {"episode-007": ""}


# -- the outbox ----------------------------------------------------------------------------------------


def message(item_id: str = "owner|alice|x|warn|live", recipient: str = "alice@example.com") -> MessageItem:
    return MessageItem(
        id=item_id,
        audience=Audience.OWNER,
        recipient=recipient,
        owner=recipient,
        owner_source="tag:owner",
        user="alice",
        credential="access_key",
        key_id="AKIAOLDKEY0000000001",
        kind="warn",
        title="will be deactivated on 2025-03-08 12:00 UTC",
        deadline=NOW + timedelta(days=7),
        reason="key_unused",
        control="CIS 2.11 / IAM.22",
        why="not used for 60 days",
        todo="use it",
        dry_run=False,
        severity="info",
        created_at=NOW,
    )


def test_an_outbox_item_is_stored_once_and_pending_until_delivered(store: DynamoStateStore) -> None:
    # Given an item queued twice (a repeated run) and a second item
    assert store.enqueue_message(ACCOUNT, message()) is True
    assert store.enqueue_message(ACCOUNT, message()) is False
    store.enqueue_message(ACCOUNT, message("owner|bob|y|warn|live", "bob@example.com"))
    # When both are read back, Then both are pending, decoded intact
    pending = store.pending_messages(ACCOUNT)
    assert [p.id for p in pending] == ["owner|alice|x|warn|live", "owner|bob|y|warn|live"]
    assert pending[0] == message()
    # When one is delivered, Then only the other stays pending; queueing the delivered one again is refused
    store.mark_delivered(ACCOUNT, ["owner|alice|x|warn|live"], at=NOW, receipt="ses:abc")
    assert [p.id for p in store.pending_messages(ACCOUNT)] == ["owner|bob|y|warn|live"]
    assert store.enqueue_message(ACCOUNT, message()) is False


def test_a_failed_attempt_is_counted_and_the_item_stays_pending(
    store: DynamoStateStore, dynamodb: DynamoDBClient
) -> None:
    # Given a queued item
    store.enqueue_message(ACCOUNT, message())
    # When two sends fail
    store.mark_failed(ACCOUNT, [message().id], at=NOW, error="ses:SendEmail failed: Throttling")
    store.mark_failed(ACCOUNT, [message().id], at=NOW, error="ses:SendEmail failed: Throttling")
    # Then the item is still pending, with the attempts counted and the last error kept
    assert [p.id for p in store.pending_messages(ACCOUNT)] == [message().id]
    (item,) = [i for i in raw_items(dynamodb) if i["pk"]["S"].startswith("OUTBOX#")]
    assert item["attempts"] == {"N": "2"}
    assert item["last_error"]["S"].endswith("Throttling")


def test_audit_log_reads_a_window_and_one_phase(store: DynamoStateStore) -> None:
    # Given entries over 40 days, each with an intent and a result
    for day in range(40):
        at = NOW - timedelta(days=day)
        store.write_audit(ACCOUNT, AuditEntry(at=at, phase="intent", run_id=f"r{day}", action={"d": day}))
        store.write_audit(ACCOUNT, AuditEntry(at=at, phase="result", run_id=f"r{day}", action={"d": day}))

    # When the last 30 days' results are read
    window = store.audit_log(ACCOUNT, since=NOW - timedelta(days=30), phase="result")

    # Then exactly those, oldest first (a sort-key condition: the older entries are not read at all)
    assert [e.action["d"] for e in window] == list(range(30, -1, -1))
    assert {e.phase for e in window} == {"result"}
    assert len(store.audit_log(ACCOUNT)) == 80
