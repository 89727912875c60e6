"""The owner is told when `EnableMFADevice` lifts the MFA enforcement: the event handler against moto (IAM,
the state table, SES v2 with a verified sender), its runtime built from the environment like the Lambda's.

Sent mail is read from `moto.ses.models.ses_backends[account][region].sent_messages` (SES v2 writes there);
SES failures are injected with `failing` (moto never refuses a verified sender)."""

from __future__ import annotations

import copy
import email
import email.policy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import boto3
import pytest
from moto.ses.models import ses_backends

from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.domain.mfa_policy import POLICY_NAME, require_mfa_policy_document
from credlife.handlers import events as event_handler
from tests.e2e.conftest import ACCOUNT, EVENTS, REGION, Account, LambdaContext, Logs, failing

pytestmark = pytest.mark.e2e

TABLE = "credlife-mfa-notice-e2e"
SENDER = "credlife@example.com"
SECURITY = "security@example.com"
PLATFORM = "platform@example.com"
OWNER = "nomfa.owner@example.com"
AT = datetime.fromisoformat("2026-06-01T13:00:27+00:00")
SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/nomfa-phone"
CODE = "918273"


@dataclass
class Mail:
    to: str
    subject: str
    text: str

    @classmethod
    def parse(cls, stored: Any) -> Mail:
        parsed = email.message_from_string(stored.raw_data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        (part,) = [p for p in parsed.walk() if p.get_content_type() == "text/plain"]
        assert isinstance(part, EmailMessage)
        # a subject longer than a header line is folded before its first word: unfolded, a space leads
        return cls(str(parsed["To"]), str(parsed["Subject"]).strip(), str(part.get_content()))


@dataclass
class Env:
    aws: Account
    policy_arn: str

    def user(self, name: str, *, attached: bool, path: str = "/", owner: str | None = None) -> None:
        self.aws.iam.create_user(
            UserName=name, Path=path, Tags=[{"Key": "owner", "Value": owner}] if owner else []
        )
        if attached:
            self.aws.iam.attach_user_policy(UserName=name, PolicyArn=self.policy_arn)

    def attached(self, name: str) -> list[str]:
        listed = self.aws.iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
        return [p["PolicyArn"] for p in listed]

    def emails(self) -> list[Mail]:
        return [Mail.parse(m) for m in ses_backends[ACCOUNT][REGION].sent_messages]

    def raw_mail(self) -> str:
        return "\n".join(m.raw_data for m in ses_backends[ACCOUNT][REGION].sent_messages)

    def lifts(self) -> list[tuple[str, str]]:
        entries = DynamoStateStore(TABLE, self.aws.dynamodb).audit_log(ACCOUNT)
        return [(e.phase, e.outcome) for e in entries if e.action["action"] == "lift"]


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = event_handler.handler(event, LambdaContext(function_name="credlife-events"))
    return result


def enable_mfa_event(name: str, at: datetime = AT, event_id: str | None = None) -> dict[str, Any]:
    """`events/iam-enable-mfa-device.json` for `name` at `at` (the user enabled their own device)."""
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / "iam-enable-mfa-device.json").read_text()))
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    detail = event["detail"]
    event["time"] = detail["eventTime"] = stamp
    detail["requestParameters"] = {"userName": name, "serialNumber": SERIAL, "authenticationCode1": CODE}
    detail["userIdentity"]["userName"] = name
    detail["userIdentity"]["arn"] = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    detail["eventID"] = event_id or f"enable-mfa-{name}-{stamp}"
    return event


@pytest.fixture
def env(aws: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """The event function's environment: state table, require-MFA policy, SES sender, owner rules."""
    arn = aws.iam.create_policy(
        PolicyName=POLICY_NAME, PolicyDocument=json.dumps(require_mfa_policy_document())
    )["Policy"]["Arn"]
    boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
    create_state_table(aws.dynamodb, TABLE)
    monkeypatch.setenv("CREDLIFE_STATE_TABLE", TABLE)
    monkeypatch.setenv("CREDLIFE_DRY_RUN", "false")
    monkeypatch.setenv("CREDLIFE_REQUIRE_MFA_POLICY_ARN", arn)
    monkeypatch.setenv("CREDLIFE_SENDER_EMAIL", SENDER)
    monkeypatch.setenv(
        "CREDLIFE_CONFIG",
        json.dumps({"notifications": {"path_owners": {"/service/": PLATFORM}, "security_email": SECURITY}}),
    )
    event_handler.use_runtime(None)
    try:
        yield Env(aws, arn)
    finally:
        event_handler.use_runtime(None)


def test_the_owner_gets_one_email_and_a_redelivery_sends_nothing_more(env: Env) -> None:
    # Given a console user restricted by the require-MFA policy, owned (tag) by another address
    env.user("nomfa", attached=True, owner=OWNER)
    event = enable_mfa_event("nomfa")
    # When the user enables an MFA device and the IAM event arrives
    first = invoke(event)
    # Then the enforcement is lifted at once, audited, and the owner gets one short email
    assert first["status"] == "ok"
    assert (first["results"][0]["mfa_lift"], first["results"][0]["mfa_notice"]) == ("applied", True)
    assert env.attached("nomfa") == []
    assert env.lifts() == [("intent", ""), ("result", "applied")]
    (mail,) = env.emails()
    assert mail.to == OWNER
    assert mail.subject == f"[credlife] MFA enforcement for nomfa was lifted ({ACCOUNT})"
    assert "MFA enforcement for the IAM user nomfa" in mail.text
    assert "was lifted because an MFA\ndevice was enabled at 2026-06-01 13:00 UTC" in mail.text
    assert "If this wasn't you" in mail.text
    assert SECURITY in mail.text
    # and it carries no secret (nor the device serial or the authentication code of the request)
    raw = env.raw_mail()
    assert CODE not in raw
    assert "nomfa-phone" not in raw
    # When EventBridge delivers the same event again
    again = invoke(event)
    # Then it is recognised and nothing more is sent or lifted
    assert again["results"][0]["duplicate"] is True
    assert again["results"][0]["mfa_notice"] is False
    assert len(env.emails()) == 1
    assert env.lifts() == [("intent", ""), ("result", "applied")]


@pytest.mark.parametrize(
    ("name", "path", "owner", "expected"),
    [
        ("svc-console", "/service/", None, PLATFORM),  # path default
        ("jo@example.com", "/", None, "jo@example.com"),  # the user name is an address
        ("orphan", "/", None, SECURITY),  # nothing matches: the security team
    ],
)
def test_the_owner_is_resolved_like_the_lifecycle_does(
    env: Env, name: str, path: str, owner: str | None, expected: str
) -> None:
    env.user(name, attached=True, path=path, owner=owner)
    invoke(enable_mfa_event(name))
    assert [m.to for m in env.emails()] == [expected]


def test_nothing_lifted_sends_nothing(env: Env) -> None:
    # Given a user the require-MFA policy was never attached to (still within the grace period)
    env.user("free", attached=False, owner=OWNER)
    # When the user enables an MFA device
    result = invoke(enable_mfa_event("free"))
    # Then the grace episode is closed (audited as usual) but nobody is emailed
    assert result["status"] == "ok"
    assert result["results"][0]["mfa_lift"] == "applied"
    assert result["results"][0]["mfa_notice"] is False
    assert env.emails() == []


def test_a_failed_send_keeps_the_lift_and_the_handler_returns(
    env: Env, capsys: pytest.CaptureFixture[str], logs: Logs
) -> None:
    # Given SES refusing every email
    env.user("nomfa", attached=True, owner=OWNER)
    with failing("SendEmail", "MessageRejected") as failed:
        # When the IAM event arrives
        result = invoke(enable_mfa_event("nomfa"))
    # Then the lift is done and audited, the handler returns normally, reporting a degraded run
    assert len(failed) == 1
    assert env.attached("nomfa") == []
    assert env.lifts() == [("intent", ""), ("result", "applied")]
    assert result["status"] == "degraded"
    row = result["results"][0]
    assert (row["mfa_lift"], row["mfa_notice"]) == ("applied", False)
    assert [e.split(":")[0] for e in row["errors"]] == ["mfa_notice"]
    assert env.emails() == []
    # and the failure is logged and counted
    assert "risk monitor step failed" in logs.text()
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["Name"] for blob in emitted for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"MfaLiftNoticeFailures", "MonitorErrors"} <= names
    assert "MfaLiftNoticesSent" not in names


def test_dry_run_tells_what_would_happen(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given dry-run mode and a user the policy is attached to
    monkeypatch.setenv("CREDLIFE_DRY_RUN", "true")
    event_handler.use_runtime(None)
    env.user("nomfa", attached=True, owner=OWNER)
    result = invoke(enable_mfa_event("nomfa"))
    # Then nothing is detached, and the owner is told what would have happened (the project's dry-run notices)
    assert result["results"][0]["mfa_lift"] == "dry_run"
    assert env.attached("nomfa") == [env.policy_arn]
    (mail,) = env.emails()
    assert mail.subject == f"[credlife dry-run] MFA enforcement for nomfa would be lifted ({ACCOUNT})"
    assert "DRY RUN: nothing was changed" in mail.text


def test_without_a_sender_the_notice_is_logged(env: Env, monkeypatch: pytest.MonkeyPatch, logs: Logs) -> None:
    monkeypatch.delenv("CREDLIFE_SENDER_EMAIL")
    event_handler.use_runtime(None)
    env.user("nomfa", attached=True, owner=OWNER)
    result = invoke(enable_mfa_event("nomfa"))
    assert result["status"] == "ok"
    assert result["results"][0]["mfa_notice"] is True
    assert env.emails() == []
    records = [r for r in logs.caplog.records if r.getMessage() == "message not sent (no channel configured)"]
    assert [getattr(r, "recipient", None) for r in records] == [OWNER]
