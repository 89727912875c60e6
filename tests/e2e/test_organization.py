"""Organization mode end to end against moto: the scheduled handler lists the organization's accounts and
queues one message per selected account; the account worker (fed those SQS messages) assumes the member
role in each account — moto's STS gives a session acting in that account's own state — and runs the same
lifecycle, with state and audit in the home account's table. AssumeRole denial is injected (moto cannot
refuse it): that account is reported as a failed record, the others are processed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest
import time_machine
from moto.iam.models import AccessKeyLastUsed, iam_backends

from credlife.aws.organizations import AccountDirectory, AccountMessage
from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.config import OrganizationSettings, parse_settings
from credlife.handlers import account_worker, scheduled
from tests.e2e.conftest import ACCOUNT, REGION, Account, LambdaContext, event_time, failing, scheduled_event

pytestmark = pytest.mark.e2e

TABLE = "credlife-org-state"
EVENT = scheduled_event()
NOW = event_time(EVENT)


@dataclass
class Org:
    queue_url: str
    prod: str  # OU
    team: str  # OU nested in prod
    in_prod: str
    in_team: str
    tagged: str  # in the root, tagged skip=yes
    closed: str


def _member(org: Any, name: str, parent: str, root: str) -> str:
    account: str = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"][
        "AccountId"
    ]
    if parent != root:
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=parent)
    return account


def _seed_user(account: str) -> None:
    """One user with a 120-day-old key in daily use: rotation is due at NOW."""
    backend = iam_backends[account]["global"]
    user = backend.create_user(REGION, "svc-app", path="/")
    key = user.create_access_key(prefix="AKIA")
    naive = NOW.replace(tzinfo=None)
    key.create_date = naive - timedelta(days=120)
    key.last_used = AccessKeyLastUsed(timestamp=naive - timedelta(days=1), service="s3", region=REGION)


@pytest.fixture
def org(aws: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[Org]:
    client = boto3.client("organizations", region_name=REGION)
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]
    prod = client.create_organizational_unit(ParentId=root, Name="prod")["OrganizationalUnit"]["Id"]
    team = client.create_organizational_unit(ParentId=prod, Name="team")["OrganizationalUnit"]["Id"]
    members = Org(
        queue_url=boto3.client("sqs", region_name=REGION).create_queue(QueueName="accounts")["QueueUrl"],
        prod=prod,
        team=team,
        in_prod=_member(client, "prod-a", prod, root),
        in_team=_member(client, "team-b", team, root),
        tagged=_member(client, "sandbox-c", root, root),
        closed=_member(client, "old-d", root, root),
    )
    client.tag_resource(ResourceId=members.tagged, Tags=[{"Key": "skip", "Value": "yes"}])
    client.close_account(AccountId=members.closed)
    for account in (members.in_prod, members.in_team, members.tagged):
        _seed_user(account)
    create_state_table(aws.dynamodb, TABLE)
    for name in ("CREDLIFE_CONFIG", "CREDLIFE_ORGANIZATION_ENABLED", "CREDLIFE_ORGANIZATION_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    scheduled.use_runtime(None)
    account_worker.use_worker(None)
    try:
        yield members
    finally:
        scheduled.use_runtime(None)
        account_worker.use_worker(None)


def settings(org: Org, **organization: Any) -> OrganizationSettings:
    return OrganizationSettings(enabled=True, queue_url=org.queue_url, **organization)


def queued(org: Org) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    messages: list[Any] = []
    while batch := sqs.receive_message(QueueUrl=org.queue_url, MaxNumberOfMessages=10).get("Messages", []):
        messages.extend(batch)
    return messages


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:accounts",
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def key_count(account: str) -> int:
    return len(iam_backends[account]["global"].users["svc-app"].access_keys)


# -- which accounts ---------------------------------------------------------------------------------------


def test_directory_lists_active_accounts_only(org: Org) -> None:
    # When every account is listed without filters
    accounts = {a.account_id for a in AccountDirectory(boto3.client("organizations")).accounts(settings(org))}

    # Then the management account and the three active members are there, the closed one is not
    assert accounts == {ACCOUNT, org.in_prod, org.in_team, org.tagged}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"include_ous": ["<prod>"]}, {"in_prod", "in_team"}),  # nested OUs included
        ({"include_ous": ["<prod>"], "exclude_ous": ["<team>"]}, {"in_prod"}),
        ({"include_accounts": ["<in_team>", "<tagged>"]}, {"in_team", "tagged"}),
        ({"exclude_accounts": [ACCOUNT], "exclude_tags": {"skip": "yes"}}, {"in_prod", "in_team"}),
        ({"include_tags": {"skip": "yes"}}, {"tagged"}),
    ],
)
def test_directory_filters_by_id_ou_and_tag(org: Org, filters: dict[str, Any], expected: set[str]) -> None:
    # Given filters naming the fixture's OUs and accounts
    def resolve(value: Any) -> Any:
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return getattr(org, value[1:-1]) if isinstance(value, str) and value.startswith("<") else value

    config = settings(org, **{k: resolve(v) for k, v in filters.items()})

    # When the directory lists accounts
    accounts = {a.account_id for a in AccountDirectory(boto3.client("organizations")).accounts(config)}

    # Then exactly the expected accounts are chosen
    assert accounts == {getattr(org, name) for name in expected}


# -- scheduler → queue → worker ---------------------------------------------------------------------------


def test_scheduler_queues_one_message_per_selected_account(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given organization mode configured through the environment, the management account excluded
    monkeypatch.setenv("CREDLIFE_ORGANIZATION_ENABLED", "true")
    monkeypatch.setenv("CREDLIFE_ORGANIZATION_QUEUE_URL", org.queue_url)
    monkeypatch.setenv("CREDLIFE_CONFIG", json.dumps({"organization": {"exclude_accounts": [ACCOUNT]}}))

    # When the scheduled event arrives (the real clock at its time)
    with time_machine.travel(NOW, tick=False):
        response = scheduled.handler(EVENT, LambdaContext())
        queue = queued(org)  # read on the same clock (SQS drops messages past their retention period)

    # Then one message per active member account is queued, carrying the run's time, and no IAM is read
    messages = [AccountMessage.from_json(m["Body"]) for m in queue]
    assert sorted(m.account_id for m in messages) == sorted([org.in_prod, org.in_team, org.tagged])
    assert {m.time for m in messages} == {NOW}
    assert response["status"] == "ok"
    assert response["queued"] == 3
    assert not any(call.startswith("iam:") for call in response["api_calls"])


def test_worker_runs_each_account_and_reports_the_one_that_fails(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the three member accounts queued, a live policy, and a malformed message among them
    config = parse_settings(
        {
            "state_table": TABLE,
            "policy": {"dry_run": False},
            "organization": {"enabled": True, "queue_url": org.queue_url},
        }
    )
    account_worker.use_worker(config, boto3.Session(region_name=REGION))
    scheduled.fan_out(NOW, settings(org, exclude_accounts=[ACCOUNT]))
    messages = queued(org)
    broken = {**messages[0], "MessageId": "broken", "Body": "{not json"}
    by_account = {AccountMessage.from_json(m["Body"]).account_id: m["MessageId"] for m in messages}

    # When the worker gets them in one batch, with the team account's member role refusing AssumeRole
    with (
        failing("AssumeRole", "AccessDenied", when=lambda p: org.in_team in p["RoleArn"]),
        time_machine.travel(NOW, tick=False),
    ):
        response = account_worker.handler(sqs_event([*messages, broken]), LambdaContext())

    # Then exactly the refused account and the malformed message are reported as failed records
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert failed == {by_account[org.in_team], "broken"}
    # And the other accounts were rotated in their own IAM, the refused one left alone
    assert key_count(org.in_prod) == 2
    assert key_count(org.tagged) == 2
    assert key_count(org.in_team) == 1
    # And their lifecycle state lives in the home table, under each member account
    store = DynamoStateStore(TABLE, boto3.client("dynamodb", region_name=REGION))
    (record,) = store.load_records(org.in_prod).values()
    assert record.rotated_at == NOW
    assert store.load_records(org.in_team) == {}


def test_worker_fails_records_it_has_no_time_for(org: Org) -> None:
    # Given one queued account and an invocation with 10 s left
    config = parse_settings({"state_table": TABLE, "organization": {"enabled": True, "queue_url": "q"}})
    account_worker.use_worker(config, boto3.Session(region_name=REGION))
    scheduled.fan_out(NOW, settings(org, include_accounts=[org.in_prod]))
    (message,) = queued(org)

    @dataclass
    class Short(LambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return 10_000

    # When the worker is invoked
    response = account_worker.handler(sqs_event([message]), Short())

    # Then the record is failed (to be retried), and nothing was done in the account
    assert response["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    assert key_count(org.in_prod) == 1


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_worker_refuses_a_message_too_far_from_the_real_clock(org: Org) -> None:
    # Given one account queued at NOW, and a worker whose real clock is a day later (the message is
    # older than `queued_run_max_age_minutes`, 6 hours) or an hour earlier (from the future)
    config = parse_settings(
        {
            "state_table": TABLE,
            "policy": {"dry_run": False},
            "organization": {"enabled": True, "queue_url": "q"},
        }
    )
    account_worker.use_worker(config, boto3.Session(region_name=REGION))
    scheduled.fan_out(NOW, settings(org, include_accounts=[org.in_prod]))
    (message,) = queued(org)
    for clock in (NOW + timedelta(days=1), NOW - timedelta(hours=1)):
        # When the worker takes it
        with time_machine.travel(clock, tick=False):
            response = account_worker.handler(sqs_event([message]), LambdaContext())
        # Then the record is failed (SQS retries it, then the alarmed dead-letter queue) and nothing is done
        assert response["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
        assert key_count(org.in_prod) == 1
    # And a message that waited in the queue for a few hours still runs, on the real clock
    with time_machine.travel(NOW + timedelta(hours=3), tick=False):
        response = account_worker.handler(sqs_event([message]), LambdaContext())
    assert response["batchItemFailures"] == []
    assert key_count(org.in_prod) == 2
    store = DynamoStateStore(TABLE, boto3.client("dynamodb", region_name=REGION))
    (record,) = store.load_records(org.in_prod).values()
    assert record.rotated_at == NOW + timedelta(hours=3)
