"""Issue 8 in the CDK app: the compliance report bucket (and its access-log bucket), the functions' grant
to write reports into it, and the `security_hub` context key — on and off, single account and organization
mode (where the member role, not the worker, imports findings into each account's Security Hub)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.build import build_member_stack, build_stack
from infra.constants import (
    CONTEXT_KEY,
    DEFAULTS,
    member_actions,
    scanner_role_actions,
    worker_role_actions,
)
from infra.constructs.report_bucket import ACCESS_LOG_PREFIX, MULTIPART_DAYS, NONCURRENT_DAYS
from infra.nag import acknowledgements
from infra.stack import CredentialLifecycleStack, MemberRoleStack
from tests.infra.conftest import (
    Synth,
    actions_of,
    arn,
    logical_id,
    nag_violations,
    ref,
    role_statements,
    synthesize,
)

pytestmark = pytest.mark.infra

HUB_CONTEXT: dict[str, Any] = {"security_hub": True, "report_retention_days": 90}
ORG_CONTEXT: dict[str, Any] = {"organization": {"enabled": True}}


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    # Given the default configuration (security_hub off, reports kept 400 days)
    return synthesize(tmp_path_factory.mktemp("cdk-report-default"), {})


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    # Given security_hub on and a shorter report retention
    return synthesize(tmp_path_factory.mktemp("cdk-report-hub"), HUB_CONTEXT)


def _org(outdir: Path, context: dict[str, Any]) -> tuple[Synth, MemberRoleStack, Template]:
    app = cdk.App(context={CONTEXT_KEY: context}, outdir=str(outdir))
    main = build_stack(app)
    member = build_member_stack(app)
    assert nag_violations(main) == []
    assert nag_violations(member) == []
    return Synth(main, Template.from_stack(main)), member, Template.from_stack(member)


@pytest.fixture(scope="module")
def org_hub(tmp_path_factory: pytest.TempPathFactory) -> tuple[Synth, MemberRoleStack, Template]:
    # Given organization mode with security_hub on (both stacks, cdk-nag on)
    return _org(tmp_path_factory.mktemp("cdk-report-org-hub"), {**ORG_CONTEXT, "security_hub": True})


@pytest.fixture(scope="module")
def org_plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Synth, MemberRoleStack, Template]:
    # Given organization mode with security_hub off
    return _org(tmp_path_factory.mktemp("cdk-report-org-plain"), ORG_CONTEXT)


def _bucket(synth: Synth) -> dict[str, Any]:
    resource: dict[str, Any] = synth.resources("AWS::S3::Bucket")[
        logical_id(synth, synth.stack.report_bucket.bucket)
    ]
    return resource


def _log_bucket(synth: Synth) -> dict[str, Any]:
    resource: dict[str, Any] = synth.resources("AWS::S3::Bucket")[
        logical_id(synth, synth.stack.report_bucket.access_log_bucket)
    ]
    return resource


def _bucket_policy(synth: Synth, bucket_id: str) -> list[dict[str, Any]]:
    (policy,) = [
        p
        for p in synth.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _reports(synth: Synth) -> dict[str, Any]:
    """`<report bucket ARN>/reports/*` as the template renders it."""
    return {"Fn::Join": ["", [arn(synth, synth.stack.report_bucket.bucket), "/reports/*"]]}


def _securityhub(resource: str) -> dict[str, Any]:
    """An ARN of the deploying account's own Security Hub, in the stack's region."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":securityhub:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                *(
                    [":product/", {"Ref": "AWS::AccountId"}, "/default"]
                    if resource == "product"
                    else [":hub/default"]
                ),
            ],
        ]
    }


def _all_statements(template: Template) -> list[dict[str, Any]]:
    """Every identity-policy statement of a template (inline role policies and AWS::IAM::Policy)."""
    statements: list[dict[str, Any]] = []
    for role in template.find_resources("AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            statements += policy["PolicyDocument"]["Statement"]
    for policy in template.find_resources("AWS::IAM::Policy").values():
        statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _env(synth: Synth, function: Any) -> dict[str, Any]:
    resource = synth.resources("AWS::Lambda::Function")[logical_id(synth, function)]
    variables: dict[str, Any] = resource["Properties"]["Environment"]["Variables"]
    return variables


def _member_statements(template: Template) -> list[dict[str, Any]]:
    # the member role (named); the other role is EventBridge's, forwarding events to the home bus
    roles = template.find_resources("AWS::IAM::Role").items()
    ((role_id, _),) = [(k, r) for k, r in roles if "RoleName" in r["Properties"]]
    return [
        s
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


# -- the report bucket


def test_report_bucket_is_versioned_kms_encrypted_with_the_project_key_and_private(default: Synth) -> None:
    props = _bucket(default)["Properties"]
    # Then versioning is on, SSE-KMS with the project key and an S3 Bucket Key, all public access blocked
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": arn(default, default.stack.project_key.key),
            },
        }
    ]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    # And no ACLs: the bucket owner owns every object
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "AccessControl" not in props


@pytest.mark.parametrize("which", ["bucket", "access_log_bucket"])
def test_both_buckets_refuse_plain_http(default: Synth, which: str) -> None:
    bucket = getattr(default.stack.report_bucket, which)
    bucket_id = logical_id(default, bucket)
    # When the bucket's policy is read
    statements = _bucket_policy(default, bucket_id)
    # Then every request without TLS is denied, on the bucket and on its objects
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Action"] == "s3:*"
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Resource"] == [
        arn(default, bucket),
        {"Fn::Join": ["", [arn(default, bucket), "/*"]]},
    ]


def test_report_bucket_access_is_logged_to_the_access_log_bucket(default: Synth) -> None:
    props = _bucket(default)["Properties"]
    log_bucket = default.stack.report_bucket.access_log_bucket
    # Then server access logs go to the access-log bucket, under the report bucket's prefix
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": ref(default, log_bucket),
        "LogFilePrefix": ACCESS_LOG_PREFIX,
    }
    # And S3 log delivery may write there through the bucket policy, only for the report bucket
    statements = _bucket_policy(default, logical_id(default, log_bucket))
    (delivery,) = [s for s in statements if s["Effect"] == "Allow"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Action"] == "s3:PutObject"
    assert delivery["Condition"]["ArnLike"] == {
        "aws:SourceArn": arn(default, default.stack.report_bucket.bucket)
    }


def test_access_log_bucket_is_sse_s3_private_and_expires_its_logs(default: Synth) -> None:
    props = _log_bucket(default)["Properties"]
    # Then SSE-S3 (log delivery cannot write to SSE-KMS), all public access blocked, no ACLs
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    # And logs expire with the reports they record access to; it logs nowhere itself
    assert props["LifecycleConfiguration"]["Rules"] == [
        {
            "Id": "ExpireAccessLogs",
            "Status": "Enabled",
            "ExpirationInDays": DEFAULTS["report_retention_days"],
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": MULTIPART_DAYS},
        }
    ]
    assert "LoggingConfiguration" not in props


@pytest.mark.parametrize(("which", "days"), [("default", 400), ("hub", 90)])
def test_reports_expire_after_the_configured_retention(
    which: str, days: int, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(which)
    # Then current reports expire after report_retention_days, replaced versions after 30 days, and
    # unfinished uploads are aborted after 7
    assert _bucket(synth)["Properties"]["LifecycleConfiguration"]["Rules"] == [
        {
            "Id": "ExpireReports",
            "Status": "Enabled",
            "ExpirationInDays": days,
            "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": MULTIPART_DAYS},
        }
    ]
    assert _log_bucket(synth)["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == days
    assert (NONCURRENT_DAYS, MULTIPART_DAYS) == (30, 7)


def test_both_buckets_outlive_the_stack(default: Synth) -> None:
    # Then reports and their access logs are audit evidence: kept when the stack is deleted or replaced
    for bucket in (_bucket(default), _log_bucket(default)):
        assert bucket["DeletionPolicy"] == "Retain"
        assert bucket["UpdateReplacePolicy"] == "Retain"
    assert len(default.resources("AWS::S3::Bucket")) == 2  # no trail by default: only these two


def test_bucket_name_is_a_stack_output(default: Synth) -> None:
    outputs = default.template.to_json()["Outputs"]
    assert outputs["ReportBucketName"]["Value"] == ref(default, default.stack.report_bucket.bucket)


# -- who may write reports


@pytest.mark.parametrize("which", ["default", "hub"])
def test_scanner_may_only_put_objects_under_reports(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(which)
    statements = role_statements(synth, logical_id(synth, synth.stack.scanner.role))
    # When the scanner role's S3 statements are read
    s3 = [s for s in statements if any(a.startswith("s3:") for a in actions_of([s]))]
    # Then one statement: exactly s3:PutObject, on exactly the bucket's reports/ prefix
    assert s3 == [
        {"Action": "s3:PutObject", "Effect": "Allow", "Resource": _reports(synth), "Sid": "S3OnReportBucket"}
    ]
    # And the project key (SSE-KMS) is usable for the writes it makes on the scanner's behalf
    (kms,) = [s for s in statements if "kms:GenerateDataKey" in actions_of([s])]
    assert kms["Resource"] == arn(synth, synth.stack.project_key.key)


def test_no_other_role_may_touch_the_report_bucket(default: Synth) -> None:
    # When every identity statement of the stack naming S3 is collected
    s3 = [s for s in _all_statements(default.template) if any(a.startswith("s3:") for a in actions_of([s]))]
    # Then only the scanner's PutObject statement: rotate-now and the event monitor publish no report
    assert len(s3) == 1
    assert actions_of(s3) == {"s3:PutObject"}


def test_scanner_is_told_the_report_bucket(default: Synth) -> None:
    env = _env(default, default.stack.scanner.function)
    assert env["CREDLIFE_REPORT_BUCKET"] == ref(default, default.stack.report_bucket.bucket)
    # And the functions that publish no report are not
    for function in (default.stack.rotate_now.function, default.stack.event_monitor.function):
        assert "CREDLIFE_REPORT_BUCKET" not in _env(default, function)


# -- security_hub


def test_security_hub_off_grants_nothing_and_says_so(
    default: Synth, org_plain: tuple[Synth, MemberRoleStack, Template]
) -> None:
    org, _, member = org_plain
    # Then no role of either stack may call Security Hub
    for template in (default.template, org.template, member):
        assert not [a for a in actions_of(_all_statements(template)) if a.startswith("securityhub:")]
    # And the scanner (and the worker) are told it is off
    assert _env(default, default.stack.scanner.function)["CREDLIFE_SECURITY_HUB_ENABLED"] == "false"
    assert org.stack.worker is not None
    assert _env(org, org.stack.worker.function)["CREDLIFE_SECURITY_HUB_ENABLED"] == "false"
    assert actions_of(_member_statements(member)) == member_actions()


def test_security_hub_on_grants_the_scanner_its_own_accounts_hub(hub: Synth) -> None:
    statements = role_statements(hub, logical_id(hub, hub.stack.scanner.role))
    # Then the scanner role is exactly the declared set with Security Hub
    assert actions_of(statements) == scanner_role_actions(security_hub=True)
    # And BatchImportFindings only on the account's default product, GetFindings only on its hub
    (imports,) = [s for s in statements if "securityhub:BatchImportFindings" in actions_of([s])]
    (reads,) = [s for s in statements if "securityhub:GetFindings" in actions_of([s])]
    assert actions_of([imports]) == {"securityhub:BatchImportFindings"}
    assert imports["Resource"] == _securityhub("product")
    assert actions_of([reads]) == {"securityhub:GetFindings"}
    assert reads["Resource"] == _securityhub("hub")
    # And the scanner is told to export
    assert _env(hub, hub.stack.scanner.function)["CREDLIFE_SECURITY_HUB_ENABLED"] == "true"


def test_security_hub_on_is_nag_clean_and_acknowledges_exactly_its_findings(
    hub: Synth, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert nag_violations(hub.stack) == []
    app = cdk.App(context={CONTEXT_KEY: HUB_CONTEXT}, outdir=str(tmp_path_factory.mktemp("cdk-hub-bare")))
    bare: CredentialLifecycleStack = build_stack(app, nag=False)
    findings = {line.split(" at ")[0] for line in nag_violations(bare)}
    assert findings == {a.finding for a in acknowledgements(bare, "credlife/access-keys")}


def test_organization_mode_worker_writes_reports_and_member_role_imports_findings(
    org_hub: tuple[Synth, MemberRoleStack, Template],
) -> None:
    org, _, member = org_hub
    worker = org.stack.worker
    assert worker is not None
    # Then the worker writes each account's report to the home bucket with its own role...
    statements = role_statements(org, logical_id(org, worker.role))
    assert actions_of(statements) == worker_role_actions()
    (s3,) = [s for s in statements if "s3:PutObject" in actions_of([s])]
    assert actions_of([s3]) == {"s3:PutObject"}
    assert s3["Resource"] == _reports(org)
    # ...and calls no Security Hub itself (it does through the member-role session)
    assert not [a for a in actions_of(statements) if a.startswith("securityhub:")]
    env = _env(org, worker.function)
    assert env["CREDLIFE_REPORT_BUCKET"] == ref(org, org.stack.report_bucket.bucket)
    assert env["CREDLIFE_SECURITY_HUB_ENABLED"] == "true"
    # And the member role may import into, and read, only that member account's own hub
    member_statements = _member_statements(member)
    assert actions_of(member_statements) == member_actions(security_hub=True)
    (imports,) = [s for s in member_statements if "securityhub:BatchImportFindings" in actions_of([s])]
    (reads,) = [s for s in member_statements if "securityhub:GetFindings" in actions_of([s])]
    assert imports["Resource"] == _securityhub("product")
    assert reads["Resource"] == _securityhub("hub")
    # And the scheduler keeps the same grants as in single-account mode, plus the fan-out
    scheduler = role_statements(org, logical_id(org, org.stack.scanner.role))
    assert actions_of(scheduler) == scanner_role_actions(organization=True, security_hub=True)


def test_member_role_uses_the_configured_home_region_for_security_hub(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Given organization mode, security_hub on and the home region named in the config
    context = {**ORG_CONTEXT, "security_hub": True, "region": "eu-west-1"}
    app = cdk.App(context={CONTEXT_KEY: context}, outdir=str(tmp_path_factory.mktemp("cdk-member-region")))
    member = build_member_stack(app)
    # Then the member role's Security Hub grants are in the home region (where the worker calls it), in
    # whichever account the (environment-agnostic) member stack is deployed to
    statements = _member_statements(Template.from_stack(member))
    (imports,) = [s for s in statements if "securityhub:BatchImportFindings" in actions_of([s])]
    assert imports["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":securityhub:eu-west-1:",
                {"Ref": "AWS::AccountId"},
                ":product/",
                {"Ref": "AWS::AccountId"},
                "/default",
            ],
        ]
    }
    assert nag_violations(member) == []
