"""The pure risk rules of DESIGN §4, one class per reason code: negative, positive, edges.

Events are built in the documented CloudTrail shapes (tests/cloudtrail.py), normalised, and judged with an
explicit `RiskView` (what the state table knew before the event)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credlife.domain.actions import Severity
from credlife.domain.events import normalise
from credlife.domain.risk import (
    Finding,
    RiskPolicy,
    RiskReason,
    RiskView,
    SigninHistory,
    agent_family,
    build_alert,
    evaluate,
    remember,
)
from tests.cloudtrail import CHROME, FIREFOX, HIDDEN, ROOT, T0, api_call, iam_user, role_session, signin

POLICY = RiskPolicy()


def judge(event: dict[str, Any], view: RiskView | None = None, policy: RiskPolicy = POLICY) -> list[Finding]:
    return evaluate(normalise(event), view or RiskView(), policy)


def reasons(event: dict[str, Any], view: RiskView | None = None, policy: RiskPolicy = POLICY) -> list[str]:
    return [f.reason.value for f in judge(event, view, policy)]


def baseline(n: int, ip: str = "203.0.113.10", agent: str = CHROME) -> SigninHistory:
    history = None
    for day in range(n):
        history = remember(
            history, normalise(signin(at=T0 - timedelta(days=n - day), ip=ip, agent=agent)), POLICY
        )
    assert history is not None
    return history


class TestRootSignin:
    def test_iam_user_signin_is_not_root(self) -> None:
        assert "root_signin" not in reasons(signin(iam_user("alice")))

    def test_root_success_with_mfa_is_high(self) -> None:
        # Given a root sign-in with MFA / When judged / Then root_signin, high
        (found,) = judge(signin(ROOT, mfa="Yes"))
        assert (found.reason, found.severity) == (RiskReason.ROOT_SIGNIN, Severity.HIGH)

    def test_root_success_without_mfa_is_critical(self) -> None:
        found, _ = judge(signin(ROOT, mfa="No"))
        assert (found.reason, found.severity) == (RiskReason.ROOT_SIGNIN, Severity.CRITICAL)

    def test_root_failure_is_flagged_too(self) -> None:
        assert reasons(signin(ROOT, ok=False, mfa="No")) == ["root_signin", "failed_signin"]

    @pytest.mark.parametrize("mfa", ["No", None])
    def test_root_without_mfa_carries_no_mfa_at_root_severity(self, mfa: str | None) -> None:
        # a filter on the no_mfa reason code must see root too, at the root finding's severity
        findings = judge(signin(ROOT, mfa=mfa))
        assert [(f.reason.value, f.severity) for f in findings] == [
            ("root_signin", Severity.CRITICAL),
            ("no_mfa", Severity.CRITICAL),
        ]

    def test_root_with_mfa_has_no_no_mfa(self) -> None:
        assert reasons(signin(ROOT, mfa="Yes")) == ["root_signin"]


class TestNoMfa:
    def test_with_mfa_nothing(self) -> None:
        assert reasons(signin(mfa="Yes")) == []

    @pytest.mark.parametrize("value", ["yes", "YES", " Yes "])
    def test_mfa_used_is_compared_case_insensitively(self, value: str) -> None:
        assert reasons(signin(mfa=value)) == []

    def test_iam_user_without_mfa(self) -> None:
        (found,) = judge(signin(mfa="No"))
        assert (found.reason, found.subject, found.severity) == (RiskReason.NO_MFA, "alice", Severity.MEDIUM)

    def test_absent_mfa_field_counts_as_no_mfa(self) -> None:
        assert reasons(signin(mfa=None)) == ["no_mfa"]

    def test_failed_signin_without_mfa_is_not_no_mfa(self) -> None:
        assert "no_mfa" not in reasons(signin(ok=False, mfa="No"))

    def test_identity_center_sessions_are_never_no_mfa(self) -> None:
        sso = role_session("AWSReservedSSO_Admin_0123abcd", "erin@example.com", sso=True)
        assert reasons(signin(sso, mfa="No")) == []

    def test_saml_sign_in_is_never_no_mfa(self) -> None:
        # Given a SAML sign-in into an ordinary role (the IdP did MFA; CloudTrail says MFAUsed: No)
        event = signin(
            role_session("OktaAdmin", "frank"),
            mfa="No",
            extra={"SamlProviderArn": "arn:aws:iam::123456789012:saml-provider/Okta"},
        )
        assert reasons(event) == []

    def test_saml_provider_alone_marks_a_sign_in_federated(self) -> None:
        # a record carrying a SamlProviderArn is the identity provider's sign-in, not a password one
        event = signin(mfa="No", extra={"SamlProviderArn": "arn:aws:iam::123456789012:saml-provider/Okta"})
        assert reasons(event) == []


class TestFailedSignin:
    def test_success_is_not_a_failure(self) -> None:
        assert "failed_signin" not in reasons(signin())

    def test_failure_is_low(self) -> None:
        (found,) = judge(signin(ok=False, mfa="No"))
        assert (found.reason, found.severity) == (RiskReason.FAILED_SIGNIN, Severity.LOW)

    def test_hidden_user_name_failure_names_no_user(self) -> None:
        (found,) = judge(signin(HIDDEN, ok=False, mfa="No"))
        assert found.subject == "(hidden user name)"


class TestBruteForce:
    @pytest.mark.parametrize(("count", "expected"), [(4, False), (5, True), (6, True)])
    def test_per_user_threshold_edge(self, count: int, expected: bool) -> None:
        # Given `count` failures of alice inside the window (this one included)
        found = reasons(signin(ok=False, mfa="No"), RiskView(user_failures=count))
        # Then brute_force from exactly N (5) on
        assert ("brute_force" in found) is expected

    def test_per_ip_counts_even_with_a_hidden_user_name(self) -> None:
        found = judge(signin(HIDDEN, ok=False, mfa="No", ip="198.51.100.200"), RiskView(ip_failures=5))
        (brute,) = [f for f in found if f.reason is RiskReason.BRUTE_FORCE]
        assert brute.dedupe_key == "IP#198.51.100.200"
        assert "198.51.100.200" in brute.detail

    def test_user_and_ip_both_over_threshold_give_two_keys(self) -> None:
        found = judge(signin(ok=False, mfa="No"), RiskView(user_failures=9, ip_failures=5))
        assert sorted(f.dedupe_key or "" for f in found if f.reason is RiskReason.BRUTE_FORCE) == [
            "IP#203.0.113.10",
            "USER#alice",
        ]

    def test_configurable_threshold(self) -> None:
        policy = RiskPolicy(brute_force_failures=2)
        assert "brute_force" in reasons(signin(ok=False, mfa="No"), RiskView(user_failures=2), policy)

    def test_a_success_never_raises_brute_force(self) -> None:
        assert "brute_force" not in reasons(signin(), RiskView(user_failures=50, ip_failures=50))


class TestBaseline:
    def test_no_baseline_no_new_ip(self) -> None:
        # Given 4 sign-ins on record (baseline needs 5) / When a new IP signs in / Then nothing
        assert reasons(signin(ip="192.0.2.1"), RiskView(history=baseline(4))) == []

    def test_new_ip_once_baseline_exists(self) -> None:
        found = judge(signin(ip="192.0.2.1"), RiskView(history=baseline(5)))
        assert [f.reason for f in found] == [RiskReason.NEW_SOURCE_IP]
        assert "192.0.2.1" in found[0].detail

    def test_known_ip_and_agent_nothing(self) -> None:
        assert reasons(signin(), RiskView(history=baseline(5))) == []

    def test_browser_update_is_not_a_new_agent(self) -> None:
        updated = CHROME.replace("125.0.0.0", "126.0.6478.61")
        assert agent_family(updated) == agent_family(CHROME)
        assert reasons(signin(agent=updated), RiskView(history=baseline(5))) == []

    def test_new_browser_is_a_new_agent(self) -> None:
        assert reasons(signin(agent=FIREFOX), RiskView(history=baseline(5))) == ["new_user_agent"]

    def test_failures_are_never_judged_against_the_baseline(self) -> None:
        assert "new_source_ip" not in reasons(signin(ok=False, ip="192.0.2.1"), RiskView(history=baseline(9)))

    def test_history_forgets_old_entries_and_keeps_the_newest(self) -> None:
        # Given an IP last seen 91 days ago and a cap of 2 IPs
        policy = RiskPolicy(max_known_ips=2)
        history = SigninHistory(
            successes=3,
            known_ips={"10.0.0.1": T0 - timedelta(days=91), "10.0.0.2": T0 - timedelta(days=2)},
        )
        # When two new IPs sign in
        history = remember(history, normalise(signin(ip="10.0.0.3", at=T0)), policy)
        history = remember(history, normalise(signin(ip="10.0.0.4", at=T0 + timedelta(hours=1))), policy)
        # Then the stale IP is gone and only the 2 most recent remain
        assert set(history.known_ips) == {"10.0.0.3", "10.0.0.4"}
        assert history.successes == 5


class TestDisabledUser:
    def test_not_disabled_nothing(self) -> None:
        assert reasons(signin(), RiskView(disabled=None)) == []

    def test_success_after_the_project_disabled_a_credential_is_high(self) -> None:
        (found,) = judge(signin(), RiskView(disabled=(T0 - timedelta(days=3), "console_password_deleted")))
        assert (found.reason, found.severity) == (RiskReason.DISABLED_USER_SIGNIN, Severity.HIGH)
        assert "console password" in found.detail

    def test_attempt_is_medium(self) -> None:
        found = judge(signin(ok=False, mfa="No"), RiskView(disabled=(T0, "console_password_deleted")))
        (disabled,) = [f for f in found if f.reason is RiskReason.DISABLED_USER_SIGNIN]
        assert disabled.severity is Severity.MEDIUM


class TestMfaRemoved:
    def test_enabling_mfa_is_not_risky(self) -> None:
        assert (
            reasons(api_call("EnableMFADevice", {"userName": "bob", "serialNumber": "arn:aws:iam::1:mfa/b"}))
            == []
        )

    def test_deactivate_names_the_user(self) -> None:
        (found,) = judge(
            api_call("DeactivateMFADevice", {"userName": "carol", "serialNumber": "x/carol-phone"})
        )
        assert (found.reason, found.subject) == (RiskReason.MFA_REMOVED, "carol")

    def test_delete_virtual_device_names_the_device(self) -> None:
        (found,) = judge(
            api_call("DeleteVirtualMFADevice", {"serialNumber": "arn:aws:iam::1:mfa/carol-phone"})
        )
        assert (found.reason, found.subject) == (RiskReason.MFA_REMOVED, "carol-phone")

    def test_a_denied_call_changed_nothing(self) -> None:
        assert reasons(api_call("DeactivateMFADevice", {"userName": "carol"}, error="AccessDenied")) == []


class TestKeyCreatedForOtherUser:
    def test_own_key_without_user_name(self) -> None:
        assert reasons(api_call("CreateAccessKey", None, actor=iam_user("alice"))) == []

    def test_own_key_named_explicitly(self) -> None:
        assert reasons(api_call("CreateAccessKey", {"userName": "alice"}, actor=iam_user("alice"))) == []

    def test_key_for_another_user(self) -> None:
        (found,) = judge(api_call("CreateAccessKey", {"userName": "alice"}, actor=iam_user("mallory")))
        assert (found.reason, found.subject) == (RiskReason.KEY_CREATED_FOR_OTHER_USER, "alice")
        assert "mallory" in found.detail

    @pytest.mark.parametrize(
        ("actor", "target"), [("alice", "alice-admin"), ("alice-admin", "alice"), ("al", "alice")]
    )
    def test_whole_names_are_compared_not_substrings(self, actor: str, target: str) -> None:
        assert reasons(api_call("CreateAccessKey", {"userName": target}, actor=iam_user(actor))) == [
            "key_created_for_other_user"
        ]

    def test_case_does_not_make_another_user(self) -> None:
        # IAM user names are unique regardless of case: `Alice` naming `alice` acts on herself
        assert reasons(api_call("CreateAccessKey", {"userName": "alice"}, actor=iam_user("Alice"))) == []

    def test_a_role_creating_a_user_key_is_another_principal(self) -> None:
        event = api_call("CreateAccessKey", {"userName": "bob"}, actor=role_session("OpsAdmin", "ops"))
        assert reasons(event) == ["key_created_for_other_user"]

    def test_trusted_automation_role_is_not_flagged(self) -> None:
        policy = RiskPolicy(trusted_actor_arns=("arn:aws:iam::123456789012:role/credlife-executor",))
        event = api_call(
            "CreateAccessKey", {"userName": "bob"}, actor=role_session("credlife-executor", "run")
        )
        assert reasons(event, policy=policy) == []

    def test_reactivating_another_users_key(self) -> None:
        event = api_call("UpdateAccessKey", {"userName": "alice", "status": "Active"})
        assert reasons(event) == ["key_created_for_other_user"]

    def test_deactivating_another_users_key_is_not_risky(self) -> None:
        assert reasons(api_call("UpdateAccessKey", {"userName": "alice", "status": "Inactive"})) == []

    def test_denied_attempt_is_not_a_creation(self) -> None:
        assert reasons(api_call("CreateAccessKey", {"userName": "alice"}, error="AccessDenied")) == []


class TestLoginProfileChangedByOther:
    @pytest.mark.parametrize("name", ["CreateLoginProfile", "UpdateLoginProfile"])
    def test_by_another_user(self, name: str) -> None:
        assert reasons(api_call(name, {"userName": "bob"})) == ["login_profile_changed_by_other"]

    def test_own_password_change(self) -> None:
        assert reasons(api_call("UpdateLoginProfile", {"userName": "bob"}, actor=iam_user("bob"))) == []

    def test_deleting_a_login_profile_is_not_this_rule(self) -> None:
        assert reasons(api_call("DeleteLoginProfile", {"userName": "bob"})) == []


class TestMany:
    def test_unrelated_iam_calls_are_not_risky(self) -> None:
        assert reasons(api_call("AttachUserPolicy", {"userName": "bob", "policyArn": "arn:x"})) == []

    def test_several_findings_in_one_alert(self) -> None:
        # Given a disabled user signing in without MFA from a new IP
        event = normalise(signin(mfa="No", ip="192.0.2.9"))
        view = RiskView(history=baseline(5), disabled=(T0 - timedelta(days=1), "console_password_deleted"))
        found = evaluate(event, view, POLICY)
        # When the alert is built
        alert = build_alert(event, found, POLICY)
        # Then it says who, what, where, when, why, what next; the subject is short and names the reasons
        assert alert.severity is Severity.HIGH
        assert set(alert.reasons) == {"no_mfa", "disabled_user_signin", "new_source_ip"}
        assert len(alert.subject) <= 100
        assert alert.subject.isascii()
        message = alert.message
        assert message["who"]["user"] == "alice"
        assert message["where"] == {"source_ip": "192.0.2.9", "region": "us-east-1", "user_agent": CHROME}
        assert message["when"] == datetime(2026, 6, 1, 8, 0, tzinfo=UTC).isoformat()
        assert len(message["why"]) == 3
        assert all(item["next_steps"] for item in message["why"])
        assert alert.owner == "alice"  # no_mfa and new_source_ip call for "was this you?"

    def test_no_owner_check_for_iam_changes(self) -> None:
        event = normalise(api_call("CreateAccessKey", {"userName": "alice"}))
        alert = build_alert(event, evaluate(event, RiskView(), POLICY), POLICY)
        assert alert.owner is None


class TestPolicy:
    def test_unknown_fields_are_rejected(self) -> None:
        with pytest.raises(ValueError, match="extra"):
            RiskPolicy.model_validate({"brute_force_failure": 3})

    def test_zero_threshold_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="greater than or equal"):
            RiskPolicy(brute_force_failures=0)
