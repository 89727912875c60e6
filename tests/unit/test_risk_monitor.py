"""The monitor over ordered sequences with the in-memory state: brute-force windows (one alert per window),
baselines, redelivered events, and degraded operation when the state or the publisher fails."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from credlife.domain.risk import Alert, Failures, RiskPolicy, SigninHistory
from credlife.risk_monitor import EventResult, MemorySigninState, MfaLift, RiskMonitor
from tests.cloudtrail import ACCOUNT, FIREFOX, HIDDEN, T0, api_call, iam_user, minutes, signin


class Publisher:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[Alert] = []
        self.fail = fail

    def publish(self, alert: Alert) -> None:
        if self.fail:
            raise ConnectionError("topic unreachable")
        self.sent.append(alert)


class Owners:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def ask_owner(self, account: str, user: str, alert: Alert) -> None:
        self.asked.append((account, user))


def monitor(policy: RiskPolicy | None = None, state: Any = None) -> tuple[RiskMonitor, Publisher, Owners]:
    publisher, owners = Publisher(), Owners()
    return (
        RiskMonitor(
            state or MemorySigninState(), policy or RiskPolicy(), publisher=publisher, owner_check=owners
        ),
        publisher,
        owners,
    )


def run(m: RiskMonitor, events: list[dict[str, Any]]) -> list[EventResult]:
    return [m.process(e) for e in events]


def failures(
    user: str = "grace", *, start: datetime = T0, every: float = 1, n: int = 5, ip: str | None = None
) -> list[dict[str, Any]]:
    return [
        signin(
            iam_user(user), ok=False, mfa="No", at=start + minutes(every * i), ip=ip or f"198.51.100.{i + 1}"
        )
        for i in range(n)
    ]


class TestBruteForce:
    def test_four_failures_in_the_window_raise_nothing(self) -> None:
        m, publisher, _ = monitor()
        results = run(m, failures(n=4))
        assert all("brute_force" not in r.reasons for r in results)
        assert publisher.sent == []  # single failures are low: counted, not alerted

    def test_the_fifth_failure_alerts_once(self) -> None:
        # Given 8 failures of one user a minute apart, from different IPs
        m, publisher, _ = monitor()
        results = run(m, failures(n=8))
        # Then the fifth raises brute_force and is published; later ones are suppressed, not re-alerted
        assert [("brute_force" in r.reasons) for r in results] == [False] * 4 + [True] + [False] * 3
        assert [r.suppressed[0].reason.value for r in results[5:]] == ["brute_force"] * 3
        assert [a.reasons for a in publisher.sent] == [("failed_signin", "brute_force")]

    def test_failures_spread_wider_than_the_window_never_alert(self) -> None:
        # Given failures 4 minutes apart: 5 of them span 16 minutes > 15
        m, _publisher, _ = monitor()
        results = run(m, failures(every=4, n=8))
        assert all("brute_force" not in r.reasons for r in results)

    def test_window_edge_is_inclusive_to_the_minute(self) -> None:
        # Given 5 failures with the first and last 14 minutes apart (inside a 15-minute window)
        m, _, _ = monitor()
        results = run(m, failures(every=3.5, n=5))
        assert "brute_force" in results[-1].reasons

    def test_a_new_window_alerts_again(self) -> None:
        # Given a burst, then a second burst 20 minutes after the first alert
        m, publisher, _ = monitor()
        run(m, failures(n=5))
        run(m, failures(n=5, start=T0 + minutes(24)))
        assert len(publisher.sent) == 2

    def test_hidden_user_names_count_per_ip(self) -> None:
        m, publisher, _ = monitor()
        burst = [
            signin(HIDDEN, ok=False, mfa="No", at=T0 + minutes(i), ip="198.51.100.200") for i in range(5)
        ]
        results = run(m, burst)
        assert results[-1].reasons == ["failed_signin", "brute_force"]
        assert "198.51.100.200" in publisher.sent[0].message["why"][1]["detail"]

    def test_two_users_from_one_ip_count_together_per_ip(self) -> None:
        m, _, _ = monitor()
        events = [
            signin(iam_user(f"user{i % 2}"), ok=False, mfa="No", at=T0 + minutes(i), ip="198.51.100.9")
            for i in range(5)
        ]
        results = run(m, events)
        (brute,) = [f for f in results[-1].findings if f.reason.value == "brute_force"]
        assert brute.dedupe_key == "IP#198.51.100.9"


class TestBaseline:
    def signins(self, user: str, n: int, **kwargs: Any) -> list[dict[str, Any]]:
        return [signin(iam_user(user), at=T0 + timedelta(days=i), **kwargs) for i in range(n)]

    def test_new_ip_after_five_and_the_owner_is_asked(self) -> None:
        m, publisher, owners = monitor()
        run(m, self.signins("ivan", 5, ip="203.0.113.70"))
        (result,) = run(m, [signin(iam_user("ivan"), at=T0 + timedelta(days=6), ip="192.0.2.200")])
        assert result.reasons == ["new_source_ip"]
        assert result.alerted
        assert owners.asked == [("123456789012", "ivan")]
        assert publisher.sent[0].message["where"]["source_ip"] == "192.0.2.200"

    def test_new_ip_during_the_baseline_is_learned_not_flagged(self) -> None:
        m, _, _ = monitor()
        results = run(
            m, [signin(iam_user("leo"), at=T0 + timedelta(days=i), ip=f"203.0.113.{i}") for i in range(5)]
        )
        assert all(r.findings == [] for r in results)
        # and once learned, the same IPs are known
        (again,) = run(m, [signin(iam_user("leo"), at=T0 + timedelta(days=9), ip="203.0.113.3")])
        assert again.findings == []

    def test_new_agent_asks_the_owner_without_paging_security(self) -> None:
        m, publisher, owners = monitor()
        run(m, self.signins("kim", 5))
        (result,) = run(m, [signin(iam_user("kim"), at=T0 + timedelta(days=6), agent=FIREFOX)])
        assert result.reasons == ["new_user_agent"]
        assert publisher.sent == []
        assert owners.asked == [("123456789012", "kim")]

    def test_failed_sign_ins_do_not_build_the_baseline(self) -> None:
        state = MemorySigninState()
        m, _, _ = monitor(state=state)
        run(m, [signin(iam_user("mia"), ok=False, mfa="No", at=T0 + timedelta(days=i)) for i in range(3)])
        assert state.load_history("123456789012", "mia") is None


class TestDelivery:
    def test_a_redelivered_event_is_judged_once(self) -> None:
        m, publisher, _ = monitor()
        event = signin(mfa="No")
        first, second = run(m, [event, event])
        assert first.reasons == ["no_mfa"]
        assert second.duplicate
        assert second.findings == []
        assert len(publisher.sent) == 1

    def test_a_sign_in_after_the_lifecycle_deleted_the_console_password(self) -> None:
        state = MemorySigninState()
        state.disabled_users[("123456789012", "dora")] = (T0 - timedelta(days=2), "console_password_deleted")
        m, publisher, _ = monitor(state=state)
        (result,) = run(m, [signin(iam_user("dora"))])
        assert result.reasons == ["disabled_user_signin"]
        assert publisher.sent


class BrokenState(MemorySigninState):
    def claim_event(self, account: str, event_id: str, at: datetime) -> bool:
        raise TimeoutError("dynamodb unreachable")

    def count_failure(
        self, account: str, subject: str, at: datetime, policy: RiskPolicy, user: str | None = None
    ) -> Failures:
        raise TimeoutError("dynamodb unreachable")

    def load_history(self, account: str, user: str) -> SigninHistory | None:
        raise TimeoutError("dynamodb unreachable")


class TestDegraded:
    def test_state_errors_degrade_to_stateless_rules(self) -> None:
        # Given a state table that cannot be reached
        m, publisher, _ = monitor(state=BrokenState())
        # When a no-MFA sign-in and a key creation for another user arrive
        results = run(m, [signin(mfa="No"), api_call("CreateAccessKey", {"userName": "alice"})])
        # Then both are still judged and alerted, and the errors are reported
        assert [r.reasons for r in results] == [["no_mfa"], ["key_created_for_other_user"]]
        assert len(publisher.sent) == 2
        assert "claim_event: TimeoutError" in results[0].errors

    def test_a_failing_publisher_loses_no_other_event(self) -> None:
        m = RiskMonitor(MemorySigninState(), RiskPolicy(), publisher=Publisher(fail=True))
        results = run(m, [signin(mfa="No"), signin(mfa="No", at=T0 + minutes(1))])
        assert [r.reasons for r in results] == [["no_mfa"], ["no_mfa"]]
        assert all(not r.alerted and r.errors == ["publish: ConnectionError"] for r in results)
        assert all(r.undelivered for r in results)

    @pytest.mark.parametrize("raw", [None, "garbage", {"detail": {}}, 17])
    def test_malformed_in_a_sequence_does_not_stop_it(self, raw: Any) -> None:
        m, publisher, _ = monitor()
        results = run(m, [raw, signin(mfa="No")])
        assert results[0].reasons == ["malformed"]
        assert not results[0].risky
        assert results[1].reasons == ["no_mfa"]
        assert len(publisher.sent) == 1


# -- EnableMFADevice: the lift and the owner's notice ---------------------------------------------------


class Hook:
    def __init__(self, lift: MfaLift) -> None:
        self.lift = lift
        self.calls: list[tuple[str, str, datetime]] = []

    def mfa_enabled(self, account: str, user: str, at: datetime) -> MfaLift:
        self.calls.append((account, user, at))
        return self.lift


class Notice:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str, datetime, bool]] = []
        self.fail = fail

    def mfa_lifted(self, account: str, user: str, at: datetime, dry_run: bool) -> None:
        if self.fail:
            raise ConnectionError("ses unreachable")
        self.sent.append((account, user, at, dry_run))


def enable_mfa(user: str = "bob", at: datetime = T0) -> dict[str, Any]:
    return api_call(
        "EnableMFADevice", {"userName": user, "serialNumber": "mfa/x"}, actor=iam_user(user), at=at
    )


def lifting(lift: MfaLift, notice: Notice) -> tuple[RiskMonitor, Hook]:
    hook = Hook(lift)
    return RiskMonitor(MemorySigninState(), RiskPolicy(), mfa_hook=hook, mfa_notice=notice), hook


class TestMfaLiftNotice:
    def test_the_owner_is_told_once_per_event(self) -> None:
        # Given the require-MFA policy is detached when bob enables a device
        notice = Notice()
        m, hook = lifting(MfaLift("applied", detached=True), notice)
        event = enable_mfa()
        # When the event arrives, and is delivered again
        first, again = run(m, [event, event])
        # Then the owner is told once, with the event's time
        assert (first.mfa_lift, first.mfa_notice, first.errors) == ("applied", True, [])
        assert again.duplicate
        assert not again.mfa_notice
        assert notice.sent == [(ACCOUNT, "bob", T0, False)]
        assert len(hook.calls) == 1

    def test_a_dry_run_lift_is_told_as_a_dry_run(self) -> None:
        notice = Notice()
        m, _ = lifting(MfaLift("dry_run", detached=True), notice)
        assert m.process(enable_mfa()).mfa_notice
        assert notice.sent == [(ACCOUNT, "bob", T0, True)]

    @pytest.mark.parametrize(
        "lift", [MfaLift("applied", detached=False), MfaLift("failed"), MfaLift("dry_run", detached=False)]
    )
    def test_nothing_lifted_tells_nobody(self, lift: MfaLift) -> None:
        notice = Notice()
        m, _ = lifting(lift, notice)
        result = m.process(enable_mfa())
        assert (result.mfa_lift, result.mfa_notice) == (lift.status, False)
        assert notice.sent == []

    def test_a_failed_send_keeps_the_lift_and_is_reported(self) -> None:
        m, _ = lifting(MfaLift("applied", detached=True), Notice(fail=True))
        result = m.process(enable_mfa())
        assert result.mfa_lift == "applied"
        assert not result.mfa_notice
        assert result.errors == ["mfa_notice: ConnectionError"]
        assert result.as_row()["mfa_lift"] == "applied"

    def test_other_events_never_lift_or_tell(self) -> None:
        notice = Notice()
        m, hook = lifting(MfaLift("applied", detached=True), notice)
        run(m, [signin(mfa="No"), api_call("DeactivateMFADevice", {"userName": "bob"})])
        denied = api_call("EnableMFADevice", {"userName": "bob"}, error="AccessDenied")
        m.process(denied)
        assert hook.calls == []
        assert notice.sent == []
