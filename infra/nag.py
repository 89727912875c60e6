"""cdk-nag 3.x for the stack: the AwsSolutions pack and the one table of acknowledged findings.

cdk-nag 3 is a CDK validation plugin (`Validations.of(...).add_plugins`): any finding not acknowledged
fails synthesis, `cdk synth` and `Template.from_stack` alike, and is written to
`cdk.out/validation-report.json`. Acknowledgements use CDK's own `Validations.of(construct).acknowledge`
(v3 has no `NagSuppressions`), one full finding id (`Rule[Finding]`) at a time."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, CfnElement, Stack, Token, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from infra.constants import REPORT_PREFIX

SCANNER_POLICY = "LifecycleScanner/Role/DefaultPolicy/Resource"
SCANNER_FUNCTION = "LifecycleScanner/Function/Resource"
WORKER_POLICY = "AccountWorker/Role/DefaultPolicy/Resource"
WORKER_FUNCTION = "AccountWorker/Function/Resource"
MEMBER_POLICY = "MemberRole/Role/DefaultPolicy/Resource"
EVENTS_POLICY = "EventMonitor/Handler/Role/DefaultPolicy/Resource"
EVENTS_FUNCTION = "EventMonitor/Handler/Function/Resource"
ROTATE_POLICY = "RotateNow/Handler/Role/DefaultPolicy/Resource"
ROTATE_FUNCTION = "RotateNow/Handler/Function/Resource"
REQUIRE_MFA_POLICY = "RequireMfaPolicy/Policy/Resource"
FORWARDER_QUEUE = "SigninForwarder/DeadLetterQueue/Resource"
MEMBER_FORWARDER_QUEUE = "EventForwarder/DeadLetterQueue/Resource"
REPORT_BUCKET = "ReportBucket/Bucket/Resource"


@dataclass(frozen=True)
class Acknowledged:
    #: Construct path below the stack.
    path: str
    #: Full cdk-nag finding id, e.g. `AwsSolutions-IAM5[Resource::*]`.
    finding: str
    reason: str


def acknowledgements(stack: Stack, secret_prefix: str) -> tuple[Acknowledged, ...]:
    """The table. IAM5 finding ids carry the resource as cdk-nag renders it: pseudo parameters appear as
    `<AWS::AccountId>` unless the stack has a concrete env."""
    account = _rendered(stack.account, "<AWS::AccountId>")
    region = _rendered(stack.region, "<AWS::Region>")
    partition = _rendered(stack.partition, "<AWS::Partition>")
    reports = f"AwsSolutions-IAM5[Resource::<{_logical_id(stack, REPORT_BUCKET)}.Arn>/{REPORT_PREFIX}*]"
    if stack.node.try_find_child("MemberRole") is not None:
        return (
            *_member_acknowledgements(partition, region, account, secret_prefix),
            Acknowledged(
                MEMBER_FORWARDER_QUEUE,
                "AwsSolutions-SQS3",
                "This queue is itself the dead-letter queue of the rules forwarding this account's events to "
                "the home account's bus; a dead-letter queue needs none.",
            ),
        )
    if stack.node.try_find_child("SigninForwarder") is not None:
        return (
            Acknowledged(
                FORWARDER_QUEUE,
                "AwsSolutions-SQS3",
                "This queue is itself the dead-letter queue of the forwarding rule's target (events "
                "EventBridge could not put on the home region's bus); a dead-letter queue needs none.",
            ),
        )
    scanner: tuple[Acknowledged, ...] = (
        Acknowledged(
            SCANNER_POLICY,
            "AwsSolutions-IAM5[Resource::*]",
            "Only actions without resource-level permissions use '*': iam:GenerateCredentialReport, "
            "iam:GetCredentialReport, iam:GetAccountAuthorizationDetails, sts:GetCallerIdentity, "
            "xray:PutTraceSegments, xray:PutTelemetryRecords, and in organization mode the Organizations "
            "listings (account and OU ARNs embed the organization id, unknown at synthesis).",
        ),
        Acknowledged(
            SCANNER_POLICY,
            f"AwsSolutions-IAM5[Resource::arn:{partition}:iam::{account}:user/*]",
            "The scanner lists, creates, deactivates and deletes access keys of any IAM user in the "
            "account (users with paths included); which users it acts on is decided per user by the "
            "policy's scope and exemptions, which IAM cannot express.",
        ),
        Acknowledged(
            SCANNER_POLICY,
            f"AwsSolutions-IAM5[Resource::arn:{partition}:secretsmanager:{region}:{account}"
            f":secret:{secret_prefix}/*]",
            "New access keys are handed over in one secret per user, named after the user under the "
            "project's prefix; the wildcard is limited to that prefix (secret ARNs end in a random suffix).",
        ),
        Acknowledged(
            SCANNER_FUNCTION,
            "AwsSolutions-L1",
            "Pinned to python3.12 to match the AWS-published Powertools layer read from "
            "/aws/service/powertools/python/x86_64/python3.12/latest; both move together.",
        ),
        Acknowledged(
            SCANNER_POLICY,
            reports,
            "s3:PutObject only, for the compliance report: one object per format, account and day under "
            f"'{REPORT_PREFIX}<account>/<date>/' and '{REPORT_PREFIX}<account>/latest/'; object keys are not "
            "known at synthesis, so the wildcard is limited to that prefix of the project's report bucket.",
        ),
    )
    scanner = (
        *scanner,
        Acknowledged(
            EVENTS_POLICY,
            "AwsSolutions-IAM5[Resource::*]",
            "Only X-Ray's xray:PutTraceSegments and xray:PutTelemetryRecords (added by the Function for "
            "active tracing) use '*': X-Ray has no resource-level permissions.",
        ),
        Acknowledged(
            EVENTS_POLICY,
            f"AwsSolutions-IAM5[Resource::arn:{partition}:iam::{account}:user/*]",
            "The event monitor reads any signing-in user's tags (GetUser) to find its owner for the "
            "'was this you?' email, and detaches the require-MFA policy from any user who enables MFA: "
            "DetachUserPolicy is conditioned on iam:PolicyARN being that one policy.",
        ),
        Acknowledged(
            EVENTS_POLICY,
            f"AwsSolutions-IAM5[Resource::arn:{partition}:iam::{account}:group/*]",
            "Privilege escalation: when a user is added to a group, the event monitor reads that group's "
            "attached and inline policies (read-only List/Get) to see whether it grants administrator "
            "equivalence; any group may be the one.",
        ),
        Acknowledged(
            EVENTS_FUNCTION,
            "AwsSolutions-L1",
            "Pinned to python3.12 to match the AWS-published Powertools layer, like the scanner.",
        ),
        Acknowledged(
            ROTATE_POLICY,
            "AwsSolutions-IAM5[Resource::*]",
            "The lifecycle's account-wide reads without resource-level permissions "
            "(iam:GenerateCredentialReport, iam:GetCredentialReport, iam:GetAccountAuthorizationDetails, "
            "sts:GetCallerIdentity) and X-Ray.",
        ),
        Acknowledged(
            ROTATE_POLICY,
            f"AwsSolutions-IAM5[Resource::arn:{partition}:iam::{account}:user/*]",
            "Rotate-now rotates the access key of whichever user the request names; exemptions and scope are "
            "decided per user by the policy, which IAM cannot express.",
        ),
        Acknowledged(
            ROTATE_POLICY,
            f"AwsSolutions-IAM5[Resource::arn:{partition}:secretsmanager:{region}:{account}"
            f":secret:{secret_prefix}/*]",
            "The new key is handed over in the user's secret under the project's prefix (secret ARNs end in "
            "a random suffix, so the prefix wildcard is the narrowest possible).",
        ),
        Acknowledged(
            ROTATE_FUNCTION,
            "AwsSolutions-L1",
            "Pinned to python3.12 to match the AWS-published Powertools layer, like the scanner.",
        ),
        *_require_mfa_acknowledgements(),
    )
    worker = stack.node.try_find_child("AccountWorker")
    if worker is None:
        return scanner
    role_name = _member_role_name(stack)
    return (
        *scanner,
        Acknowledged(
            "MemberEventsPolicy",
            "AwsSolutions-EVB1",
            "Principal '*' is conditioned on aws:PrincipalOrgID (only the organization's accounts may put "
            "events); the rule cannot read the condition because the organization id is a parameter.",
        ),
        Acknowledged(
            WORKER_POLICY,
            f"AwsSolutions-IAM5[Resource::arn:{partition}:iam::*:role/{role_name}]",
            "The account worker assumes the member role in whichever organization account a message names; "
            "the account is the only wildcard (the role name is fixed), and each member role trusts only "
            "this worker role.",
        ),
        Acknowledged(
            WORKER_POLICY,
            "AwsSolutions-IAM5[Resource::*]",
            "Only X-Ray's xray:PutTraceSegments and xray:PutTelemetryRecords (added by the Function for "
            "active tracing) use '*': X-Ray has no resource-level permissions.",
        ),
        Acknowledged(
            WORKER_FUNCTION,
            "AwsSolutions-L1",
            "Pinned to python3.12 to match the AWS-published Powertools layer, like the scanner.",
        ),
        Acknowledged(
            WORKER_POLICY,
            reports,
            "s3:PutObject only: the worker writes each member account's compliance report under "
            f"'{REPORT_PREFIX}<account>/' of the project's report bucket, with its own (home account) role; "
            "object keys are not known at synthesis, so the wildcard is limited to that prefix.",
        ),
    )


def _require_mfa_acknowledgements() -> tuple[Acknowledged, ...]:
    """The require-MFA policy's findings: in the main stack and in the member-role stack alike."""
    return (
        Acknowledged(
            REQUIRE_MFA_POLICY,
            "AwsSolutions-IAM5[Resource::*]",
            "Not the automation's permissions: AWS's documented require-MFA policy for users without MFA. "
            "Its '*' statements are a Deny of everything but MFA self-service, and read-only account "
            "information (password policy, virtual MFA device list) without resource-level permissions.",
        ),
        Acknowledged(
            REQUIRE_MFA_POLICY,
            "AwsSolutions-IAM5[Resource::arn:aws:iam::*:user/<aws:username>]",
            "The ${aws:username} policy variable limits each user to their own user and MFA devices; the "
            "policy is attached to users of this account only.",
        ),
        Acknowledged(
            REQUIRE_MFA_POLICY,
            "AwsSolutions-IAM5[Resource::arn:aws:iam::*:mfa/*]",
            "Creating a virtual MFA device names a device not yet known: AWS's documented pattern.",
        ),
    )


def _logical_id(stack: Stack, path: str) -> str:
    """The template id cdk-nag shows for a construct's CloudFormation resource ("" if the stack has none)."""
    try:
        element = _find(stack, path)
    except LookupError:
        return ""
    assert isinstance(element, CfnElement)
    return str(stack.resolve(element.logical_id))


def _member_role_name(stack: Stack) -> str:
    worker = stack.node.find_child("AccountWorker")
    pattern = str(getattr(worker, "member_role_arn_pattern", ""))
    return pattern.rsplit("/", 1)[-1] if "/" in pattern else "credlife-member"


def _member_acknowledgements(
    partition: str, region: str, account: str, secret_prefix: str
) -> tuple[Acknowledged, ...]:
    return (
        Acknowledged(
            MEMBER_POLICY,
            "AwsSolutions-IAM5[Resource::*]",
            "Only actions without resource-level permissions use '*': iam:GenerateCredentialReport, "
            "iam:GetCredentialReport, iam:GetAccountAuthorizationDetails, sts:GetCallerIdentity.",
        ),
        Acknowledged(
            MEMBER_POLICY,
            f"AwsSolutions-IAM5[Resource::arn:{partition}:iam::{account}:user/*]",
            "The lifecycle lists, creates, deactivates and deletes access keys of any IAM user of the member "
            "account; which users it acts on is decided per user by the policy's scope and exemptions. "
            "AttachUserPolicy/DetachUserPolicy are conditioned on iam:PolicyARN being the account's "
            "require-MFA policy.",
        ),
        Acknowledged(
            MEMBER_POLICY,
            f"AwsSolutions-IAM5[Resource::arn:{partition}:secretsmanager:{region}:{account}"
            f":secret:{secret_prefix}/*]",
            "New access keys are handed over in one secret per user under the project's prefix; secret ARNs "
            "end in a random suffix, so the prefix wildcard is the narrowest possible.",
        ),
        *_require_mfa_acknowledgements(),
    )


def apply_nag(stack: Stack, secret_prefix: str) -> None:
    """Acknowledge the table's findings, then check the stack with the AwsSolutions pack."""
    for ack in acknowledgements(stack, secret_prefix):
        Validations.of(_find(stack, ack.path)).acknowledge(Acknowledgment(id=ack.finding, reason=ack.reason))
    Validations.of(stack).add_plugins(AwsSolutionsChecks(stack))


def _find(stack: Stack, path: str) -> IConstruct:
    """A stale path must fail loudly, not leave a finding acknowledged nowhere."""
    node: IConstruct = stack
    for part in path.split("/"):
        child = node.node.try_find_child(part)
        if child is None:
            raise LookupError(f"nag acknowledgement for a construct that does not exist: {path}")
        node = child
    return node


def _rendered(value: str, token_text: str) -> str:
    return token_text if Token.is_unresolved(value) else value
