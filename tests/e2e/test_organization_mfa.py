"""MFA enforcement in a member account (organization mode) end to end against moto: the member-role stack
creates `credlife-require-mfa` in every member account, and the account worker attaches that account's
policy — never the home account's, even when the worker's own settings name it — to a console user still
without MFA after the grace period, and detaches it at the next run once the user has enabled MFA.

moto's STS gives the worker a session acting in the member account's own IAM (see test_organization.py);
the console user is aged through moto's stored state (tests/e2e/conftest.py) and each run's clock is the
queued message's time, moto's clock moved there with `time_machine`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
import time_machine
from moto.iam.models import iam_backends

from credlife.aws.organizations import AccountMessage
from credlife.aws.state_store import DynamoStateStore, create_state_table
from credlife.config import parse_settings
from credlife.domain.mfa_policy import POLICY_NAME, require_mfa_policy_document
from credlife.handlers import account_worker
from tests.e2e.conftest import ACCOUNT, REGION, SENDER, Account, LambdaContext, naive_utc

pytestmark = pytest.mark.e2e

TABLE = "credlife-org-mfa"
DAY0 = datetime.fromisoformat("2026-06-01T06:00:00+00:00")
USER = "console-nomfa"


@dataclass
class Member:
    account: str
    iam: Any  # the member account's IAM client
    policy_arn: str  # the member stack's require-MFA policy
    home_policy_arn: str  # the home (main) stack's, same name


def _iam_in(account: str) -> Any:
    """An IAM client acting in `account` (moto: an assumed role's credentials map to its account)."""
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/test-setup", RoleSessionName="test-setup"
    )["Credentials"]
    return boto3.client(
        "iam",
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _create_require_mfa_policy(iam: Any) -> str:
    arn: str = iam.create_policy(
        PolicyName=POLICY_NAME, PolicyDocument=json.dumps(require_mfa_policy_document())
    )["Policy"]["Arn"]
    return arn


@pytest.fixture
def member(aws: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[Member]:
    # An organization with one member account; both the home stack and the member stack have created
    # their require-MFA policy (moto's managed policies, same name in both accounts)
    org = boto3.client("organizations", region_name=REGION)
    org.create_organization(FeatureSet="ALL")
    account = org.create_account(Email="prod@example.com", AccountName="prod")["CreateAccountStatus"][
        "AccountId"
    ]
    iam = _iam_in(account)
    iam.generate_credential_report()  # as conftest does for the home account: keeps each run fast
    found = Member(account, iam, _create_require_mfa_policy(iam), _create_require_mfa_policy(aws.iam))
    # A console user without MFA in the member account, signing in daily
    iam.create_user(UserName=USER, Tags=[{"Key": "owner", "Value": "owner@example.com"}])
    iam.create_login_profile(UserName=USER, Password="Correct-Horse-9!")
    stored = iam_backends[account]["global"].users[USER]
    stored.create_date = naive_utc(DAY0 - timedelta(days=30))
    stored.password_last_used = naive_utc(DAY0 - timedelta(days=1))  # type: ignore[assignment]
    create_state_table(aws.dynamodb, TABLE)
    for name in ("CREDLIFE_CONFIG", "CREDLIFE_REQUIRE_MFA_POLICY_ARN"):
        monkeypatch.delenv(name, raising=False)
    account_worker.use_worker(None)
    try:
        yield found
    finally:
        account_worker.use_worker(None)


def use_worker(member: Member, **policy: Any) -> None:
    """The worker as deployed, live; its own settings even name the home account's policy ARN."""
    settings = parse_settings(
        {
            "state_table": TABLE,
            "sender_email": SENDER,  # owners are told (a notice only logged never counts)
            "require_mfa_policy_arn": member.home_policy_arn,
            "policy": {"dry_run": False, **policy},
            "organization": {"enabled": True, "queue_url": "accounts"},
        }
    )
    account_worker.use_worker(settings, boto3.Session(region_name=REGION))


def run(member: Member, at: datetime) -> dict[str, Any]:
    """One queued message for the member account, carrying `at` as the run's time."""
    body = AccountMessage(member.account, at).to_json()
    record = {
        "messageId": f"m-{at:%Y%m%d}",
        "receiptHandle": "r",
        "body": body,
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:accounts",
        "awsRegion": REGION,
    }
    with time_machine.travel(at, tick=False):
        response: dict[str, Any] = account_worker.handler({"Records": [record]}, LambdaContext())
    assert response["batchItemFailures"] == []
    return response


def attached(member: Member) -> list[str]:
    return [p["PolicyArn"] for p in member.iam.list_attached_user_policies(UserName=USER)["AttachedPolicies"]]


def mfa_audit(member: Member) -> list[tuple[str, str, str, str]]:
    """(action, phase, outcome, detail) of the member account's MFA rows, oldest first."""
    entries = DynamoStateStore(TABLE, boto3.client("dynamodb", region_name=REGION)).audit_log(member.account)
    return [
        (e.action["action"], e.phase, e.outcome, e.detail)
        for e in entries
        if e.action.get("credential") == "mfa"
    ]


def test_member_account_policy_attached_after_the_grace_and_detached_once_mfa_is_enabled(
    member: Member,
) -> None:
    assert member.policy_arn == f"arn:aws:iam::{member.account}:policy/{POLICY_NAME}"
    assert member.home_policy_arn == f"arn:aws:iam::{ACCOUNT}:policy/{POLICY_NAME}"
    use_worker(member)
    # When the worker runs the member account daily: warned first, nothing attached during the grace
    run(member, DAY0)
    for day in range(1, 7):
        run(member, DAY0 + timedelta(days=day))
        assert attached(member) == []
    # Then after the 7-day grace exactly the member account's require-MFA policy is attached
    run(member, DAY0 + timedelta(days=7))
    assert attached(member) == [member.policy_arn]
    # And never the home account's: no user there has it, and only the member ARN was ever audited
    home = iam_backends[ACCOUNT]["global"].managed_policies[member.home_policy_arn]
    assert home.attachment_count == 0
    assert [(o, d) for a, p, o, d in mfa_audit(member) if a == "enforce" and p == "result"] == [
        ("applied", f"attached {member.policy_arn}")
    ]

    # When the user enables a virtual MFA device in the member account
    serial = member.iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{USER}-phone")["VirtualMFADevice"][
        "SerialNumber"
    ]
    member.iam.enable_mfa_device(
        UserName=USER, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    # Then the next run detaches it
    run(member, DAY0 + timedelta(days=8))
    assert attached(member) == []
    assert [(o, d) for a, p, o, d in mfa_audit(member) if a == "lift" and p == "result"] == [
        ("applied", f"detached {member.policy_arn}")
    ]
    # And the run after has nothing more to do for the user
    before = len(mfa_audit(member))
    run(member, DAY0 + timedelta(days=9))
    assert attached(member) == []
    assert len(mfa_audit(member)) == before


def test_member_account_enforcement_follows_the_policys_mode(member: Member) -> None:
    # Given MFA enforcement by deleting the login profile instead of the policy
    use_worker(member, mfa_enforcement="delete_login_profile")
    # When the grace period is over
    run(member, DAY0)
    run(member, DAY0 + timedelta(days=7))
    # Then no policy is attached, in either account, and the console password is gone
    assert attached(member) == []
    assert iam_backends[ACCOUNT]["global"].managed_policies[member.home_policy_arn].attachment_count == 0
    with pytest.raises(member.iam.exceptions.NoSuchEntityException):
        member.iam.get_login_profile(UserName=USER)
