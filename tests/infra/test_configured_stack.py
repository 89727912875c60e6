"""The stack with every `credlife` context key set: boundary, env, schedule, prefix, policy overrides."""

from __future__ import annotations

import json
from typing import Any

import pytest

from credlife.config import load_settings
from infra.permissions import scanner_role_actions
from tests.infra.conftest import Synth, actions_of, logical_id, nag_violations, role_statements, synthesize

pytestmark = pytest.mark.infra

BOUNDARY = "arn:aws:iam::123456789012:policy/credlife-boundary"
CONTEXT: dict[str, Any] = {
    "dry_run": False,
    "schedule": "cron(0 6 * * ? *)",
    "state_table_name": "credlife-state-test",
    "secret_prefix": "team/keys",
    "policy": {"rotate_after_days": 60, "notice_days": 10},
    "permissions_boundary_arn": BOUNDARY,
    "account": "123456789012",
    "region": "us-east-1",
    "sender_email": "credlife@example.com",
    "notifications": {"security_email": "secops@example.com", "path_owners": {"/svc/": "svc@example.com"}},
    "risk": {"brute_force_failures": 3},
    "signin_regions": ["eu-west-1"],
    "create_trail": True,
}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    # Given every context key set, When the app is synthesized once for this module
    return synthesize(tmp_path_factory.mktemp("cdk-configured"), CONTEXT)


@pytest.fixture(scope="module")
def env(synth: Synth) -> dict[str, Any]:
    function = synth.resources("AWS::Lambda::Function")[logical_id(synth, synth.stack.scanner.function)]
    variables: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
    return variables


def test_every_role_gets_the_permissions_boundary(synth: Synth) -> None:
    # When the roles are read
    roles = synth.resources("AWS::IAM::Role")

    # Then each one carries the configured boundary
    assert roles
    assert {json.dumps(r["Properties"].get("PermissionsBoundary")) for r in roles.values()} == {
        json.dumps(BOUNDARY)
    }


def test_cdk_nag_is_clean_with_a_concrete_environment(synth: Synth) -> None:
    # Given finding ids that now carry the literal account and region, Then all are still acknowledged
    assert nag_violations(synth.stack) == []


def test_stack_targets_the_configured_environment(synth: Synth) -> None:
    # Then the stack is bound to the configured account and region
    assert (synth.stack.account, synth.stack.region) == ("123456789012", "us-east-1")


def test_secret_access_follows_the_configured_prefix(synth: Synth) -> None:
    # When the scanner role's statements are read
    statements = role_statements(synth, logical_id(synth, synth.stack.scanner.role))
    (secrets,) = [s for s in statements if "secretsmanager:CreateSecret" in actions_of([s])]

    # Then secrets may be written only under the configured prefix, and the action set is unchanged
    assert secrets["Resource"] == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":secretsmanager:us-east-1:123456789012:secret:team/keys/*"],
        ]
    }
    assert actions_of(statements) == scanner_role_actions()


def test_schedule_and_table_name_follow_the_context(synth: Synth, env: dict[str, Any]) -> None:
    # Then the rule and the table use the configured values
    synth.template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "cron(0 6 * * ? *)"})
    synth.template.has_resource_properties("AWS::DynamoDB::Table", {"TableName": "credlife-state-test"})
    assert env["CREDLIFE_DRY_RUN"] == "false"
    assert env["CREDLIFE_SECRET_PREFIX"] == "team/keys"


def test_function_environment_loads_into_the_runtime_settings(env: dict[str, Any]) -> None:
    # Given the function's literal environment variables (deploy-time references left out)
    literal = {name: value for name, value in env.items() if isinstance(value, str)}

    # When the runtime loads its settings from them, as the handler does at cold start
    settings = load_settings(environ=literal)

    # Then the overrides and switches arrive intact
    assert settings.policy.dry_run is False
    assert settings.policy.rotate_after_days == 60
    assert settings.policy.notice_days == 10
    assert settings.secret_prefix == "team/keys"
    assert settings.email_sender == "credlife@example.com"
    assert settings.notifications.security_email == "secops@example.com"
    assert settings.notifications.path_owners == {"/svc/": "svc@example.com"}
    assert settings.risk.brute_force_failures == 3


def test_configured_sender_is_the_only_ses_identity_the_scanner_may_send_from(synth: Synth) -> None:
    statements = role_statements(synth, logical_id(synth, synth.stack.scanner.role))
    (ses,) = [s for s in statements if "ses:SendEmail" in actions_of([s])]
    # the address and its domain (either may be the verified identity); no parameter without need
    assert json.dumps(ses["Resource"]).count("identity/") == 2
    assert "credlife@example.com" in json.dumps(ses["Resource"])
    assert "SenderEmail" not in synth.template.to_json().get("Parameters", {})


def test_trail_is_multi_region_with_an_encrypted_access_logged_tls_only_bucket(synth: Synth) -> None:
    assert synth.stack.trail is not None
    _, trail = synth.only("AWS::CloudTrail::Trail")
    props = trail["Properties"]
    assert props["IsMultiRegionTrail"] is True
    assert props["IncludeGlobalServiceEvents"] is True
    assert props["EnableLogFileValidation"] is True
    bucket_id = logical_id(synth, synth.stack.trail.bucket)
    log_bucket_id = logical_id(synth, synth.stack.trail.access_log_bucket)
    buckets = synth.resources("AWS::S3::Bucket")
    assert props["S3BucketName"] == {"Ref": bucket_id}
    bucket = buckets[bucket_id]["Properties"]
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": log_bucket_id}
    for each in buckets.values():
        assert "ServerSideEncryptionConfiguration" in each["Properties"]["BucketEncryption"]
        assert each["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
        assert "AccessControl" not in each["Properties"]
    for policy in synth.resources("AWS::S3::BucketPolicy").values():
        denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)
