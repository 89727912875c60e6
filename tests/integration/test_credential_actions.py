"""The non-access-key actions against moto, one test per action: enforce MFA (attach the require-MFA policy),
lift it (detach), delete a login profile, set the password policy baseline, and the credential records
(notices, detection, episode end) in the state table. Each goes through the `Executor`, which audits it
before and after."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from moto.iam.models import iam_backends

from credlife.aws.credential_executor import CredentialActions, MfaEnabledHook
from credlife.aws.executor import Executor
from credlife.aws.secrets import KeyVault
from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.domain.actions import Action, ActionKind, Reason
from credlife.domain.credential_planner import ACCOUNT as ACCOUNT_ROW
from credlife.domain.credential_planner import CONSOLE
from credlife.domain.mfa_policy import POLICY_NAME, require_mfa_policy_document
from credlife.domain.models import CredentialType, LoginProfile, User, cred_ref
from credlife.domain.password_policy import PasswordPolicyBaseline
from credlife.risk_monitor import MfaLift

ACCOUNT = "123456789012"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TABLE = "credlife-cred-actions"


@dataclass
class Env:
    iam: object
    arn: str
    store: DynamoStateStore
    executor: Executor

    def apply(self, action: Action) -> str:
        (outcome,) = self.executor.apply(ACCOUNT, User(action.user, ""), [action], now=NOW, run_id="r1")
        return outcome.status

    def attached(self, user: str) -> list[str]:
        iam = boto3.client("iam", region_name="us-east-1")
        return [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]]


@pytest.fixture
def env() -> Iterator[Env]:
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_state_table(dynamodb, TABLE)
        arn = iam.create_policy(
            PolicyName=POLICY_NAME, PolicyDocument=json.dumps(require_mfa_policy_document())
        )["Policy"]["Arn"]
        iam.create_user(UserName="carol")
        iam.create_login_profile(UserName="carol", Password="Correct-Horse-9!")
        store = DynamoStateStore(TABLE, dynamodb)
        actions = CredentialActions(iam, state=store, require_mfa_policy_arn=arn)
        vault = KeyVault(boto3.client("secretsmanager", region_name="us-east-1"), prefix="credlife/test")
        yield Env(iam, arn, store, Executor(iam, vault=vault, state=store, credentials=actions))


def row(
    kind: ActionKind, credential: CredentialType, reason: Reason, *, dry_run: bool = False, **extra: object
) -> Action:
    return Action(
        user=str(extra.pop("user", "carol")),
        credential=credential,
        action=kind,
        reason=reason,
        due=NOW,
        dry_run=dry_run,
        **extra,  # type: ignore[arg-type]
    )


def test_enforce_attaches_only_the_require_mfa_policy_and_audits(env: Env) -> None:
    assert env.apply(row(ActionKind.ENFORCE, CredentialType.MFA, Reason.CONSOLE_NO_MFA)) == "applied"
    assert env.attached("carol") == [env.arn]
    (record,) = env.store.load_credential_records(ACCOUNT).values()
    assert record.enforced_at == NOW
    phases = [(e.phase, e.outcome) for e in env.store.audit_log(ACCOUNT)]
    assert phases == [("intent", ""), ("result", "applied")]


def test_enforce_in_dry_run_changes_nothing(env: Env) -> None:
    assert (
        env.apply(row(ActionKind.ENFORCE, CredentialType.MFA, Reason.CONSOLE_NO_MFA, dry_run=True))
        == "dry_run"
    )
    assert env.attached("carol") == []


def test_enforce_rechecks_mfa_devices_before_attaching(env: Env) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="carol")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(
        UserName="carol", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    assert env.apply(row(ActionKind.ENFORCE, CredentialType.MFA, Reason.CONSOLE_NO_MFA)) == "noop"
    assert env.attached("carol") == []


def test_lift_detaches_and_closes_the_grace_episode(env: Env) -> None:
    warn = row(
        ActionKind.WARN,
        CredentialType.MFA,
        Reason.CONSOLE_NO_MFA,
        warns_of=ActionKind.ENFORCE,
        stage="7d",
        deadline=NOW + timedelta(days=7),
        key_created=NOW - timedelta(days=7),
    )
    assert env.apply(warn) == "applied"
    assert env.apply(warn) == "noop"  # a notice is stored once
    env.apply(row(ActionKind.ENFORCE, CredentialType.MFA, Reason.CONSOLE_NO_MFA))
    assert env.apply(row(ActionKind.LIFT, CredentialType.MFA, Reason.MFA_ENABLED)) == "applied"
    assert env.attached("carol") == []
    record = env.store.load_credential_records(ACCOUNT)[cred_ref("carol", "mfa", CONSOLE)]
    assert record.detected_at is None
    assert record.enforced_at is None
    assert record.resolved_at == NOW
    assert [n.stage for n in record.notices] == ["7d"]


def test_event_hook_lifts_once_and_leaves_other_policies(env: Env) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    other = iam.create_policy(PolicyName="other", PolicyDocument=json.dumps(require_mfa_policy_document()))
    iam.attach_user_policy(UserName="carol", PolicyArn=other["Policy"]["Arn"])
    iam.attach_user_policy(UserName="carol", PolicyArn=env.arn)
    hook = MfaEnabledHook(
        CredentialActions(iam, state=env.store, require_mfa_policy_arn=env.arn), env.store, dry_run=False
    )
    assert hook.mfa_enabled(ACCOUNT, "carol", NOW) == MfaLift("applied", detached=True)
    assert env.attached("carol") == [other["Policy"]["Arn"]]
    # a user unknown to IAM (e.g. another account's) fails softly, audited
    assert hook.mfa_enabled(ACCOUNT, "nobody", NOW) in {MfaLift("applied"), MfaLift("failed")}


def test_delete_login_profile(env: Env) -> None:
    action = row(ActionKind.DELETE, CredentialType.PASSWORD, Reason.PASSWORD_UNUSED)
    assert env.apply(action) == "applied"
    iam = boto3.client("iam", region_name="us-east-1")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName="carol")
    assert env.apply(action) == "noop"  # already gone
    record = env.store.load_credential_records(ACCOUNT)[cred_ref("carol", "password", CONSOLE)]
    assert record.deleted_at == NOW


def test_deleting_the_console_password_lifts_the_enforcement_with_it(env: Env) -> None:
    # Given a console user without MFA on whom the require-MFA policy is enforced
    env.apply(row(ActionKind.ENFORCE, CredentialType.MFA, Reason.CONSOLE_NO_MFA))
    assert env.attached("carol") == [env.arn]
    # When the unused console password is deleted
    action = row(ActionKind.DELETE, CredentialType.PASSWORD, Reason.PASSWORD_UNUSED)
    (outcome,) = env.executor.apply(ACCOUNT, User("carol", ""), [action], now=NOW, run_id="r1")
    # Then nothing is left to enforce: the policy goes with the password, and the episode is closed
    assert outcome.status == "applied"
    assert "require-MFA enforcement lifted" in outcome.detail
    assert env.attached("carol") == []
    record = env.store.load_credential_records(ACCOUNT)[cred_ref("carol", "mfa", CONSOLE)]
    assert record.enforced_at is None
    assert record.resolved_at == NOW


def test_lift_for_a_removed_password_rereads_the_login_profile(env: Env) -> None:
    # Given an enforced user whose console password the plan saw removed, but who has one again now
    env.apply(row(ActionKind.ENFORCE, CredentialType.MFA, Reason.CONSOLE_NO_MFA))
    lift = row(ActionKind.LIFT, CredentialType.MFA, Reason.CONSOLE_PASSWORD_REMOVED)
    # Then the enforcement stays while the password exists
    assert env.apply(lift) == "skipped"
    assert env.attached("carol") == [env.arn]
    # and is lifted once it is really gone
    boto3.client("iam", region_name="us-east-1").delete_login_profile(UserName="carol")
    assert env.apply(lift) == "applied"
    assert env.attached("carol") == []


def test_console_password_used_since_the_plan_is_not_deleted(env: Env) -> None:
    # Given a plan made from a credential report that says the password was last used 50 days ago
    planned = User(
        "carol", "", login_profile=LoginProfile(NOW - timedelta(days=400), NOW - timedelta(days=50))
    )
    action = row(ActionKind.DELETE, CredentialType.PASSWORD, Reason.PASSWORD_UNUSED)
    # and the user signed in an hour ago (after the report was generated)
    stored = iam_backends[ACCOUNT]["global"].users["carol"]
    stored.password_last_used = (NOW - timedelta(hours=1)).replace(tzinfo=None)  # type: ignore[assignment]
    # When the deletion is applied
    (outcome,) = env.executor.apply(ACCOUNT, planned, [action], now=NOW, run_id="r1")
    # Then the fresh sign-in voids it: skipped with when, audited, the password kept
    assert outcome.status == "skipped"
    assert outcome.detail == "used since the plan: 2026-06-01 11:00Z"
    boto3.client("iam", region_name="us-east-1").get_login_profile(UserName="carol")
    results = [(e.phase, e.outcome, e.detail) for e in env.store.audit_log(ACCOUNT)]
    assert results[-1] == ("result", "skipped", "used since the plan: 2026-06-01 11:00Z")
    # And a password whose last sign-in is the plan's own is deleted
    unchanged = User(
        "carol", "", login_profile=LoginProfile(NOW - timedelta(days=400), NOW - timedelta(hours=1))
    )
    (outcome,) = env.executor.apply(ACCOUNT, unchanged, [action], now=NOW, run_id="r2")
    assert outcome.status == "applied"


def test_delete_login_profile_mode_rereads_mfa(env: Env) -> None:
    # Given mfa_enforcement "delete_login_profile" planned for a user who enabled MFA since the report
    iam = boto3.client("iam", region_name="us-east-1")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="carol")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(
        UserName="carol", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    # Then the password is kept
    assert env.apply(row(ActionKind.DELETE, CredentialType.MFA, Reason.CONSOLE_NO_MFA)) == "skipped"
    iam.get_login_profile(UserName="carol")


def test_enforce_rechecks_the_console_password_before_attaching(env: Env) -> None:
    boto3.client("iam", region_name="us-east-1").delete_login_profile(UserName="carol")
    assert env.apply(row(ActionKind.ENFORCE, CredentialType.MFA, Reason.CONSOLE_NO_MFA)) == "noop"
    assert env.attached("carol") == []


def test_password_policy_enforced_to_the_baseline_keeping_stronger_settings(env: Env) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    iam.update_account_password_policy(MinimumPasswordLength=20, RequireSymbols=False)
    action = row(
        ActionKind.ENFORCE, CredentialType.PASSWORD_POLICY, Reason.PASSWORD_POLICY_WEAK, user=ACCOUNT_ROW
    )
    assert (
        env.executor.apply(ACCOUNT, User(ACCOUNT_ROW, ""), [action], now=NOW, run_id="r")[0].status
        == "applied"
    )
    policy = iam.get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 20  # stronger: kept
    assert policy["RequireSymbols"]
    assert policy["RequireNumbers"]
    assert policy["MaxPasswordAge"] == PasswordPolicyBaseline().max_age_days
    assert policy["PasswordReusePrevention"] == 24


def test_key_records_are_untouched_by_credential_records(env: Env) -> None:
    env.apply(row(ActionKind.ENFORCE, CredentialType.MFA, Reason.CONSOLE_NO_MFA))
    assert env.store.load_records(ACCOUNT) == {}  # `KEY#` items only
