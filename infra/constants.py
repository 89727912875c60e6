"""Names, runtime settings and the scanner's IAM actions: the one place the infrastructure is tuned.

Plain Python on purpose (no aws-cdk-lib import), so tests of any layer can compare these values with the
runtime code cheaply, e.g. `scanner_actions()` against the adapters' declared `REQUIRED_ACTIONS`."""

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
}
#: The home region when the config names none (IAM and root sign-in events arrive there).
DEFAULT_HOME_REGION = "us-east-1"
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
#: Public SSM parameter with the ARN of the AWS-published Powertools layer (pydantic included).
POWERTOOLS_LAYER_PARAMETER = "/aws/service/powertools/python/x86_64/python3.12/latest"

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

#: Everything the scanner's code calls in AWS: the single source the construct grants from.
SCANNER_ACTIONS: tuple[ActionGroup, ...] = (
    # IAM has no resource-level permissions for the account-wide reports.
    ActionGroup(
        "iam", ("GenerateCredentialReport", "GetCredentialReport", "GetAccountAuthorizationDetails"), "*"
    ),
    ActionGroup("iam", ("ListAccessKeys", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"), "users"),
    # Issue 4: console passwords, MFA enforcement checks, the account password policy, server certificates.
    ActionGroup(
        "iam",
        ("GetLoginProfile", "DeleteLoginProfile", "ListMFADevices", "ListAttachedUserPolicies"),
        "users",
    ),
    # Read before you break: a key's and a console password's last use re-read right before acting on them
    # (and, recovering an interrupted rotation, a key ever used is not the one the stopped run created).
    ActionGroup("iam", ("GetAccessKeyLastUsed", "GetUser"), "users"),
    # Issue 4: SSH keys, service-specific credentials, signing certificates (only when enabled in the policy).
    ActionGroup(
        "iam",
        (
            "ListSSHPublicKeys",
            "UpdateSSHPublicKey",
            "DeleteSSHPublicKey",
            "ListServiceSpecificCredentials",
            "UpdateServiceSpecificCredential",
            "DeleteServiceSpecificCredential",
            "ListSigningCertificates",
            "UpdateSigningCertificate",
        ),
        "users",
    ),
    ActionGroup(
        "iam", ("GetAccountPasswordPolicy", "UpdateAccountPasswordPolicy", "ListServerCertificates"), "*"
    ),
    ActionGroup("sts", ("GetCallerIdentity",), "*"),
    ActionGroup("dynamodb", ("Query", "PutItem", "UpdateItem", "BatchWriteItem"), "state-table"),
    ActionGroup(
        "secretsmanager", ("CreateSecret", "PutSecretValue", "PutResourcePolicy", "TagResource"), "secrets"
    ),
    # The rotation journal: which version a secret hands out (labels only), and withdrawing one.
    ActionGroup("secretsmanager", ("DescribeSecret", "UpdateSecretVersionStage"), "secrets"),
    # Not called by our code: Secrets Manager and DynamoDB use the project key on the caller's behalf.
    ActionGroup("kms", KMS_INDIRECT_ACTIONS, "project-key"),
    # Notices: owner email through SES v2 from the sender identity, run summaries to the security topic.
    ActionGroup("ses", ("SendEmail",), "sender-identity"),
    ActionGroup("sns", ("Publish",), "security-topic"),
)
#: Issue 8: the compliance report (`credlife.aws.report_store`), written into the report bucket as
#: `reports/<account>/<date>/report.{html,csv,json}` and `reports/<account>/latest/...`: PutObject only,
#: on the `reports/` prefix only (nothing is read back, listed or deleted). Kept out of SCANNER_ACTIONS
#: because rotate-now, which shares those, publishes no report.
REPORT_PREFIX = "reports/"
REPORT_ACTIONS: tuple[ActionGroup, ...] = (ActionGroup("s3", ("PutObject",), "report-bucket"),)
#: Issue 8, `security_hub` on: findings to AWS Security Hub in the scanned account
#: (`credlife.aws.security_hub`). BatchImportFindings requires the `product` resource (the account's own
#: `product/<account>/default`); GetFindings accepts the `hub` resource (`hub/default`): neither needs "*".
SECURITY_HUB_ACTIONS: tuple[ActionGroup, ...] = (
    ActionGroup("securityhub", ("BatchImportFindings",), "security-hub-product"),
    ActionGroup("securityhub", ("GetFindings",), "security-hub"),
)
#: MFA enforcement (DESIGN §3): attach/detach the project's require-MFA policy, and only that policy
#: (the construct adds the condition `iam:PolicyARN` = that policy's ARN).
REQUIRE_MFA_ACTIONS: tuple[ActionGroup, ...] = (
    ActionGroup("iam", ("AttachUserPolicy", "DetachUserPolicy"), "users-require-mfa"),
)

#: What the Lambda runtime itself needs beside the code's calls: writing its own log group, X-Ray
#: segments (Powertools Tracer) and failed events to its dead-letter queue. Granted by the construct too.
SCANNER_RUNTIME_ACTIONS: frozenset[str] = frozenset(
    {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "sqs:SendMessage",
    }
)


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

#: What the scheduler calls in organization mode, beside SCANNER_ACTIONS (Organizations has no useful
#: resource-level scoping here: account and OU ARNs embed the organization id, unknown at synthesis).
ORGANIZATION_SCANNER_ACTIONS: tuple[ActionGroup, ...] = (
    ActionGroup(
        "organizations",
        ("ListAccounts", "ListAccountsForParent", "ListOrganizationalUnitsForParent", "ListTagsForResource"),
        "*",
    ),
    ActionGroup("sqs", ("SendMessage",), "account-queue"),
)
#: What the account worker's code calls in the home account: assume member roles, the state table, the
#: report bucket (each account's report is written with the worker's own role; Security Hub, by contrast,
#: is called through the member-role session: see `member_actions`).
WORKER_ACTIONS: tuple[ActionGroup, ...] = (
    ActionGroup("sts", ("AssumeRole",), "member-roles"),
    ActionGroup("dynamodb", ("Query", "PutItem", "UpdateItem", "BatchWriteItem"), "state-table"),
    ActionGroup("kms", KMS_INDIRECT_ACTIONS, "project-key"),
    ActionGroup("ses", ("SendEmail",), "sender-identity"),
    ActionGroup("sns", ("Publish",), "security-topic"),
    *REPORT_ACTIONS,
)
#: The worker runtime's own needs: logs, X-Ray, and consuming its queue (granted by the event source).
WORKER_RUNTIME_ACTIONS: frozenset[str] = frozenset(
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
#: What the lifecycle does inside a member account (the member role grants exactly these): the
#: account-side half of SCANNER_ACTIONS (handover secrets use the account's AWS managed key).
MEMBER_ACTIONS: tuple[ActionGroup, ...] = tuple(
    group for group in SCANNER_ACTIONS if group.service in {"iam", "sts", "secretsmanager"}
)


def qualified(groups: tuple[ActionGroup, ...]) -> frozenset[str]:
    return frozenset(action for group in groups for action in group.qualified())


def scanner_groups(*, security_hub: bool = False) -> tuple[ActionGroup, ...]:
    """The scanner's action groups: the lifecycle, MFA enforcement, the report (and Security Hub)."""
    hub = SECURITY_HUB_ACTIONS if security_hub else ()
    return (*SCANNER_ACTIONS, *REQUIRE_MFA_ACTIONS, *REPORT_ACTIONS, *hub)


def scanner_actions(*, security_hub: bool = False) -> frozenset[str]:
    """The scanner code's AWS actions as `service:Action` strings (runtime basics excluded)."""
    return qualified(scanner_groups(security_hub=security_hub))


def scanner_role_actions(*, organization: bool = False, security_hub: bool = False) -> frozenset[str]:
    """Every action the scanner's role may take: its code's actions plus the runtime basics (plus the
    organization fan-out's in organization mode)."""
    extra = qualified(ORGANIZATION_SCANNER_ACTIONS) if organization else frozenset()
    return scanner_actions(security_hub=security_hub) | SCANNER_RUNTIME_ACTIONS | extra


def worker_role_actions() -> frozenset[str]:
    return qualified(WORKER_ACTIONS) | WORKER_RUNTIME_ACTIONS


def member_groups(*, security_hub: bool = False) -> tuple[ActionGroup, ...]:
    """The member role's action groups: the lifecycle's account-side half, MFA enforcement with the member
    account's own require-MFA policy (conditioned on its ARN, like the scanner's), plus Security Hub when
    on (the worker imports each account's findings into that account's own hub, through the member
    session)."""
    return (*MEMBER_ACTIONS, *REQUIRE_MFA_ACTIONS, *(SECURITY_HUB_ACTIONS if security_hub else ()))


def member_actions(*, security_hub: bool = False) -> frozenset[str]:
    return qualified(member_groups(security_hub=security_hub))


# -- the event monitor (DESIGN §4)
EVENTS_HANDLER = "credlife.handlers.events.handler"
EVENTS_TIMEOUT_SECONDS = 30
EVENTS_MEMORY_MB = 256
#: Retries of an undeliverable event (EventBridge target) and of a failed asynchronous invocation.
EVENTS_RETRY_ATTEMPTS = 2
#: EventBridge gives up on an event after this long (then: the dead-letter queue).
EVENTS_MAX_EVENT_AGE_HOURS = 2
#: What the event function's code calls (`credlife.aws.risk_factory.REQUIRED_ACTIONS`), plus KMS used on
#: its behalf by DynamoDB and SNS (both encrypted with the project key).
EVENT_MONITOR_ACTIONS: tuple[ActionGroup, ...] = (
    ActionGroup("dynamodb", ("GetItem", "PutItem", "UpdateItem", "Query", "DeleteItem"), "state-table"),
    ActionGroup("sns", ("Publish",), "security-topic"),
    # "was this you?": the user's owner from its tags, mailed from the sender identity
    ActionGroup("iam", ("GetUser", "ListAttachedUserPolicies"), "users"),
    # privilege escalation: does the group a user joins grant administrator equivalence?
    ActionGroup("iam", ("ListAttachedGroupPolicies", "ListGroupPolicies", "GetGroupPolicy"), "groups"),
    ActionGroup("ses", ("SendEmail",), "sender-identity"),
    # EnableMFADevice lifts MFA enforcement at once: detaching only the require-MFA policy (condition)
    ActionGroup("iam", ("DetachUserPolicy",), "users-require-mfa"),
    ActionGroup("kms", KMS_INDIRECT_ACTIONS, "project-key"),
)
#: The Lambda runtime's own needs of an asynchronously invoked function with a dead-letter queue.
ASYNC_RUNTIME_ACTIONS: frozenset[str] = SCANNER_RUNTIME_ACTIONS

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
#: The same lifecycle as the scanner (`credlife.aws.factory.build_runtime`), without MFA enforcement.
ROTATE_NOW_ACTIONS: tuple[ActionGroup, ...] = SCANNER_ACTIONS

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


def event_monitor_role_actions() -> frozenset[str]:
    return qualified(EVENT_MONITOR_ACTIONS) | ASYNC_RUNTIME_ACTIONS


def rotate_now_role_actions() -> frozenset[str]:
    return qualified(ROTATE_NOW_ACTIONS) | ASYNC_RUNTIME_ACTIONS
