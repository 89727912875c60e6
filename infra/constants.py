"""Names, runtime settings and the scopes of IAM grants: the one place the infrastructure is tuned (each
role's actions are derived from the adapters' declared `REQUIRED_ACTIONS` in `infra.permissions`).

Plain Python on purpose (no aws-cdk-lib import), so tests of any layer can compare these values with the
runtime code cheaply."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The Lambda asset: the `credlife` package folder, shipped as is (no bundling, no Docker).
FUNCTIONS_DIR = PROJECT_ROOT / "functions"
#: Files never shipped in the asset (they would also change its hash on every test run).
ASSET_EXCLUDES = ("**/__pycache__", "**/*.pyc", "**/.mypy_cache", "**/.pytest_cache")

STACK_NAME = "CredentialLifecycle"
SERVICE_NAME = "credlife"
METRICS_NAMESPACE = "CredentialLifecycle"
#: Key under which `cdk.json` (or `cdk synth -c credlife=...`) holds this app's settings.
CONTEXT_KEY = "credlife"

#: Defaults for every `credlife` context key (see `infra.config.AppConfig`).
DEFAULTS: dict[str, Any] = {
    "dry_run": True,
    "schedule": "rate(1 day)",
    "state_table_name": "credlife-state",
    "secret_prefix": "credlife/access-keys",
    "policy": {},
    "permissions_boundary_arn": None,
    "account": None,
    "region": None,
    #: Organization mode (see `infra.config.OrganizationConfig`); off by default.
    "organization": None,
    #: The verified SES identity owner emails come from; None: a `SenderEmail` stack parameter.
    "sender_email": None,
    #: Runtime `notifications` and `risk` sections, handed to the functions in `CREDLIFE_CONFIG` as they are.
    "notifications": {},
    "risk": {},
    #: Regions (beside the home region) where IAM-user console sign-ins are logged (DESIGN §4): a
    #: forwarder stack in each sends them to the home region's default event bus. "default-enabled":
    #: every region AWS enables by default (`DEFAULT_ENABLED_REGIONS`), the home region excepted; or a list.
    "signin_regions": "default-enabled",
    #: Regions left out of `signin_regions` (opt-out), and opt-in regions the account enabled (added).
    "signin_regions_exclude": [],
    "signin_regions_extra": [],
    #: Create a multi-region CloudTrail trail (sign-in and IAM events reach EventBridge only with one).
    "create_trail": False,
    #: Days a compliance report (and an S3 access log) is kept in the report bucket before it expires.
    "report_retention_days": 400,
    #: Also send the findings to AWS Security Hub (it must be enabled in each scanned account and region).
    "security_hub": False,
    #: After a destroy: `{"key_arn": ...}` of the retained project key, to deploy onto the retained state
    #: table `state_table_name` (see README "Teardown and redeploy"); null: create both.
    "retained_state": None,
    #: IAM principal ARN patterns that may put rotate-now requests on the rotate-now bus; nobody else can.
    "rotate_now_requesters": [],
    #: Runtime clock bounds (`credlife.config.Settings`): an invoking event further than this from the real
    #: clock is refused; an older account-queue message is refused (organization mode).
    "event_clock_tolerance_minutes": 15,
    "queued_run_max_age_minutes": 360,
}
#: `credlife.domain.policy.Policy.exempt_tag_key`'s default, and the tag values that always exempt, with
#: no end date (`credlife.domain.exemptions`): the exempt Deny statement's condition. A tag with an end
#: date (`until=...`) is not denied by IAM, which cannot compare dates in a tag: the planner's check holds
#: it (tests/infra/test_app_context.py ties these copies to the runtime).
DEFAULT_EXEMPT_TAG_KEY = "credlife:exempt"
EXEMPT_TAG_PERMANENT_VALUES = ("true", "yes", "1", "on")
#: The home region when the config names none (IAM and root sign-in events arrive there).
DEFAULT_HOME_REGION = "us-east-1"
#: The only regions whose EventBridge receives IAM API calls and root sign-ins (IAM's global endpoint's
#: region in the commercial, GovCloud and China partitions): the main stack deploys to one of them.
IAM_EVENT_REGIONS = ("us-east-1", "us-gov-west-1", "cn-north-1")
#: The commercial regions every account has enabled by default (launched before March 2019); an attacker
#: may sign in through any of their console endpoints. Opt-in regions (af-south-1, ap-east-1, me-south-1,
#: eu-south-1, ...) work only once the account enables them: add those to `signin_regions_extra`.
DEFAULT_ENABLED_REGIONS: tuple[str, ...] = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
)
#: Where IAM API calls (and root console sign-ins) reach EventBridge.
IAM_EVENTS_REGION = "us-east-1"

# -- the scheduled scanner
SCANNER_HANDLER = "credlife.handlers.scheduled.handler"
SCANNER_TIMEOUT_SECONDS = 300
SCANNER_MEMORY_MB = 512
#: Asynchronous invocation retries before the event goes to the dead-letter queue.
SCANNER_RETRY_ATTEMPTS = 2
LOG_RETENTION_DAYS = 90
LOG_LEVEL = "INFO"
#: The AWS-published Powertools layer (pydantic included), pinned to the version uv.lock installs for the
#: tests (tests/infra/test_stack.py checks they agree). Its ARN is read at deploy time from the public,
#: per-version SSM parameter. To update: `uv lock --upgrade-package aws-lambda-powertools`, set this to the
#: new version, check the parameter exists (`aws ssm get-parameter --region us-east-1 --name
#: /aws/service/powertools/python/x86_64/python3.12/<version>`), `make test`, deploy.
POWERTOOLS_VERSION = "3.37.0"
POWERTOOLS_LAYER_PARAMETER = f"/aws/service/powertools/python/x86_64/python3.12/{POWERTOOLS_VERSION}"

# -- the state table
TABLE_PARTITION_KEY = "pk"
TABLE_SORT_KEY = "sk"
TABLE_TTL_ATTRIBUTE = "expires_at"

# -- alarms
ALARM_PERIOD_MINUTES = 5

#: Where a group of actions may act; the construct maps each scope to resource ARNs. "users": every IAM
#: user of the account; "*": only where the service has no resource-level permissions for the action.
Scope = Literal[
    "*",
    "users",
    "state-table",
    "secrets",
    "project-key",
    "account-queue",
    "member-roles",
    "sender-identity",
    "security-topic",
    "users-require-mfa",
    "groups",
    "report-bucket",
    "security-hub-product",
    "security-hub",
]


@dataclass(frozen=True)
class ActionGroup:
    """Actions of one service granted on one scope."""

    service: str
    actions: tuple[str, ...]
    scope: Scope

    def qualified(self) -> tuple[str, ...]:
        return tuple(f"{self.service}:{action}" for action in self.actions)


#: KMS actions the scanner needs only because Secrets Manager (new keys), DynamoDB (state) and S3 (the
#: report bucket's SSE-KMS: GenerateDataKey per object, Decrypt for multipart uploads) encrypt with the
#: project key on its behalf; no adapter calls KMS itself.
KMS_INDIRECT_ACTIONS: tuple[str, ...] = ("Decrypt", "GenerateDataKey")

#: The compliance report (`credlife.aws.report_store`) is written into the report bucket as
#: `reports/<account>/<date>/report.{html,csv,json}` and `reports/<account>/latest/...`: PutObject only,
#: on the `reports/` prefix only (nothing is read back, listed or deleted).
REPORT_PREFIX = "reports/"
# -- organization mode
STACK_NAME_MEMBER = "CredentialLifecycleMemberRole"
#: Fixed names: the member-account role trusts the worker role by ARN, across accounts.
WORKER_ROLE_NAME = "credlife-account-worker"
MEMBER_ROLE_NAME = "credlife-member"
WORKER_HANDLER = "credlife.handlers.account_worker.handler"
WORKER_TIMEOUT_SECONDS = 900
WORKER_MEMORY_MB = 1024
#: One account per invocation: a slow account can only time out itself; accounts run concurrently.
WORKER_BATCH_SIZE = 1
WORKER_MAX_CONCURRENCY = 10
#: AWS's guidance for SQS event sources: visibility timeout at least 6 x the function timeout.
ACCOUNT_QUEUE_VISIBILITY_SECONDS = 6 * WORKER_TIMEOUT_SECONDS
#: Receives before an account's message goes to the dead-letter queue (alarmed).
ACCOUNT_QUEUE_MAX_RECEIVES = 3

# -- the event monitor (DESIGN §4)
EVENTS_HANDLER = "credlife.handlers.events.handler"
EVENTS_TIMEOUT_SECONDS = 30
EVENTS_MEMORY_MB = 256
#: Retries of an undeliverable event (EventBridge target) and of a failed asynchronous invocation.
EVENTS_RETRY_ATTEMPTS = 2
#: EventBridge gives up on an event after this long (then: the dead-letter queue).
EVENTS_MAX_EVENT_AGE_HOURS = 2
#: Copies of `credlife.domain.events.SIGNIN_PATTERN` / `IAM_PATTERN` (infra never imports runtime code;
#: tests/infra/test_event_patterns.py asserts these equal the runtime's and match the samples in events/).
SIGNIN_PATTERN: dict[str, Any] = {
    "source": ["aws.signin"],
    "detail-type": ["AWS Console Sign In via CloudTrail"],
    "detail": {"eventName": ["ConsoleLogin"]},
}
IAM_PATTERN: dict[str, Any] = {
    "source": ["aws.iam"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {
        "eventSource": ["iam.amazonaws.com"],
        "eventName": [
            "AddUserToGroup",
            "AttachGroupPolicy",
            "AttachRolePolicy",
            "AttachUserPolicy",
            "CreateAccessKey",
            "CreateLoginProfile",
            "DeactivateMFADevice",
            "DeleteAccessKey",
            "DeleteLoginProfile",
            "DeleteUserPolicy",
            "DeleteVirtualMFADevice",
            "DetachUserPolicy",
            "EnableMFADevice",
            "PutGroupPolicy",
            "PutRolePolicy",
            "PutUserPolicy",
            "UpdateAccessKey",
            "UpdateLoginProfile",
        ],
    },
}
ROOT_PATTERN: dict[str, Any] = {
    "detail-type": ["AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail"],
    "detail": {"userIdentity": {"type": ["Root"]}, "eventName": [{"anything-but": ["ConsoleLogin"]}]},
}

# -- rotate now (README "Rotate now")
ROTATE_NOW_HANDLER = "credlife.handlers.rotate_now.handler"
ROTATE_NOW_TIMEOUT_SECONDS = 120
ROTATE_NOW_MEMORY_MB = 512
ROTATE_NOW_PATTERN: dict[str, Any] = {"source": ["credlife"], "detail-type": ["Rotate Access Key Now"]}
#: The bus rotate-now requests go to: its policy lets only `rotate_now_requesters` put events on it.
ROTATE_NOW_BUS_NAME = "credlife-rotate-now"

# -- regional sign-in forwarders
STACK_NAME_FORWARDER = "CredentialLifecycleSigninForwarder"

# -- the require-MFA managed policy: a copy of `credlife.domain.mfa_policy` (equality tested)
REQUIRE_MFA_POLICY_NAME = "credlife-require-mfa"
REQUIRE_MFA_POLICY_DESCRIPTION = (
    "credential-lifecycle: console sessions without MFA may only set up MFA; access keys are not affected"
)
_OWN_USER = "arn:aws:iam::*:user/${aws:username}"
REQUIRE_MFA_POLICY_DOCUMENT: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowViewAccountInfo",
            "Effect": "Allow",
            "Action": ["iam:GetAccountPasswordPolicy", "iam:ListVirtualMFADevices"],
            "Resource": "*",
        },
        {
            "Sid": "AllowManageOwnPasswordAndUser",
            "Effect": "Allow",
            "Action": ["iam:ChangePassword", "iam:GetUser"],
            "Resource": _OWN_USER,
        },
        {
            "Sid": "AllowManageOwnVirtualMFADevice",
            "Effect": "Allow",
            "Action": ["iam:CreateVirtualMFADevice"],
            "Resource": "arn:aws:iam::*:mfa/*",
        },
        {
            "Sid": "AllowManageOwnUserMFA",
            "Effect": "Allow",
            "Action": [
                "iam:DeactivateMFADevice",
                "iam:EnableMFADevice",
                "iam:GetMFADevice",
                "iam:ListMFADevices",
                "iam:ResyncMFADevice",
            ],
            "Resource": _OWN_USER,
        },
        {
            "Sid": "DenyAllExceptListedIfNoMFA",
            "Effect": "Deny",
            "NotAction": [
                "iam:CreateVirtualMFADevice",
                "iam:EnableMFADevice",
                "iam:GetUser",
                "iam:GetMFADevice",
                "iam:ListMFADevices",
                "iam:ListVirtualMFADevices",
                "iam:ResyncMFADevice",
                "iam:ChangePassword",
                "iam:GetAccountPasswordPolicy",
                "sts:GetSessionToken",
            ],
            "Resource": "*",
            # Bool, not BoolIfExists: calls signed with the user's access keys are not affected
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}},
        },
    ],
}

# -- alarms and dashboard
#: "No successful scan in 26 hours": hourly periods, all 26 without a `UsersScanned` datapoint.
NO_SCAN_ALARM_HOURS = 26
