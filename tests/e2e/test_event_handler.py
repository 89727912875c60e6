"""The event Lambda fed the `events/` samples against moto (state table, SNS security topic), with its
runtime built the way the Lambda builds it: from environment variables at the first invocation.

EventBridge cannot deliver to a Lambda under moto, so the handler is called directly; the rule patterns are
checked against the samples with moto's own EventBridge pattern matcher."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.events.models import EventPattern
from moto.sns.models import sns_backends

from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.domain.events import IAM_PATTERN, SIGNIN_PATTERN
from credlife.domain.models import AccessKey, KeyStatus
from credlife.handlers import events as event_handler
from credlife.risk_monitor import AlertNotDelivered
from tests.e2e.conftest import ACCOUNT, EVENTS, REGION, Account, LambdaContext, Logs

pytestmark = pytest.mark.e2e

TABLE = "credlife-state-e2e"


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return loaded


def folder(name: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((EVENTS / name).glob("*.json"))]


@dataclass
class Monitor:
    aws: Account
    topic_arn: str

    def invoke(self, event: Any) -> dict[str, Any]:
        result: dict[str, Any] = event_handler.handler(event, LambdaContext(function_name="credlife-events"))
        return result

    def alerts(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(subject, message, attributes) of every message on the security topic."""
        sent = sns_backends[ACCOUNT][REGION].topics[self.topic_arn].sent_notifications
        return [(subject or "", json.loads(message), attrs or {}) for _, message, subject, attrs, _ in sent]

    def signin_items(self) -> list[dict[str, Any]]:
        return [i for i in self.aws.table_items(TABLE) if i["pk"]["S"].startswith("SIGNIN#")]


@pytest.fixture
def monitor(aws: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[Monitor]:
    create_state_table(aws.dynamodb, TABLE)
    topic_arn = boto3.client("sns", region_name=REGION).create_topic(Name="credlife-security")["TopicArn"]
    monkeypatch.setenv("CREDLIFE_STATE_TABLE", TABLE)
    monkeypatch.setenv("CREDLIFE_SECURITY_TOPIC_ARN", topic_arn)
    # the alerts alone (the owners' "was this you?" mail has tests of its own, with users that exist)
    monkeypatch.delenv("CREDLIFE_SENDER_EMAIL", raising=False)
    event_handler.use_runtime(None)  # built from the environment at the first invocation, like the Lambda
    yield Monitor(aws, topic_arn)
    event_handler.use_runtime(None)


def test_every_sample_matches_its_rule_pattern() -> None:
    # Given the EventBridge patterns the event rules use
    patterns = {
        "aws.signin": EventPattern.load(json.dumps(SIGNIN_PATTERN)),
        "aws.iam": EventPattern.load(json.dumps(IAM_PATTERN)),
    }
    samples = [
        p
        for p in sorted(EVENTS.rglob("*.json"))
        if p.relative_to(EVENTS).parts[0].startswith(("signin-", "iam-"))
    ]
    assert len(samples) > 50
    for path in samples:
        event: Any = json.loads(path.read_text(encoding="utf-8"))
        pattern = patterns.get(event.get("source"))
        # Then every sign-in and IAM sample is delivered by its rule
        assert pattern is not None, path
        assert pattern.matches_event(event), path
    # and other projects' events (the schedule) are not delivered to the event monitor
    scheduled: Any = sample("scheduled.json")
    assert not any(p.matches_event(scheduled) for p in patterns.values())


class TestSignins:
    def test_clean_sign_in_publishes_nothing_and_learns_the_baseline(self, monitor: Monitor) -> None:
        result = monitor.invoke(sample("signin-iam-user-mfa.json"))
        assert (result["status"], result["events"], result["risky"]) == ("ok", 1, 0)
        assert monitor.alerts() == []
        keys = {(i["pk"]["S"], i["sk"]["S"]) for i in monitor.signin_items()}
        assert (f"SIGNIN#{ACCOUNT}#USER#alice", "HISTORY") in keys

    def test_no_mfa_sign_in_alerts_with_who_what_where_when(self, monitor: Monitor) -> None:
        result = monitor.invoke(sample("signin-iam-user-no-mfa.json"))
        assert result["results"][0]["reasons"] == ["no_mfa"]
        ((subject, message, attrs),) = monitor.alerts()
        assert subject == f"[credlife medium] no_mfa: bob in {ACCOUNT}"
        assert message["who"]["user"] == "bob"
        assert message["where"]["source_ip"] == "203.0.113.20"
        assert message["where"]["region"] == "eu-north-1"
        assert message["when"] == "2026-06-01T08:00:00+00:00"
        assert message["next_steps"]
        assert message["severity"] == "medium"
        assert attrs["severity"]["Value"] == "medium"

    @pytest.mark.parametrize(
        "name", ["signin-sso-no-mfa.json", "signin-saml-no-mfa.json", "signin-iam-user-mfa-lowercase.json"]
    )
    def test_federated_and_mfa_sign_ins_are_quiet(self, monitor: Monitor, name: str) -> None:
        assert monitor.invoke(sample(name))["risky"] == 0
        assert monitor.alerts() == []

    def test_root_sign_in_alerts(self, monitor: Monitor) -> None:
        monitor.invoke(sample("signin-root-success.json"))
        ((subject, message, _),) = monitor.alerts()
        assert subject.startswith("[credlife high] root_signin: root")
        assert message["who"]["identity_type"] == "Root"

    def test_brute_force_burst_alerts_once(self, monitor: Monitor) -> None:
        # Given six failed sign-ins of grace two minutes apart, each invocation one event
        results = [monitor.invoke(e)["results"][0] for e in folder("signin-brute-force-user")]
        # Then the fifth raises one brute-force alert; the sixth is suppressed within the window
        assert [("brute_force" in r["reasons"]) for r in results] == [False] * 4 + [True, False]
        assert results[5]["suppressed"] == ["brute_force"]
        assert [a[1]["reasons"] for a in monitor.alerts()] == [["failed_signin", "brute_force"]]

    def test_new_source_ip_after_the_baseline(self, monitor: Monitor) -> None:
        results = [monitor.invoke(e)["results"][0] for e in folder("signin-new-ip")]
        assert [r["reasons"] for r in results] == [[]] * 5 + [["new_source_ip"]]
        assert results[-1]["owner_asked"] is True
        ((_, message, _),) = monitor.alerts()
        assert message["where"]["source_ip"] == "192.0.2.200"

    def test_sign_in_of_a_user_whose_console_password_the_project_deleted(self, monitor: Monitor) -> None:
        # Given the lifecycle deleted dora's console password three days earlier
        at = datetime(2026, 5, 29, 6, 0, tzinfo=UTC)
        DynamoStateStore(TABLE, monitor.aws.dynamodb).record_credential_state(
            ACCOUNT, "dora", "password", "console", at={"deleted_at": at}
        )
        # When dora signs in (someone gave her a password again)
        result = monitor.invoke(sample("signin-disabled-user.json"))
        # Then it is flagged high and published
        assert result["results"][0]["reasons"] == ["disabled_user_signin"]
        assert monitor.alerts()[0][0].startswith("[credlife high] disabled_user_signin: dora")

    def test_mfa_sign_in_of_a_user_whose_unused_key_was_deactivated_is_quiet(self, monitor: Monitor) -> None:
        # Given the lifecycle deactivated an unused access key of dora (her console is untouched)
        at = datetime(2026, 5, 29, 6, 0, tzinfo=UTC)
        DynamoStateStore(TABLE, monitor.aws.dynamodb).record_deactivation(
            ACCOUNT,
            "dora",
            AccessKey(
                created=at - timedelta(days=120), status=KeyStatus.ACTIVE, key_id="AKIAEXAMPLEDORA00001"
            ),
            at=at,
            reason="key_unused",
        )
        # When dora signs in with MFA / Then nothing is risky and nothing is published
        result = monitor.invoke(sample("signin-disabled-user.json"))
        assert result["risky"] == 0
        assert monitor.alerts() == []

    def test_without_a_disabled_credential_the_same_sign_in_is_quiet(self, monitor: Monitor) -> None:
        assert monitor.invoke(sample("signin-disabled-user.json"))["risky"] == 0

    def test_a_redelivered_event_is_alerted_once(self, monitor: Monitor) -> None:
        event = sample("signin-iam-user-no-mfa.json")
        monitor.invoke(event)
        second = monitor.invoke(event)
        assert second["results"][0]["duplicate"] is True
        assert len(monitor.alerts()) == 1


class TestIamChanges:
    @pytest.mark.parametrize(
        ("name", "reason", "subject"),
        [
            ("iam-create-access-key-other-user.json", "key_created_for_other_user", "alice"),
            ("iam-create-access-key-similar-name.json", "key_created_for_other_user", "alice-admin"),
            ("iam-update-access-key-reactivate-other.json", "key_created_for_other_user", "alice"),
            ("iam-create-login-profile-other-user.json", "login_profile_changed_by_other", "bob"),
            ("iam-deactivate-mfa-device.json", "mfa_removed", "carol"),
            ("iam-delete-virtual-mfa-device.json", "mfa_removed", "carol-phone"),
        ],
    )
    def test_risky_change_alerts(self, monitor: Monitor, name: str, reason: str, subject: str) -> None:
        result = monitor.invoke(sample(name))
        assert result["results"][0]["reasons"] == [reason]
        ((_, message, _),) = monitor.alerts()
        assert message["why"][0]["subject"] == subject
        assert message["severity"] == "high"

    @pytest.mark.parametrize(
        "name",
        [
            "iam-create-access-key-self.json",
            "iam-create-access-key-self-named.json",
            "iam-create-access-key-denied.json",
            "iam-update-access-key-deactivate-other.json",
            "iam-update-login-profile-self.json",
            "iam-enable-mfa-device.json",
            "iam-attach-user-policy.json",
        ],
    )
    def test_benign_change_is_quiet(self, monitor: Monitor, name: str) -> None:
        assert monitor.invoke(sample(name))["risky"] == 0
        assert monitor.alerts() == []

    def test_the_automations_own_role_is_trusted(
        self, monitor: Monitor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given the automation's principal is the role that created the key
        monkeypatch.setenv("CREDLIFE_AUTOMATION_PRINCIPAL_ARN", f"arn:aws:iam::{ACCOUNT}:role/OpsAdmin")
        event_handler.use_runtime(None)
        # Then its key creation for bob is not an alert
        assert monitor.invoke(sample("iam-create-access-key-by-role.json"))["risky"] == 0


class TestAtLeastOnce:
    def test_a_failed_publish_fails_the_invocation_and_the_retry_alerts_once(self, monitor: Monitor) -> None:
        # Given the security topic is gone (deleted, or its key policy broken) when an alert is due
        sns = boto3.client("sns", region_name=REGION)
        sns.delete_topic(TopicArn=monitor.topic_arn)
        event = sample("signin-root-success.json")
        # When the event arrives / Then the invocation fails, so EventBridge retries it
        with pytest.raises(AlertNotDelivered):
            monitor.invoke(event)
        # When the topic is back and EventBridge redelivers (twice)
        assert sns.create_topic(Name="credlife-security")["TopicArn"] == monitor.topic_arn
        retried = monitor.invoke(event)
        again = monitor.invoke(event)
        # Then exactly one alert went out
        assert retried["results"][0]["alerted"] is True
        assert again["results"][0]["duplicate"] is True
        assert len(monitor.alerts()) == 1

    def test_an_event_that_alerts_nothing_never_fails(self, monitor: Monitor) -> None:
        boto3.client("sns", region_name=REGION).delete_topic(TopicArn=monitor.topic_arn)
        assert monitor.invoke(sample("signin-iam-user-mfa.json"))["status"] == "ok"


class TestOwnPrincipals:
    def test_every_function_role_in_the_environment_is_trusted(
        self, monitor: Monitor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given the stack passes its function roles (the rotate-now role among them) to the event function
        roles = [f"arn:aws:iam::{ACCOUNT}:role/Scanner", f"arn:aws:iam::{ACCOUNT}:role/OpsAdmin"]
        monkeypatch.setenv("CREDLIFE_AUTOMATION_PRINCIPAL_ARN", roles[0])
        monkeypatch.setenv("CREDLIFE_OWN_PRINCIPAL_ARNS", ",".join(roles))
        event_handler.use_runtime(None)
        # Then an on-demand rotation's CreateAccessKey by that role is not an alert
        assert monitor.invoke(sample("iam-create-access-key-by-role.json"))["risky"] == 0
        assert monitor.alerts() == []


class TestOrganization:
    MEMBER = "210987654321"

    def member(self, event: dict[str, Any]) -> dict[str, Any]:
        """The sample as the member account's forwarding rule delivers it to the home bus."""
        event = json.loads(json.dumps(event).replace(ACCOUNT, self.MEMBER))
        return event

    def test_member_events_are_judged_with_the_member_account(self, monitor: Monitor) -> None:
        # Given the lifecycle deleted dora's console password in the member account (its own partition)
        at = datetime(2026, 5, 29, 6, 0, tzinfo=UTC)
        DynamoStateStore(TABLE, monitor.aws.dynamodb).record_credential_state(
            self.MEMBER, "dora", "password", "console", at={"deleted_at": at}
        )
        # When the member's sign-in of dora and a key creation there arrive at the home monitor
        results = [
            monitor.invoke(self.member(sample(name)))["results"][0]
            for name in ("signin-disabled-user.json", "iam-create-access-key-other-user.json")
        ]
        # Then both are judged as the member's: the join reads the member's records, alerts name it
        assert [(r["account"], r["reasons"]) for r in results] == [
            (self.MEMBER, ["disabled_user_signin"]),
            (self.MEMBER, ["key_created_for_other_user"]),
        ]
        assert {message["who"]["account"] for _, message, _ in monitor.alerts()} == {self.MEMBER}
        # and the same sign-in in the home account (no deletion there) is quiet
        assert monitor.invoke(sample("signin-disabled-user.json"))["risky"] == 0

    def test_the_member_role_is_trusted_in_every_account(
        self, monitor: Monitor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CREDLIFE_OWN_PRINCIPAL_ARNS", "arn:aws:iam::*:role/OpsAdmin")
        event_handler.use_runtime(None)
        assert monitor.invoke(self.member(sample("iam-create-access-key-by-role.json")))["risky"] == 0


class TestOutOfScope:
    @pytest.mark.parametrize("path", sorted(p.name for p in EVENTS.glob("ignored-*.json")))
    def test_ignored_sample_is_counted_ignored_not_malformed(self, monitor: Monitor, path: str) -> None:
        result = monitor.invoke(sample(path))
        assert (result["status"], result["ignored"], result["risky"]) == ("ok", 1, 0)
        assert result["results"][0]["verdict"] == "ignored"
        assert result["results"][0]["reasons"] == []


class TestBadInput:
    @pytest.mark.parametrize("path", sorted(p.name for p in EVENTS.glob("malformed-*.json")))
    def test_malformed_sample_is_a_finding_not_an_exception(
        self, monitor: Monitor, path: str, logs: Logs
    ) -> None:
        result = monitor.invoke(sample(path))
        assert result["results"][0]["reasons"] == ["malformed"]
        assert result["risky"] == 0
        assert monitor.alerts() == []
        assert "malformed event" in logs.text()

    @pytest.mark.parametrize("event", [None, "text", 42, [], {}, {"Records": "x"}])
    def test_garbage_never_raises(self, monitor: Monitor, event: Any) -> None:
        result = monitor.invoke(event)
        assert all(r["reasons"] == ["malformed"] for r in result["results"])

    def test_a_deeply_nested_sqs_body_is_one_malformed_record(self, monitor: Monitor) -> None:
        deep = "[" * 200_000 + "]" * 200_000  # json.loads raises RecursionError, not ValueError
        good = json.dumps(sample("signin-iam-user-no-mfa.json"))
        result = monitor.invoke(
            {"Records": [{"messageId": "1", "body": deep}, {"messageId": "2", "body": good}]}
        )
        assert [r["verdict"] for r in result["results"]] == ["malformed", "risky"]

    def test_one_bad_record_in_a_batch_loses_no_other(self, monitor: Monitor) -> None:
        # Given an SQS batch: a good risky event, a non-JSON body, a truncated one, another risky event
        good = json.dumps(sample("signin-iam-user-no-mfa.json"))
        batch = {
            "Records": [
                {"messageId": "1", "body": good},
                {"messageId": "2", "body": "{not json"},
                {"messageId": "3", "body": good[: len(good) // 2]},
                {"messageId": "4", "body": json.dumps(sample("iam-deactivate-mfa-device.json"))},
            ]
        }
        result = monitor.invoke(batch)
        assert [r["reasons"] for r in result["results"]] == [
            ["no_mfa"],
            ["malformed"],
            ["malformed"],
            ["mfa_removed"],
        ]
        assert len(monitor.alerts()) == 2

    def test_state_table_failure_degrades_and_still_alerts(
        self, monitor: Monitor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given the handler points at a state table that does not exist
        monkeypatch.setenv("CREDLIFE_STATE_TABLE", "missing-table")
        event_handler.use_runtime(None)
        # When a root sign-in arrives
        result = monitor.invoke(sample("signin-root-success.json"))
        # Then it is still alerted, and the handler reports a degraded run instead of raising
        assert result["status"] == "degraded"
        assert result["results"][0]["errors"] == ["claim_event: NotFound"]
        assert len(monitor.alerts()) == 1


def test_metrics_per_reason_code(monitor: Monitor, capsys: pytest.CaptureFixture[str]) -> None:
    monitor.invoke([sample("signin-iam-user-no-mfa.json"), sample("malformed-truncated-detail.json")])
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["Name"] for blob in emitted for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"Finding_no_mfa", "Finding_malformed", "EventsJudged", "AlertsPublished"} <= names


def test_secrets_and_passwords_never_reach_the_logs_or_alerts(monitor: Monitor, logs: Logs) -> None:
    event = sample("iam-create-login-profile-other-user.json")
    event["detail"]["requestParameters"]["password"] = "Sup3r-Secret-Pa55"
    monitor.invoke(event)
    assert "Sup3r-Secret-Pa55" not in logs.text()
    assert "Sup3r-Secret-Pa55" not in json.dumps([a[1] for a in monitor.alerts()])


def test_samples_folder_exists() -> None:
    assert Path(EVENTS).is_dir()
