"""Planner rows for console passwords, MFA for console users and the account level (issue 4): nothing to
do, act, edges, many. Time is explicit: everything is `n` days before the fixed clock `NOW`."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from credlife.domain.actions import Action, ActionKind, Reason, Severity
from credlife.domain.credential_planner import ACCOUNT as ACCOUNT_ROW
from credlife.domain.credential_planner import CONSOLE
from credlife.domain.credentials import ServerCertificate
from credlife.domain.models import (
    AccountFacts,
    AccountSnapshot,
    CredentialRecord,
    CredentialType,
    LoginProfile,
    Notice,
    User,
    cred_ref,
)
from credlife.domain.password_policy import PasswordPolicy, PasswordPolicyBaseline
from credlife.domain.planner import plan
from credlife.domain.policy import Policy
from credlife.domain.root import RootAccount
from tests.builders import ACCOUNT, NOW, days, key, user

POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/credlife-require-mfa"
LIVE = Policy(dry_run=False, require_mfa_policy_arn=POLICY_ARN)
BASELINE = PasswordPolicy(14, True, True, True, True, True, 90, 24)


def console(
    name: str = "carol",
    *,
    created_ago: float = 10,
    used_ago: float | None = 1,
    mfa: bool = False,
    reset: bool | None = None,
    enforced: bool = False,
    tags: dict[str, str] | None = None,
) -> User:
    return replace(
        user(name, tags=tags),
        login_profile=LoginProfile(
            NOW - days(created_ago), None if used_ago is None else NOW - days(used_ago)
        ),
        mfa_active=mfa,
        password_reset_required=reset,
        attached_policies=(POLICY_ARN,) if enforced else (),
    )


def mfa_record(
    name: str = "carol", *, detected_ago: float | None, notices: tuple[Notice, ...] = ()
) -> CredentialRecord:
    return CredentialRecord(
        user=name,
        credential=CredentialType.MFA.value,
        credential_id=CONSOLE,
        notices=notices,
        detected_at=None if detected_ago is None else NOW - days(detected_ago),
    )


def password_record(name: str, notices: tuple[Notice, ...]) -> CredentialRecord:
    return CredentialRecord(name, CredentialType.PASSWORD.value, CONSOLE, notices=notices)


def run(
    *users: User,
    records: tuple[CredentialRecord, ...] = (),
    policy: Policy = LIVE,
    now: datetime = NOW,
    facts: AccountFacts | None = None,
) -> list[Action]:
    snap = AccountSnapshot(
        account_id=ACCOUNT,
        taken_at=now,
        users=users,
        credential_records={cred_ref(r.user, r.credential, r.credential_id): r for r in records},
        account=facts,
    )
    return plan(snap, policy, now)


def rows(actions: list[Action]) -> list[tuple[str, str, str, str | None]]:
    return [(a.credential.value, a.action.value, a.reason.value, a.stage) for a in actions]


class TestMfaForConsoleUsers:
    def test_console_user_with_mfa_needs_nothing(self) -> None:
        assert run(console(mfa=True)) == []

    def test_user_without_password_is_left_alone(self) -> None:
        # Given a user who never had a console password (API only) and no MFA
        assert run(user("api", key(10, 1))) == []

    def test_user_with_mfa_but_no_password_is_left_alone(self) -> None:
        assert run(replace(user("mfa-only"), mfa_active=True)) == []

    def test_detection_warns_with_the_grace_deadline(self) -> None:
        # Given a console user without MFA, seen for the first time
        actions = run(console())
        # Then one warning at detection, announcing enforcement 7 days from now
        assert rows(actions) == [("mfa", "warn", "console_no_mfa", "7d")]
        (warn,) = actions
        assert warn.warns_of is ActionKind.ENFORCE
        assert warn.deadline == NOW + days(7)
        assert warn.key_created == NOW  # the detection time the executor persists

    def test_reminder_at_the_next_stage_only(self) -> None:
        sent = Notice("enforce", "7d", NOW - days(4), NOW + days(3), delivered_at=NOW - days(4))
        record = mfa_record(detected_ago=4, notices=(sent,))
        assert rows(run(console(), records=(record,))) == [("mfa", "warn", "console_no_mfa", "3d")]
        # and nothing more on the same stage
        again = Notice("enforce", "3d", NOW, NOW + days(3), delivered_at=NOW)
        assert run(console(), records=(replace(record, notices=(sent, again)),)) == []

    def test_enforced_after_the_persisted_grace(self) -> None:
        sent = Notice("enforce", "7d", NOW - days(7), NOW, delivered_at=NOW - days(7))
        actions = run(console(), records=(mfa_record(detected_ago=7, notices=(sent,)),))
        assert rows(actions) == [("mfa", "enforce", "console_no_mfa", None)]
        assert actions[0].severity is Severity.HIGH

    def test_grace_without_a_notice_warns_first(self) -> None:
        # Given the detection was recorded 30 days ago but no live notice exists (e.g. dry-run before)
        actions = run(console(), records=(mfa_record(detected_ago=30),))
        # Then the minimum notice goes out first (the deadline is pushed to a week from now)
        assert rows(actions) == [("mfa", "warn", "console_no_mfa", "7d")]
        assert actions[0].deadline == NOW + days(7)

    def test_delete_login_profile_mode(self) -> None:
        policy = LIVE.model_copy(update={"mfa_enforcement": "delete_login_profile"})
        sent = Notice("delete", "7d", NOW - days(8), NOW - days(1), delivered_at=NOW - days(8))
        actions = run(console(), records=(mfa_record(detected_ago=8, notices=(sent,)),), policy=policy)
        assert rows(actions) == [("mfa", "delete", "console_no_mfa", None)]

    def test_without_a_policy_arn_only_alerts(self) -> None:
        policy = Policy(dry_run=False)
        assert rows(run(console(), policy=policy)) == [("mfa", "warn", "console_no_mfa", "notice")]
        later = run(console(), records=(mfa_record(detected_ago=8),), policy=policy)
        assert rows(later) == [("mfa", "alert", "console_no_mfa", None)]

    def test_already_enforced_user_without_mfa_gets_nothing_more(self) -> None:
        assert run(console(enforced=True), records=(mfa_record(detected_ago=20),)) == []

    def test_lifted_as_soon_as_mfa_is_enabled(self) -> None:
        actions = run(console(mfa=True, enforced=True), records=(mfa_record(detected_ago=20),))
        assert rows(actions) == [("mfa", "lift", "mfa_enabled", None)]

    def test_grace_closed_when_mfa_enabled_before_enforcement(self) -> None:
        actions = run(console(mfa=True), records=(mfa_record(detected_ago=3),))
        assert rows(actions) == [("mfa", "lift", "mfa_enabled", None)]

    def test_lifted_once_the_console_password_is_gone(self) -> None:
        # Given an enforced user without MFA whose console password was removed (by hand or by us)
        enforced = replace(user("gone"), attached_policies=(POLICY_ARN,))
        actions = run(enforced, records=(mfa_record("gone", detected_ago=20),))
        # Then nothing justifies the enforcement any more: it is lifted
        assert rows(actions) == [("mfa", "lift", "console_password_removed", None)]
        assert "no console password" in actions[0].detail
        # even when the grace record was lost
        assert rows(run(enforced)) == [("mfa", "lift", "console_password_removed", None)]

    def test_grace_closed_when_the_password_is_removed_before_enforcement(self) -> None:
        # Given a grace period still open for a user who no longer has a console password: closed, so a
        # password set later starts a new grace (with new notices) instead of being enforced at once
        actions = run(user("gone"), records=(mfa_record("gone", detected_ago=3),))
        assert rows(actions) == [("mfa", "lift", "console_password_removed", None)]

    def test_lifted_when_the_user_becomes_exempt(self) -> None:
        # Given an enforced console user without MFA who is now tagged exempt
        exempt = console(tags={"credlife:exempt": "true"}, enforced=True)
        actions = run(exempt, records=(mfa_record(detected_ago=20),))
        # Then the audited exempt row, and the enforcement is lifted (nothing else)
        assert rows(actions) == [
            ("user", "exempt", "exempt_tag", None),
            ("mfa", "lift", "mfa_enforcement_exempt", None),
        ]
        # and an exempt user we never enforced on gets only the exempt row
        assert rows(run(console(tags={"credlife:exempt": "true"}))) == [
            ("user", "exempt", "exempt_tag", None)
        ]

    def test_the_notice_says_access_keys_are_not_affected(self) -> None:
        (warn,) = run(console())
        assert "console sessions without MFA" in warn.detail
        assert "access keys are not affected" in warn.detail

    def test_user_mid_reset_is_only_reported(self) -> None:
        actions = run(console(created_ago=60, used_ago=None, reset=True))
        assert rows(actions) == [("password", "alert", "password_reset_pending", None)]

    def test_exempt_users_are_left_alone_with_an_audited_row(self) -> None:
        actions = run(console(tags={"credlife:exempt": "true"}, created_ago=90, used_ago=None))
        assert rows(actions) == [("user", "exempt", "exempt_tag", None)]
        assert "console password" in actions[0].detail

    def test_dry_run_rows_are_marked(self) -> None:
        (warn,) = run(console(), policy=LIVE.model_copy(update={"dry_run": True}))
        assert warn.dry_run


class TestUnusedConsolePassword:
    def test_recently_used_password_needs_nothing(self) -> None:
        assert run(console(mfa=True, used_ago=10)) == []

    def test_warned_seven_days_before(self) -> None:
        actions = run(console(mfa=True, created_ago=100, used_ago=38))
        assert rows(actions) == [("password", "warn", "password_unused", "7d")]
        assert actions[0].warns_of is ActionKind.DELETE
        assert actions[0].deadline == NOW + days(7)

    def test_never_used_is_judged_by_creation(self) -> None:
        actions = run(console(mfa=True, created_ago=38, used_ago=None, reset=False))
        assert rows(actions) == [("password", "warn", "password_unused", "7d")]
        assert "never used" in actions[0].detail

    def test_deleted_at_the_deadline_after_notice(self) -> None:
        sent = Notice("delete", "7d", NOW - days(7), NOW, delivered_at=NOW - days(7))
        actions = run(console(mfa=True, used_ago=45), records=(password_record("carol", (sent,)),))
        assert rows(actions) == [("password", "delete", "password_unused", None)]

    def test_first_detection_past_due_warns_instead_of_acting(self) -> None:
        actions = run(console(mfa=True, used_ago=200))
        assert rows(actions) == [("password", "warn", "password_unused", "7d")]
        assert actions[0].deadline == NOW + days(7)

    def test_used_again_starts_a_new_episode(self) -> None:
        old = Notice("delete", "7d", NOW - days(60), NOW - days(53), delivered_at=NOW - days(60))
        assert run(console(mfa=True, used_ago=2), records=(password_record("carol", (old,)),)) == []

    def test_unused_password_without_mfa_gets_both_rows(self) -> None:
        actions = run(console(used_ago=40))
        assert rows(actions) == [
            ("password", "warn", "password_unused", "7d"),
            ("mfa", "warn", "console_no_mfa", "7d"),
        ]

    def test_many_users_each_judged_alone(self) -> None:
        users = [console(f"u{i}", mfa=i % 2 == 0, used_ago=float(i * 10)) for i in range(8)]
        actions = run(*users)
        by_user = {a.user: rows([a])[0][:3] for a in actions if a.credential is CredentialType.PASSWORD}
        assert set(by_user) == {"u4", "u5", "u6", "u7"}  # 40+ days idle: in or past the warning window
        assert {a.user for a in actions if a.credential is CredentialType.MFA} == {"u1", "u3", "u5", "u7"}


class TestAccountLevel:
    def test_no_facts_no_rows(self) -> None:
        assert run(facts=None) == []
        assert run(facts=AccountFacts(password_policy=BASELINE, password_policy_known=True)) == []

    def test_root_findings_are_alerts_never_actions(self) -> None:
        root = RootAccount(
            mfa_active=False, access_keys_active=(True, False), password_last_used=NOW - days(2)
        )
        actions = run(facts=AccountFacts(root=root))
        assert {a.action for a in actions} == {ActionKind.ALERT}
        assert [a.reason for a in actions] == [
            Reason.ROOT_ACCESS_KEYS,
            Reason.ROOT_NO_MFA,
            Reason.ROOT_RECENT_USE,
        ]

    def test_password_policy_drift_alerts_or_enforces(self) -> None:
        weak = AccountFacts(password_policy=PasswordPolicy(minimum_length=8), password_policy_known=True)
        (alert,) = run(facts=weak)
        assert (alert.user, alert.action, alert.reason) == (
            ACCOUNT_ROW,
            ActionKind.ALERT,
            Reason.PASSWORD_POLICY_WEAK,
        )
        assert "minimum_length is 8" in alert.detail
        enforce = LIVE.model_copy(update={"password_policy": PasswordPolicyBaseline(enforce=True)})
        (row,) = run(facts=weak, policy=enforce)
        assert row.action is ActionKind.ENFORCE

    def test_no_password_policy_at_all_is_drift(self) -> None:
        (row,) = run(facts=AccountFacts(password_policy=None, password_policy_known=True))
        assert row.detail.startswith("no account password policy")

    def test_unknown_password_policy_claims_nothing(self) -> None:
        assert run(facts=AccountFacts(password_policy=None, password_policy_known=False)) == []

    def test_server_certificate_stages_and_expired(self) -> None:
        def cert(name: str, in_days: float) -> ServerCertificate:
            return ServerCertificate(
                name, f"id-{name}", f"arn:aws:iam::{ACCOUNT}:server-certificate/{name}", NOW + days(in_days)
            )

        certs = (cert("far", 90), cert("month", 29), cert("week", 6.5), cert("day", 0.5), cert("old", -3))
        actions = run(facts=AccountFacts(server_certificates=certs))
        assert [(a.key_id, a.reason.value, a.stage) for a in actions] == [
            ("month", "server_certificate_expiring", "30d"),
            ("week", "server_certificate_expiring", "7d"),
            ("day", "server_certificate_expiring", "1d"),
            ("old", "server_certificate_expired", "expired"),
        ]
        assert all(a.action is ActionKind.ALERT for a in actions)
