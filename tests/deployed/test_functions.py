"""Every function, as deployed: invoked in-process with only the environment its template gave it (as
CloudFormation resolved it), its handler, and its role's credentials under moto's IAM enforcement, against
the project's sample events. No missing setting, no IAM denial; the event function honours live mode;
the organization-mode chain (scheduler → account queue → worker → member role deployed into a fresh
account) runs end to end.

Each function's template environment is also checked against the settings its code reads
(`credlife.config.ENVIRONMENT_VARIABLES`), and each live run's API calls against its role's grants: every
granted action is called by some sample, or is named in `NOT_EXERCISED` with the reason."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.iam.models import AccessKeyLastUsed, iam_backends

from credlife.config import ENVIRONMENT_VARIABLES, load_settings
from infra.constants import DEFAULT_EXEMPT_TAG_KEY, ROTATE_NOW_BUS_NAME
from tests.deployed.conftest import (
    ACCOUNT,
    MOTO_BATCH_ALIASES,
    NOT_ENFORCED,
    REGION,
    SENDER,
    App,
    Deployed,
    Function,
    Invoker,
    deploy_main,
    deploy_member,
    deployed_functions,
    role_actions,
    session_in,
    widen_role,
)

pytestmark = pytest.mark.deployed

EVENTS = Path(__file__).resolve().parents[2] / "events"
#: Lambda runtime needs, not code calls (logs, X-Ray, the dead-letter queue, the SQS event source).
RUNTIME_ACTIONS = frozenset(
    {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    }
)


def naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def sample(name: str, *, at: datetime | None = None) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    if at is not None:
        event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


def event_samples() -> list[str]:
    """Every single-event sample of the event monitor (sign-ins, IAM calls, malformed ones)."""
    return sorted(
        p.name for p in EVENTS.glob("*.json") if p.name.startswith(("signin-", "iam-", "malformed-"))
    )


@dataclass
class Account:
    """An account of the moto world, seeded as the samples need it."""

    session: boto3.Session
    account_id: str

    @property
    def iam(self) -> Any:
        return self.session.client("iam")

    def user(self, name: str, *, tags: dict[str, str] | None = None) -> None:
        self.iam.create_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
        iam_backends[self.account_id]["global"].users[name].create_date = naive(now() - timedelta(days=900))

    def key(self, user: str, *, age: int, used_ago: int = 1) -> str:
        key_id: str = self.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        for stored in iam_backends[self.account_id]["global"].users[user].access_keys:
            if stored.access_key_id == key_id:
                stored.create_date = naive(now() - timedelta(days=age))
                stored.last_used = AccessKeyLastUsed(
                    timestamp=naive(now() - timedelta(days=used_ago)), service="s3", region=REGION
                )
        return key_id

    def keys(self, user: str) -> list[str]:
        return [m["AccessKeyId"] for m in self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]

    def attached(self, user: str) -> list[str]:
        listed = self.iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
        return [p["PolicyArn"] for p in listed]


def seed(account: Account, *, require_mfa_policy: str | None) -> None:
    """An aged key in use, a user for rotate-now, an exempt user, and bob (EnableMFADevice sample) still
    under MFA enforcement; SES's sender verified and Security Hub on, as the README's prerequisites say."""
    account.user("ana.aged", tags={"owner": "ana@example.com"})
    account.key("ana.aged", age=120)
    account.user("ana.rotate", tags={"owner": "ana@example.com"})
    account.key("ana.rotate", age=10)
    account.user("ex.empt", tags={DEFAULT_EXEMPT_TAG_KEY: "true"})
    account.key("ex.empt", age=400)
    account.user("bob", tags={"owner": "bob@example.com"})
    account.iam.create_login_profile(UserName="bob", Password="Correct-Horse-Battery-42!")
    if require_mfa_policy is not None:
        account.iam.attach_user_policy(UserName="bob", PolicyArn=require_mfa_policy)
    account.session.client("ses").verify_email_identity(EmailAddress=SENDER)
    account.session.client("securityhub").enable_security_hub()
    account.iam.generate_credential_report()


@dataclass
class Deployment:
    app: App
    main: Deployed
    home: Account
    functions: dict[str, Function]


def deploy(app: App) -> Deployment:
    main = deploy_main(app)
    assert main.status == "CREATE_COMPLETE", main.reason
    home = Account(boto3.Session(region_name=REGION), ACCOUNT)
    seed(home, require_mfa_policy=f"arn:aws:iam::{ACCOUNT}:policy/credlife-require-mfa")
    return Deployment(app, main, home, deployed_functions(home.session))


def no_denial(text: str) -> None:
    assert "AccessDenied" not in text
    assert "not authorized" not in text


# -- every function's environment carries every setting its code reads -------------------------------------


@pytest.mark.parametrize("name", ["default", "full"])
def test_every_function_gets_every_setting_and_the_same_values(apps: Any, world: None, name: str) -> None:
    # Given the deployed stack
    deployment = deploy(apps(name))
    organization = name == "full"

    for module, function in deployment.functions.items():
        # Then each function's environment names every setting `load_settings` reads from variables
        expected = {v for v in ENVIRONMENT_VARIABLES if organization or "ORGANIZATION_QUEUE" not in v}
        missing = expected - set(function.environment)
        assert not missing, f"{module} lacks {sorted(missing)}"
        # And its settings hold the configuration's values (the dry-run switch above all)
        settings = load_settings(environ=function.environment)
        assert settings.policy.dry_run is (name == "default"), module
        assert settings.state_table == "credlife-state"
        assert settings.email_sender == SENDER
        assert settings.security_hub.enabled is organization
        assert settings.organization.enabled is organization
        assert settings.require_mfa_policy_arn == f"arn:aws:iam::{ACCOUNT}:policy/credlife-require-mfa"


# -- default configuration: dry-run, one account ------------------------------------------------------------


def test_default_deployment_runs_every_function_in_dry_run(
    apps: Any, world: None, invoke: Invoker, caplog: pytest.LogCaptureFixture
) -> None:
    deployment = deploy(apps("default"))
    home, functions = deployment.home, deployment.functions
    before = {u: home.keys(u) for u in ("ana.aged", "ana.rotate", "ex.empt")}

    # When the schedule fires
    scheduled = invoke(functions["scheduled"], sample("scheduled.json", at=now()))
    # Then the run plans the rotation and changes nothing (dry-run), with no failure and no denial
    assert scheduled["status"] == "ok", scheduled
    assert scheduled["dry_run"] is True
    assert scheduled["failures"] == []
    assert scheduled["users"] >= 4

    # When every event sample arrives
    for name in event_samples():
        result = invoke(functions["events"], sample(name))
        assert result["status"] == "ok", (name, result)
    # Then MFA enforcement stays in place in dry-run ("would lift")
    assert home.attached("bob") == [f"arn:aws:iam::{ACCOUNT}:policy/credlife-require-mfa"]

    # When rotate-now is asked for
    rotated = invoke(functions["rotate_now"], sample("rotate_now.json", at=now()))
    assert rotated["status"] == "would_rotate", rotated
    assert {u: home.keys(u) for u in before} == before
    no_denial(caplog.text)


# -- full configuration: live, organization mode ----------------------------------------------------------


def organization(home: Account) -> str:
    """The home account as the organization's management account, with one member account."""
    org = home.session.client("organizations")
    org.create_organization(FeatureSet="ALL")
    status = org.create_account(Email="member@example.com", AccountName="member")["CreateAccountStatus"]
    return str(status["AccountId"])


def test_full_deployment_runs_live_across_the_organization(
    apps: Any, world: None, invoke: Invoker, caplog: pytest.LogCaptureFixture
) -> None:
    deployment = deploy(apps("full"))
    home, functions = deployment.home, deployment.functions
    member_id = organization(home)
    # The member stack in the member account (never bootstrapped) and in the home account (which has the
    # main stack's require-MFA policy), as README's organization steps say
    assert deploy_member(deployment.app, member_id).status == "CREATE_COMPLETE"
    assert deploy_member(deployment.app, ACCOUNT, create_policy=False).status == "CREATE_COMPLETE"
    member = Account(session_in(member_id), member_id)
    # the worker acts through these roles: their policies as moto can enforce them (see conftest)
    widen_role(member.session, "credlife-member")
    widen_role(home.session, "credlife-member")
    # moto checks a trust policy only in the caller's own account, comparing the caller's session ARN with
    # the trusted role ARN literally and evaluating no aws:PrincipalOrgID: the home account's member role
    # trust (asserted in test_stacks) is opened up in moto so the worker's session may assume it
    home.iam.update_assume_role_policy(
        RoleName="credlife-member",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
            }
        ),
    )
    member.user("mia.aged", tags={"owner": "mia@example.com"})
    member.key("mia.aged", age=120)
    member.session.client("securityhub").enable_security_hub()
    member.iam.generate_credential_report()

    # When bob (a console user under MFA enforcement) enables an MFA device: the live event function
    # lifts the enforcement at once
    lifted = invoke(functions["events"], sample("iam-enable-mfa-device.json"))
    assert lifted["status"] == "ok", lifted
    assert home.attached("bob") == []
    for name in event_samples():
        assert invoke(functions["events"], sample(name))["status"] == "ok", name

    # When the schedule fires: the scheduler only queues the accounts
    scheduled = invoke(functions["scheduled"], sample("scheduled.json", at=now()))
    assert scheduled["status"] == "ok", scheduled
    assert scheduled["queued"] == 2
    assert set(invoke.calls[functions["scheduled"].handler]) <= {
        "organizations:ListAccounts",
        "sqs:SendMessage",
    }

    # When the worker gets what was queued
    queue_url = functions["scheduled"].environment["CREDLIFE_ORGANIZATION_QUEUE_URL"]
    sqs = home.session.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    worked = invoke(functions["account_worker"], sqs_event(messages, queue_url))
    # Then every account ran, live, through its member role: the aged key rotated in the member account
    assert worked == {"batchItemFailures": []}, worked
    assert len(member.keys("mia.aged")) == 2
    assert len(home.keys("ana.aged")) == 2
    assert len(home.keys("ex.empt")) == 1  # exempt: untouched
    # And each account's report is in the home report bucket, findings in each account's Security Hub
    bucket = deployment.main.outputs["ReportBucketName"]
    listed = home.session.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"reports/{member_id}/latest/")
    assert {o["Key"].rsplit("/", 1)[1] for o in listed.get("Contents", [])} == {
        "report.csv",
        "report.html",
        "report.json",
    }
    assert member.session.client("securityhub").get_findings()["Findings"]

    # When rotate-now is asked for: rotated, live
    rotated = invoke(functions["rotate_now"], sample("rotate_now.json", at=now()))
    assert rotated["status"] == "rotated", rotated
    assert len(home.keys("ana.rotate")) == 2
    no_denial(caplog.text)

    # And each live function's role holds nothing its code did not call (beyond what is named)
    for module in ("rotate_now", "events"):
        function = functions[module]
        granted = role_actions(home.session, function.role_name) - RUNTIME_ACTIONS - NOT_ENFORCED
        granted -= set(MOTO_BATCH_ALIASES.values()) | {"sqs:SendMessage"}  # moto's names; the DLQ
        # the counter names the client's service (sesv2); IAM names SES v2's actions `ses:`
        calls = {a.replace("sesv2:", "ses:", 1) for a in invoke.calls[function.handler]}
        stale = sorted(NOT_EXERCISED[module] & calls)
        assert not stale, f"{module} called these after all: remove them from NOT_EXERCISED: {stale}"
        unused = granted - calls - NOT_EXERCISED[module]
        assert not unused, f"{module} is granted actions none of its samples called: {sorted(unused)}"


#: Granted actions the live samples above do not reach, and why.
NOT_EXERCISED: dict[str, frozenset[str]] = {
    "rotate_now": frozenset(
        {
            # CreateSecret's tags (no call of its own)
            "secretsmanager:TagResource",
            # the rotation journal's recovery of an interrupted rotation, and a fresh last-use read
            # right before deactivating or deleting a key (no such step in these samples)
            "iam:GetAccessKeyLastUsed",
            "secretsmanager:DescribeSecret",
            "secretsmanager:UpdateSecretVersionStage",
            # the two-key quota's delete of an inactive key, a deactivation of a replaced key
            "iam:DeleteAccessKey",
            "iam:UpdateAccessKey",
            # per-user listings only when those credential types are enabled in the policy
            "iam:ListSSHPublicKeys",
            "iam:ListServiceSpecificCredentials",
            "iam:ListSigningCertificates",
            # the login-profile read only for a console password never used
            "iam:GetLoginProfile",
            # account facts the inventory declares, read only by full runs
            "iam:GetAccountPasswordPolicy",
            "iam:ListServerCertificates",
            # episode markers of quiet rows (alert, exempt, dry-run "would do") are batch-written by runs
            # that have such rows; a one-user live rotation has none
            "dynamodb:BatchWriteItem",
        }
    ),
    "events": frozenset(
        {
            # privilege-escalation checks read a group's policies when a user joins an existing group
            "iam:ListAttachedGroupPolicies",
            "iam:ListGroupPolicies",
            "iam:GetGroupPolicy",
            # at-least-once alerts: a claim is deleted only when publishing the alert failed
            "dynamodb:DeleteItem",
        }
    ),
}


@pytest.mark.parametrize(
    ("module", "missing"),
    [("scheduled", "iam:GetAccountAuthorizationDetails"), ("rotate_now", "dynamodb:Query")],
)
def test_a_grant_taken_away_is_denied(
    apps: Any, world: None, invoke: Invoker, module: str, missing: str
) -> None:
    # Given the deployed default stack, and the function's role without one of its grants
    deployment = deploy(apps("default"))
    event = sample("scheduled.json" if module == "scheduled" else "rotate_now.json", at=now())

    # When the function runs: moto's enforcement refuses the call (so a grant missing from a template
    # fails this tier)
    with pytest.raises(Exception, match=f"not authorized to perform: {missing}"):
        invoke(deployment.functions[module], event, without=frozenset({missing}))


def sqs_event(messages: Any, queue_url: str) -> dict[str, Any]:
    queue_name = queue_url.rsplit("/", 1)[1]
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
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}",
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def test_rotate_now_requests_go_to_their_own_bus(apps: Any, world: None) -> None:
    deployment = deploy(apps("full"))
    rules = deployment.home.session.client("events").list_rules(EventBusName=ROTATE_NOW_BUS_NAME)["Rules"]
    (rule,) = rules
    assert json.loads(rule["EventPattern"]) == {
        "source": ["credlife"],
        "detail-type": ["Rotate Access Key Now"],
    }
    default_rules = deployment.home.session.client("events").list_rules()["Rules"]
    assert not any(
        "credlife" in r.get("EventPattern", "") and "Rotate" in r.get("EventPattern", "")
        for r in default_rules
    )
