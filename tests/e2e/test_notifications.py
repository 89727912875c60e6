"""Owners are told (issue 3): the scheduled handler against moto, reading what SES and SNS recorded.

The runtime is built the way the Lambda builds it (environment → `load_settings` → `build_runtime`) with a
verified SES sender, the security topic, the project KMS key and owner rules. Sent mail is read from
`moto.ses.models.ses_backends[account][region].sent_messages` (SES v2 writes there; our channel sends one
raw multipart message per digest, parsed here with the stdlib), the topic's messages from
`moto.sns.models.sns_backends[account][region].topics[arn].sent_notifications`."""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

import boto3
import pytest
import time_machine
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.handlers import rotate_now, scheduled
from tests.e2e.conftest import (
    ACCOUNT,
    EVENTS,
    REGION,
    Account,
    LambdaContext,
    event_time,
    failing,
    scheduled_event,
    secret_name,
)

pytestmark = pytest.mark.e2e

TABLE = "credlife-notify-state"
SENDER = "credlife@example.com"
SECURITY = "security@example.com"
PLATFORM = "platform@example.com"
AUTOMATION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/credlife-scanner"
EVENT = scheduled_event()
NOW = event_time(EVENT)  # 2026-06-01T06:00:00Z


@dataclass
class Env:
    aws: Account
    topic_arn: str
    kms_key_id: str

    def emails(self) -> list[Mail]:
        return [Mail.parse(m) for m in ses_backends[ACCOUNT][REGION].sent_messages]

    def topic_messages(self) -> list[tuple[str | None, dict[str, Any]]]:
        sent = sns_backends[ACCOUNT][REGION].topics[self.topic_arn].sent_notifications
        return [(subject, json.loads(message)) for _, message, subject, _, _ in sent]

    def everything_sent(self) -> str:
        raw = [getattr(m, "raw_data", "") for m in ses_backends[ACCOUNT][REGION].sent_messages]
        sns = [f"{s}\n{m}" for _, m, s, _, _ in self.sent_notifications()]
        return "\n".join(raw + sns)

    def sent_notifications(self) -> list[Any]:
        return list(sns_backends[ACCOUNT][REGION].topics[self.topic_arn].sent_notifications)


@dataclass
class Mail:
    to: str
    subject: str
    text: str
    html: str

    @classmethod
    def parse(cls, stored: Any) -> Mail:
        parsed: Message = email.message_from_string(stored.raw_data)
        parts = {p.get_content_type(): p for p in parsed.walk() if not p.is_multipart()}

        def body(kind: str) -> str:
            payload = parts[kind].get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode("utf-8")

        return cls(str(parsed["To"]), str(parsed["Subject"]), body("text/plain"), body("text/html"))


@pytest.fixture
def env(aws: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """The Lambda's environment with every notification setting, the sender verified, the topic and the
    project KMS key created."""
    ses = boto3.client("ses", region_name=REGION)
    ses.verify_email_identity(EmailAddress=SENDER)
    topic_arn = boto3.client("sns", region_name=REGION).create_topic(Name="credlife-security")["TopicArn"]
    kms_key_id = boto3.client("kms", region_name=REGION).create_key(Description="credlife")["KeyMetadata"][
        "KeyId"
    ]
    create_state_table(aws.dynamodb, TABLE)
    monkeypatch.setenv("CREDLIFE_STATE_TABLE", TABLE)
    monkeypatch.setenv("CREDLIFE_DRY_RUN", "false")
    monkeypatch.setenv("CREDLIFE_SENDER_EMAIL", SENDER)
    monkeypatch.setenv("CREDLIFE_SECURITY_TOPIC_ARN", topic_arn)
    monkeypatch.setenv("CREDLIFE_KMS_KEY_ID", kms_key_id)
    monkeypatch.setenv("CREDLIFE_AUTOMATION_PRINCIPAL_ARN", AUTOMATION_ROLE)
    monkeypatch.setenv(
        "CREDLIFE_CONFIG",
        json.dumps({"notifications": {"path_owners": {"/service/": PLATFORM}, "security_email": SECURITY}}),
    )
    scheduled.use_runtime(None)
    rotate_now.use_runtime(None)
    try:
        yield Env(aws, topic_arn, kms_key_id)
    finally:
        scheduled.use_runtime(None)
        rotate_now.use_runtime(None)


def invoke(at: datetime = NOW) -> dict[str, Any]:
    with time_machine.travel(at, tick=False):
        response: dict[str, Any] = scheduled.handler(scheduled_event(at), LambdaContext())
    return response


def seed(aws: Account) -> dict[str, str]:
    """Five users, owners found five ways:
    ana (tag owner, rotation due), ben and cy (/service/ path default; an idle key and a key 10 days before
    rotation), dee@example.com (user name is an email; never-used key), eve (no owner: two aged active keys,
    a conflict)."""
    keys: dict[str, str] = {}
    aws.user("ana.rotate", now=NOW, tags={"owner": "ana@example.com"})
    keys["ana"] = aws.key("ana.rotate", now=NOW, age=120, used_ago=1)
    aws.user("ben.idle", now=NOW, path="/service/")
    keys["ben"] = aws.key("ben.idle", now=NOW, age=100, used_ago=60)
    aws.user("cy.soon", now=NOW, path="/service/")
    keys["cy"] = aws.key("cy.soon", now=NOW, age=80, used_ago=1)
    aws.user("dee@example.com", now=NOW)
    keys["dee"] = aws.key("dee@example.com", now=NOW, age=50)
    aws.user("eve.twokeys", now=NOW)
    keys["eve1"] = aws.key("eve.twokeys", now=NOW, age=150, used_ago=1)
    keys["eve2"] = aws.key("eve.twokeys", now=NOW, age=120, used_ago=1)
    return keys


def by_recipient(mails: list[Mail]) -> dict[str, list[Mail]]:
    grouped: dict[str, list[Mail]] = {}
    for mail in mails:
        grouped.setdefault(mail.to, []).append(mail)
    return grouped


# -- one digest per owner, right owner, exact deadlines, what to do, no secret ------------------------


def test_each_owner_gets_one_digest_with_exact_deadlines_and_no_secret(env: Env) -> None:
    # Given five users whose owners are found by tag, path default, user name and fallback
    keys = seed(env.aws)

    # When the scheduled handler runs
    response = invoke()

    # Then each owner got exactly one email (ben and cy share an owner: one digest with both)
    assert response["status"] == "ok", response
    mails = by_recipient(env.emails())
    assert {to: len(m) for to, m in mails.items()} == {
        "ana@example.com": 1,
        PLATFORM: 1,
        "dee@example.com": 1,
        SECURITY: 1,
    }
    # ... ana's says her key was rotated, where the new key is and how to fetch it, and the old key's deadline
    (ana,) = mails["ana@example.com"]
    new_key = next(k for k in env.aws.keys("ana.rotate") if k != keys["ana"])
    assert f"new key {new_key} is stored in secret {secret_name('ana.rotate')}" in ana.text
    fetch = (
        f"aws secretsmanager get-secret-value --secret-id {secret_name('ana.rotate')} --query SecretString"
    )
    assert fetch in ana.text
    assert "2026-06-15 06:00 UTC" in ana.text  # rotation + 14 days
    assert "(key_rotation_due, CIS 2.12 / IAM.3)" in ana.text
    assert keys["ana"] in ana.text
    assert "ana.rotate" in ana.text
    # ... the platform digest holds both service users with their own exact deadlines, soonest first
    (platform,) = mails[PLATFORM]
    assert "2 notice(s)" in platform.text
    ben_at = platform.text.index("ben.idle")
    cy_at = platform.text.index("cy.soon")
    assert ben_at < cy_at
    assert "will be deactivated on 2026-06-08 06:00 UTC because it is unused" in platform.text
    assert "will be rotated on 2026-06-11 06:00 UTC" in platform.text
    assert keys["ben"] in platform.text
    assert keys["cy"] in platform.text
    assert "(key_unused, CIS 2.11 / IAM.22)" in platform.text
    assert "earliest deadline 2026-06-08" in platform.subject
    assert "ben.idle" in platform.html
    assert "2026-06-08 06:00 UTC" in platform.html
    # ... the owner-less user's conflict went to the security address as its owner
    (fallback,) = mails[SECURITY]
    assert "needs a human" in fallback.text
    assert "eve.twokeys" in fallback.text
    # ... and the security topic got one run summary (JSON, short subject) escalating the conflict
    ((subject, summary),) = env.topic_messages()
    assert subject is not None
    assert len(subject) <= 100
    assert subject.startswith(f"credlife {ACCOUNT}")
    assert summary["type"] == "credlife.run_summary"
    assert summary["owner_digests_sent"] == 4
    assert summary["outcomes"]["rotate:applied"] == 1
    conflicts = summary["escalations"]  # one per key: each of eve's keys is blocked by the other
    assert {c["key_id"] for c in conflicts} == {keys["eve1"], keys["eve2"]}
    for conflict in conflicts:
        assert (conflict["user"], conflict["kind"], conflict["severity"]) == (
            "eve.twokeys",
            "alert",
            "critical",
        )
        assert conflict["owner"] == SECURITY
        assert conflict["owner_source"] == "security-default"
    # ... and the new secret access key is in no email and no topic message
    secret = env.aws.secret("ana.rotate")["SecretAccessKey"]
    assert len(secret) >= 20
    assert secret not in env.everything_sent()


def test_the_owner_and_its_source_are_audited(env: Env) -> None:
    # Given the seeded users
    seed(env.aws)
    # When the handler runs
    invoke()
    # Then every queued notice's audit entry names the owner and how it was found
    queued = [
        e for e in DynamoStateStore(TABLE, env.aws.dynamodb).audit_log(ACCOUNT) if e.outcome == "queued"
    ]
    details = {str(e.action["user"]): e.detail for e in queued}
    assert "owner=ana@example.com (tag:owner)" in details["ana.rotate"]
    assert f"owner={PLATFORM} (path:/service/)" in details["ben.idle"]
    assert "owner=dee@example.com (user-name)" in details["dee@example.com"]
    assert f"owner={SECURITY} (security-default)" in details["eve.twokeys"]


def test_a_second_run_sends_nothing_new(env: Env) -> None:
    # Given a first run that told everyone
    seed(env.aws)
    invoke()
    mails, topic = len(env.emails()), len(env.sent_notifications())
    assert mails == 4
    assert topic == 1
    # When the handler runs again, the same day and the next day
    invoke()
    invoke(NOW + timedelta(days=1, hours=-5))
    # Then no email and no topic message was added
    assert len(env.emails()) == mails
    assert len(env.sent_notifications()) == topic


def test_a_failed_send_is_counted_retried_next_run_and_then_sent_once(env: Env) -> None:
    # Given the seeded users and SES refusing every email during the first run
    seed(env.aws)
    with failing("SendEmail", "MessageRejected") as refused:
        first = invoke()
    # Then nothing was mailed, the run reports the failures and the security summary counts them
    assert len(refused) == 4
    assert env.emails() == []
    assert first["status"] == "failed"
    assert sum("retried next run" in f for f in first["failures"]) == 4
    ((_, summary),) = env.topic_messages()
    assert summary["undelivered_messages"] == 6  # ana, ben, cy, dee, and eve's two conflicting keys
    # When the next run comes (same day: nothing new is planned)
    second = invoke()
    # Then every owner's pending notice went out exactly once
    assert second["status"] == "ok", second
    mails = by_recipient(env.emails())
    assert {to: len(m) for to, m in mails.items()} == {
        "ana@example.com": 1,
        PLATFORM: 1,
        "dee@example.com": 1,
        SECURITY: 1,
    }
    assert "2026-06-08 06:00 UTC" in mails[PLATFORM][0].text
    # ... and a third run sends none of them again
    invoke()
    assert len(env.emails()) == 4


def test_one_owners_failed_send_does_not_stop_the_others(env: Env) -> None:
    # Given SES refusing only the platform team's email
    seed(env.aws)
    with failing(
        "SendEmail", "MessageRejected", when=lambda p: p["Destination"]["ToAddresses"] == [PLATFORM]
    ):
        response = invoke()
    # Then the other owners got theirs, and only the platform digest is reported failed
    assert set(by_recipient(env.emails())) == {"ana@example.com", "dee@example.com", SECURITY}
    assert [f for f in response["failures"] if PLATFORM in f] == [
        f"owner {PLATFORM} could not be reached (ses:SendEmail failed: MessageRejected: injected by the "
        "test): 2 notice(s) wait; nothing they announce happens until 7 days after delivery; retried next run"
    ]


def test_dry_run_notices_say_would_and_change_nothing(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a dry-run deployment
    monkeypatch.setenv("CREDLIFE_DRY_RUN", "true")
    keys = seed(env.aws)
    before = env.aws.all_keys()
    # When the handler runs
    invoke()
    # Then IAM is unchanged, and the owners' emails say what would happen
    assert env.aws.all_keys() == before
    mails = by_recipient(env.emails())
    (ana,) = mails["ana@example.com"]
    assert "[credlife dry-run]" in ana.subject
    assert "DRY RUN" in ana.text
    assert f"Access key {keys['ana']} of ana.rotate would be rotated now" in ana.text
    assert "would be deactivated on 2026-06-08 06:00 UTC" in mails[PLATFORM][0].text
    assert secret_name("ana.rotate") not in env.aws.secret_versions()


# -- the safe handoff of a rotated key -----------------------------------------------------------------


def test_the_rotated_key_is_in_a_kms_encrypted_secret_only_its_user_and_the_automation_may_read(
    env: Env,
) -> None:
    # Given a user due for rotation, and the project KMS key and automation role in the settings
    env.aws.user("ana.rotate", now=NOW, tags={"owner": "ana@example.com"})
    old = env.aws.key("ana.rotate", now=NOW, age=120, used_ago=1)
    # When the handler runs
    invoke()
    # Then the secret holds the documented JSON for the new key ...
    name = secret_name("ana.rotate")
    value = env.aws.secret("ana.rotate")
    (new,) = set(env.aws.keys("ana.rotate")) - {old}
    assert set(value) == {"UserName", "AccessKeyId", "SecretAccessKey", "CreateDate"}
    assert (value["UserName"], value["AccessKeyId"]) == ("ana.rotate", new)
    assert datetime.fromisoformat(value["CreateDate"]) == NOW
    # ... encrypted with the project's KMS key, tagged
    described = env.aws.sm.describe_secret(SecretId=name)
    assert described["KmsKeyId"] == env.kms_key_id
    assert {t["Key"]: t["Value"] for t in described["Tags"]}["credlife:user"] == "ana.rotate"
    # ... and readable only by that user and the automation: everyone else is denied GetSecretValue
    policy = json.loads(env.aws.sm.get_resource_policy(SecretId=name)["ResourcePolicy"])
    allow, deny = policy["Statement"]
    user_arn = env.aws.iam.get_user(UserName="ana.rotate")["User"]["Arn"]
    assert allow["Effect"] == "Allow"
    assert allow["Principal"]["AWS"] == [user_arn, AUTOMATION_ROLE]
    assert "secretsmanager:GetSecretValue" in allow["Action"]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": [user_arn, AUTOMATION_ROLE]}}


# -- safe deactivation of the old key ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "deactivated_on", "reason"),
    [
        # the old key was last used the day before the rotation: idle `safe_idle_days` (7) on day 6, and the
        # owner has had the rotation message for `notice_days` (7) on day 7
        ("new key used, old key idle", 7, "key_replaced_safe"),
        ("new key never used", 14, "key_replaced_overdue"),
        ("old key used after the new one", 14, "key_replaced_overdue"),
    ],
)
def test_the_old_key_stays_active_until_safe_or_overdue(
    env: Env, case: str, deactivated_on: int, reason: str
) -> None:
    # Given an aged key rotated on day 0
    aws = env.aws
    aws.user("gil.keys", now=NOW, tags={"owner": "gil@example.com"})
    old = aws.key("gil.keys", now=NOW, age=120, used_ago=1)
    invoke()
    (new,) = set(aws.keys("gil.keys")) - {old}
    # When the days pass with the workloads behaving as in `case`
    states: dict[int, str] = {}
    for day in range(1, 16):
        at = NOW + timedelta(days=day)
        if case == "new key used, old key idle":
            aws.use("gil.keys", new, at=at - timedelta(hours=1))
        elif case == "old key used after the new one" and aws.keys("gil.keys").get(old) == "Active":
            aws.use("gil.keys", new, at=at - timedelta(hours=3))
            aws.use("gil.keys", old, at=at - timedelta(hours=1))
        invoke(at)
        states[day] = aws.keys("gil.keys").get(old, "Deleted")
    # Then the old key is active exactly until the day it is safe (or the deadline), inactive from then on
    assert [d for d, s in states.items() if s == "Active"] == list(range(1, deactivated_on))
    assert aws.keys("gil.keys")[new] == "Active"
    results = [
        e
        for e in DynamoStateStore(TABLE, aws.dynamodb).audit_log(ACCOUNT)
        if e.phase == "result" and e.action["action"] == "deactivate"
    ]
    assert [(e.action["reason"], (e.at - NOW).days) for e in results] == [(reason, deactivated_on)]
    # ... the owner was told, and an overdue deactivation is escalated to the security topic
    assert any("was deactivated" in m.text for m in env.emails() if m.to == "gil@example.com")
    escalated = [e for _, s in env.topic_messages() for e in s["escalations"] if e["kind"] == "deactivate"]
    assert len(escalated) == (1 if reason == "key_replaced_overdue" else 0)


# -- rotate now --------------------------------------------------------------------------------------


def rotate_now_event(user: str, requested_by: str = "oncall@example.com") -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "rotate_now.json").read_text(encoding="utf-8"))
    event["detail"] = {"user": user, "requested_by": requested_by}
    return event


def invoke_rotate_now(event: Any) -> dict[str, Any]:
    with time_machine.travel(event_time(event), tick=False):
        response: dict[str, Any] = rotate_now.handler(event, LambdaContext())
    return response


def test_rotate_now_rotates_a_young_key_and_tells_the_owner(env: Env) -> None:
    # Given a young key (no rotation due) and the sample event asking to rotate it now
    env.aws.user("ana.rotate", now=NOW, tags={"owner": "ana@example.com"})
    old = env.aws.key("ana.rotate", now=NOW, age=10, used_ago=1)
    event = rotate_now_event("ana.rotate")
    # When the rotate-now handler runs
    response = invoke_rotate_now(event)
    # Then the key was rotated through the vault, and the owner's email names who asked
    assert response["status"] == "rotated", response
    (new,) = set(env.aws.keys("ana.rotate")) - {old}
    assert response["new_key_id"] == new == env.aws.secret("ana.rotate")["AccessKeyId"]
    (mail,) = env.emails()
    assert "rotation requested by oncall@example.com" in mail.text
    assert "(rotation_requested, CIS 2.12 / IAM.3)" in mail.text
    # ... and the next scheduled run retires the old key like any rotation's (nothing rotated twice)
    invoke(event_time(event) + timedelta(days=1))
    assert len(env.aws.keys("ana.rotate")) == 2


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("exempt", "exempt"),
        ("two active keys", "conflict"),
        ("unknown", "not_found"),
        ("dry-run", "would_rotate"),
    ],
)
def test_rotate_now_respects_exemptions_the_quota_and_dry_run(
    env: Env, monkeypatch: pytest.MonkeyPatch, setup: str, expected: str
) -> None:
    # Given a user the request must not (or only pretend to) rotate
    aws = env.aws
    if setup == "dry-run":
        monkeypatch.setenv("CREDLIFE_DRY_RUN", "true")
    if setup != "unknown":
        aws.user("zed", now=NOW, tags={"credlife:exempt": "true"} if setup == "exempt" else None)
        aws.key("zed", now=NOW, age=10, used_ago=1)
        if setup == "two active keys":
            aws.key("zed", now=NOW, age=5, used_ago=1)
    before = aws.all_keys()
    # When rotation is requested now
    response = invoke_rotate_now(rotate_now_event("zed"))
    # Then the answer says why nothing was rotated, and IAM and Secrets Manager are unchanged
    assert response["status"] == expected, response
    assert aws.all_keys() == before
    assert aws.secret_versions() == {}


@pytest.mark.parametrize(
    "detail",
    [{}, {"user": "bad name!"}, {"user": "ana", "requested_by": "x" * 200}, {"user": ["ana"]}],
)
def test_a_malformed_rotate_now_event_is_rejected(env: Env, detail: dict[str, Any]) -> None:
    # Given an event with a missing or invalid user or requester
    event = rotate_now_event("ana")
    event["detail"] = detail
    # When the handler runs, Then it is rejected without touching anything
    assert invoke_rotate_now(event) == {"status": "rejected", "reason": "malformed"}
    assert env.emails() == []


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_rotate_now_event_far_from_the_real_clock_is_refused(env: Env) -> None:
    # Given a key and the sample request (2026-06-01T09:30Z) arriving a day later
    env.aws.user("ana.rotate", now=NOW, tags={"owner": "ana@example.com"})
    env.aws.key("ana.rotate", now=NOW, age=10, used_ago=1)
    before = env.aws.all_keys()
    event = rotate_now_event("ana.rotate")
    with time_machine.travel(event_time(event) + timedelta(days=1), tick=False):
        response = rotate_now.handler(event, LambdaContext())
    # Then it is refused: nothing rotated, nobody mailed
    assert (response["status"], response["reason"], response["user"]) == ("rejected", "clock", "ana.rotate")
    assert env.aws.all_keys() == before
    assert env.emails() == []
