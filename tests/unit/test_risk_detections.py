"""The detections a trustworthy monitor needs beyond the first rule set, through the monitor with the
in-memory state: at-least-once alerts, root activity, privilege escalation, the project's own principals,
slow and distributed guessing. Each class fails on a monitor without the rule it names."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from credlife.domain.actions import Severity
from credlife.domain.events import grants_admin
from credlife.domain.risk import Alert, RiskPolicy, ip_subject
from credlife.risk_monitor import EventResult, MemorySigninState, RiskMonitor
from tests.cloudtrail import ACCOUNT, ROOT, T0, api_call, iam_user, minutes, role_session, signin


class Publisher:
    def __init__(self, failures: int = 0) -> None:
        self.sent: list[Alert] = []
        self.failures = failures

    def publish(self, alert: Alert) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("topic unreachable")
        self.sent.append(alert)


class Facts:
    def __init__(
        self, admin_groups: frozenset[str] = frozenset(), console_users: frozenset[str] = frozenset()
    ) -> None:
        self.admin_groups = admin_groups
        self.console_users = console_users

    def group_grants_admin(self, account: str, group: str) -> bool | None:
        return group in self.admin_groups

    def signed_in_with_password(self, account: str, user: str) -> bool | None:
        return user in self.console_users


def make(
    policy: RiskPolicy | None = None,
    *,
    publisher: Publisher | None = None,
    facts: Facts | None = None,
    state: MemorySigninState | None = None,
) -> tuple[RiskMonitor, Publisher]:
    publisher = publisher or Publisher()
    monitor = RiskMonitor(
        state or MemorySigninState(), policy or RiskPolicy(), publisher=publisher, facts=facts or Facts()
    )
    return monitor, publisher


def run(m: RiskMonitor, events: list[dict[str, Any]]) -> list[EventResult]:
    return [m.process(e) for e in events]


def root_call(name: str, source: str = "iam", *, mfa: str | None = "true", **params: Any) -> dict[str, Any]:
    actor: dict[str, Any] = dict(ROOT)
    if mfa is not None:
        actor["sessionContext"] = {"attributes": {"mfaAuthenticated": mfa, "creationDate": "2026-06-01"}}
    event = api_call(name, params or None, actor=actor)
    if source != "iam":
        event["source"] = f"aws.{source}"
        event["detail"]["eventSource"] = f"{source}.amazonaws.com"
    return event


class TestAtLeastOnce:
    def test_a_failed_publish_releases_the_claim_and_the_redelivery_alerts_once(self) -> None:
        # Given a topic that refuses the first publish
        m, publisher = make(publisher=Publisher(failures=1))
        event = signin(mfa="No")
        # When the event is delivered, fails, and EventBridge redelivers it (twice, to be sure)
        first, second, third = run(m, [event, event, event])
        # Then the first is undelivered, the second publishes, the third is a duplicate: one alert
        assert (first.undelivered, second.alerted, third.duplicate) == (True, True, True)
        assert len(publisher.sent) == 1

    def test_a_failed_brute_force_alert_is_not_suppressed_on_redelivery(self) -> None:
        m, publisher = make(publisher=Publisher(failures=1))
        burst = [
            signin(iam_user("grace"), ok=False, mfa="No", at=T0 + minutes(i), ip=f"198.51.100.{i}")
            for i in range(5)
        ]
        results = run(m, [*burst, burst[-1]])
        assert results[4].undelivered
        assert "brute_force" in results[5].reasons
        assert results[5].alerted
        assert [a.reasons for a in publisher.sent] == [("failed_signin", "brute_force")]

    def test_without_a_publisher_nothing_is_undelivered(self) -> None:
        m = RiskMonitor(MemorySigninState(), RiskPolicy())
        assert not m.process(signin(mfa="No")).undelivered


class TestRootActivity:
    @pytest.mark.parametrize(
        ("name", "source"),
        [
            ("CreateAccessKey", "iam"),  # root creating its own access key
            ("AttachUserPolicy", "iam"),
            ("CreateUser", "iam"),  # an IAM call no other rule reads
            ("PasswordUpdated", "signin"),  # root password change
            ("DeleteBucket", "s3"),  # another service entirely
        ],
    )
    def test_any_root_action_is_high(self, name: str, source: str) -> None:
        m, publisher = make()
        (result,) = run(m, [root_call(name, source)])
        assert result.reasons == ["root_activity"]
        assert result.severity is Severity.HIGH
        assert len(publisher.sent) == 1

    def test_root_without_mfa_carries_no_mfa(self) -> None:
        m, _ = make()
        (result,) = run(m, [root_call("CreateAccessKey", mfa="false")])
        assert result.reasons == ["root_activity", "no_mfa"]

    def test_a_root_session_alerts_once_per_action_and_window(self) -> None:
        m, publisher = make()
        events = [root_call("DeleteBucket", "s3") for _ in range(3)] + [root_call("PutBucketPolicy", "s3")]
        run(m, events)
        assert len(publisher.sent) == 2


class TestPrivilegeEscalation:
    @pytest.mark.parametrize("policy", ["AdministratorAccess", "IAMFullAccess"])
    def test_admin_policy_attached_to_a_user(self, policy: str) -> None:
        m, _ = make()
        event = api_call(
            "AttachUserPolicy", {"userName": "bob", "policyArn": f"arn:aws:iam::aws:policy/{policy}"}
        )
        (result,) = run(m, [event])
        assert result.reasons == ["admin_policy_attached"]

    def test_read_only_policy_is_not_escalation(self) -> None:
        m, _ = make()
        event = api_call(
            "AttachUserPolicy", {"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}
        )
        assert run(m, [event])[0].findings == []

    def test_admin_policy_attached_to_a_group(self) -> None:
        m, _ = make()
        event = api_call(
            "AttachGroupPolicy",
            {"groupName": "ops", "policyArn": "arn:aws-cn:iam::aws:policy/AdministratorAccess"},
        )
        assert run(m, [event])[0].reasons == ["admin_policy_attached"]

    @pytest.mark.parametrize(
        ("action", "admin"),
        [("*", True), ("*:*", True), ("iam:*", True), (["s3:*", "IAM:*"], True), ("s3:*", False)],
    )
    def test_inline_policy_allowing_everything(self, action: Any, admin: bool) -> None:
        document = json.dumps({"Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})
        m, _ = make()
        event = api_call("PutUserPolicy", {"userName": "bob", "policyName": "p", "policyDocument": document})
        assert ("admin_policy_attached" in run(m, [event])[0].reasons) is admin

    def test_document_never_reaches_the_alert(self) -> None:
        document = json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
        m, publisher = make()
        run(
            m, [api_call("PutUserPolicy", {"userName": "bob", "policyName": "p", "policyDocument": document})]
        )
        assert "Statement" not in json.dumps(publisher.sent[0].message)

    @pytest.mark.parametrize("document", ["{", "[]", '{"Statement": 3}', {"Statement": [{"Effect": "Deny"}]}])
    def test_unreadable_documents_grant_nothing(self, document: Any) -> None:
        assert grants_admin(document) is False

    def test_user_added_to_an_admin_group(self) -> None:
        m, _ = make(facts=Facts(admin_groups=frozenset({"admins"})))
        results = run(
            m,
            [
                api_call("AddUserToGroup", {"userName": "bob", "groupName": "admins"}),
                api_call("AddUserToGroup", {"userName": "bob", "groupName": "readers"}),
            ],
        )
        assert [r.reasons for r in results] == [["admin_policy_attached"], []]

    def test_console_password_for_a_user_that_never_had_one(self) -> None:
        # Given a trusted admin role (no "changed by other" alert) creating passwords
        policy = RiskPolicy(trusted_actor_arns=(f"arn:aws:iam::{ACCOUNT}:role/OpsAdmin",))
        m, _ = make(policy, facts=Facts(console_users=frozenset({"alice"})))
        actor = role_session("OpsAdmin", "ops")
        results = run(
            m,
            [
                api_call("CreateLoginProfile", {"userName": "svc-batch"}, actor=actor),
                api_call("CreateLoginProfile", {"userName": "alice"}, actor=actor),
            ],
        )
        # Then the workload that never signed in is flagged, the returning console user is not
        assert [r.reasons for r in results] == [["console_password_for_workload"], []]

    def test_denied_sensitive_calls_alert_once_per_burst(self) -> None:
        m, publisher = make()
        denied = [
            api_call("AttachUserPolicy", {"userName": "mallory"}, error="AccessDenied", at=T0 + minutes(i))
            for i in range(7)
        ]
        results = run(m, denied)
        assert [("denied_iam_calls" in r.reasons) for r in results] == [False] * 4 + [True] + [False] * 2
        assert len(publisher.sent) == 1

    def test_a_single_denied_call_is_quiet(self) -> None:
        m, _ = make()
        assert (
            run(m, [api_call("CreateAccessKey", {"userName": "x"}, error="AccessDenied")])[0].findings == []
        )


class TestOwnPrincipals:
    def test_every_function_role_is_trusted(self) -> None:
        rotate_now = f"arn:aws:iam::{ACCOUNT}:role/CredentialLifecycle-RotateNowRole-ABC"
        m, _ = make(RiskPolicy(trusted_actor_arns=(rotate_now,)))
        actor = role_session("CredentialLifecycle-RotateNowRole-ABC", "rotate")
        result = m.process(api_call("CreateAccessKey", {"userName": "alice"}, actor=actor))
        assert result.findings == []

    def test_the_member_role_is_trusted_by_name_in_any_account(self) -> None:
        m, _ = make(RiskPolicy(trusted_role_names=("credlife-member",)))
        actor = role_session("credlife-member", "worker")
        actor["sessionContext"]["sessionIssuer"]["arn"] = "arn:aws:iam::210987654321:role/credlife-member"
        assert m.process(api_call("CreateAccessKey", {"userName": "alice"}, actor=actor)).findings == []

    def test_a_role_arn_in_any_account_is_trusted(self) -> None:
        m, _ = make(RiskPolicy(trusted_actor_arns=("arn:aws:iam::*:role/credlife-member",)))
        actor = role_session("credlife-member", "worker")
        actor["sessionContext"]["sessionIssuer"]["arn"] = "arn:aws:iam::210987654321:role/credlife-member"
        assert m.process(api_call("CreateAccessKey", {"userName": "alice"}, actor=actor)).findings == []

    @pytest.mark.parametrize(
        "issuer",
        [
            "arn:aws:iam::210987654321:role/x:role/credlife-member",  # a path cannot stand in for the account
            "arn:aws:iam::210987654321:role/credlife-member-evil",
        ],
    )
    def test_the_any_account_pattern_matches_an_account_only(self, issuer: str) -> None:
        m, _ = make(RiskPolicy(trusted_actor_arns=("arn:aws:iam::*:role/credlife-member",)))
        actor = role_session("credlife-member", "worker")
        actor["sessionContext"]["sessionIssuer"]["arn"] = issuer
        actor["arn"] = "arn:aws:sts::210987654321:assumed-role/evil/worker"
        assert m.process(api_call("CreateAccessKey", {"userName": "alice"}, actor=actor)).reasons == [
            "key_created_for_other_user"
        ]

    def test_a_similarly_named_role_is_not_trusted(self) -> None:
        m, _ = make(RiskPolicy(trusted_role_names=("credlife-member",)))
        actor = role_session("credlife-member-evil", "x")
        assert m.process(api_call("CreateAccessKey", {"userName": "alice"}, actor=actor)).reasons == [
            "key_created_for_other_user"
        ]


def failing(user: str, at: datetime, ip: str = "198.51.100.7") -> dict[str, Any]:
    return signin(iam_user(user), ok=False, mfa="No", at=at, ip=ip)


class TestGuessing:
    def test_slow_guessing_over_hours_alerts_once(self) -> None:
        # Given 30 failures for one user, one every 30 minutes (never 5 in 15 minutes), from varying IPs
        m, publisher = make()
        events = [failing("dana", T0 + minutes(30 * i), ip=f"203.0.113.{i}") for i in range(30)]
        results = run(m, events)
        # Then the 20th raises slow_brute_force once; burst brute force never fires
        slow = [i for i, r in enumerate(results) if "slow_brute_force" in r.reasons]
        assert slow == [19]
        assert all("brute_force" not in r.reasons for r in results)
        assert sum("slow_brute_force" in a.reasons for a in publisher.sent) == 1

    def test_user_names_count_case_insensitively(self) -> None:
        m, _ = make()
        names = ["dana", "Dana", "DANA", "dAna", "danA"]
        results = run(m, [failing(n, T0 + minutes(i), ip=f"203.0.113.{i}") for i, n in enumerate(names)])
        assert "brute_force" in results[-1].reasons

    def test_ipv6_sources_count_by_64(self) -> None:
        m, _ = make()
        events = [failing(f"user{i}", T0 + minutes(i), ip=f"2001:db8:1:2::{i + 1:x}") for i in range(5)]
        results = run(m, events)
        (brute,) = [f for f in results[-1].findings if f.reason.value == "brute_force"]
        assert brute.dedupe_key == "IP#2001:db8:1:2::/64"
        assert ip_subject("198.51.100.7") == "198.51.100.7"
        assert ip_subject("::ffff:198.51.100.7") == "198.51.100.7"  # IPv4-mapped: one host
        assert ip_subject("not-an-ip:") == "not-an-ip:"

    def test_password_spraying_one_source_many_users(self) -> None:
        # Given one source failing once each against 8 users, 20 minutes apart (no per-user signal)
        m, publisher = make(RiskPolicy(brute_force_failures=50))
        results = run(m, [failing(f"user{i}", T0 + minutes(20 * i)) for i in range(8)])
        spray = [i for i, r in enumerate(results) if "password_spraying" in r.reasons]
        assert spray == [4]  # the fifth distinct user
        assert sum("password_spraying" in a.reasons for a in publisher.sent) == 1

    def test_one_user_failing_often_is_not_spraying(self) -> None:
        m, _ = make(RiskPolicy(brute_force_failures=50))
        results = run(m, [failing("dana", T0 + minutes(20 * i)) for i in range(8)])
        assert all("password_spraying" not in r.reasons for r in results)

    def test_a_new_slow_window_alerts_again(self) -> None:
        m, publisher = make(RiskPolicy(slow_failures=3, slow_window_hours=1, brute_force_failures=50))
        run(m, [failing("dana", T0 + minutes(10 * i)) for i in range(3)])
        run(m, [failing("dana", T0 + timedelta(hours=3) + minutes(10 * i)) for i in range(3)])
        assert sum("slow_brute_force" in a.reasons for a in publisher.sent) == 2
