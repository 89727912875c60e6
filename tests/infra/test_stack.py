"""The stack with the default configuration (cdk.json's): what `make synth` deploys."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match

from infra.build import build_stack
from infra.constants import (
    LOG_RETENTION_DAYS,
    POWERTOOLS_LAYER_PARAMETER,
    SCANNER_HANDLER,
    SCANNER_MEMORY_MB,
    SCANNER_RETRY_ATTEMPTS,
    SCANNER_TIMEOUT_SECONDS,
)
from infra.nag import acknowledgements
from infra.permissions import ASYNC_RUNTIME_ACTIONS as SCANNER_RUNTIME_ACTIONS
from infra.permissions import scanner_actions, scanner_groups, scanner_role_actions
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


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    # Given the app's default configuration, When it is synthesized once for this module
    return synthesize(tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="module")
def scanner_role_id(synth: Synth) -> str:
    return logical_id(synth, synth.stack.scanner.role)


@pytest.fixture(scope="module")
def function(synth: Synth) -> dict[str, Any]:
    function_id = logical_id(synth, synth.stack.scanner.function)
    properties: dict[str, Any] = synth.resources("AWS::Lambda::Function")[function_id]["Properties"]
    return properties


# -- cdk-nag and CDK's own annotations


def test_cdk_nag_reports_no_unacknowledged_finding(synth: Synth) -> None:
    # When the AwsSolutions pack checks the synthesized stack
    violations = nag_violations(synth.stack)

    # Then every finding is acknowledged in infra/nag.py
    assert violations == []


def test_cdk_reports_no_warning_or_error(synth: Synth) -> None:
    # cdk-nag 3 reports through validation, not annotations (see the test above): this catches CDK's own
    # warnings and errors, and any AwsSolutions annotation should cdk-nag go back to annotating.
    # (Deprecated APIs are made to fail synthesis by JSII_DEPRECATED=fail in conftest.)
    annotations = Annotations.from_stack(synth.stack)

    # Then there are none
    assert annotations.find_error("*", Match.any_value()) == []
    assert annotations.find_warning("*", Match.any_value()) == []
    assert annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*")) == []


def test_every_acknowledgement_matches_a_finding_and_covers_them_all(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Given the same stack built without any acknowledgement
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk-unacknowledged")))
    bare = build_stack(app, nag=False)

    # When cdk-nag checks it
    findings = {line.split(" at ")[0] for line in nag_violations(bare)}

    # Then the table acknowledges exactly those findings: none missing, none stale
    acknowledged = {ack.finding for ack in acknowledgements(bare, "credlife/access-keys")}
    assert findings == acknowledged
    assert all(ack.reason.strip() for ack in acknowledgements(bare, "credlife/access-keys"))


# -- state table and key


def test_state_table_is_on_demand_recoverable_encrypted_with_the_project_key_and_expires_rows(
    synth: Synth,
) -> None:
    # When the table is read from the template
    _, table = synth.only("AWS::DynamoDB::Table")
    props = table["Properties"]

    # Then it is pay-per-request, with PITR, KMS SSE with the project key, TTL on expires_at
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": arn(synth, synth.stack.project_key.key),
    }
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert props["TableName"] == "credlife-state"
    # And it outlives the stack: it is the audit trail
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_project_key_is_customer_managed_with_rotation(synth: Synth) -> None:
    # When the key is read from the template
    _, key = synth.only("AWS::KMS::Key")

    # Then rotation is on and the key is kept when the stack goes
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


# -- the scanner function


def test_scanner_runs_the_scheduled_handler_on_python_312(function: dict[str, Any]) -> None:
    # Then the handler, runtime and sizing are the constants'
    assert function["Handler"] == SCANNER_HANDLER
    assert function["Runtime"] == "python3.12"
    assert function["Timeout"] == SCANNER_TIMEOUT_SECONDS
    assert function["MemorySize"] == SCANNER_MEMORY_MB
    assert function["TracingConfig"] == {"Mode": "Active"}


def test_scanner_environment_points_at_the_stack_resources(synth: Synth, function: dict[str, Any]) -> None:
    # When the function's environment is read
    env = function["Environment"]["Variables"]

    # Then every variable the runtime settings read is set, to this stack's resources (the own principals:
    # every function role, checked in test_event_stack)
    assert "CREDLIFE_OWN_PRINCIPAL_ARNS" in env
    env = {k: v for k, v in env.items() if k != "CREDLIFE_OWN_PRINCIPAL_ARNS"}
    assert env == {
        "CREDLIFE_STATE_TABLE": ref(synth, synth.stack.state_table.table),
        "CREDLIFE_SECRET_PREFIX": "credlife/access-keys",
        "CREDLIFE_KMS_KEY_ID": arn(synth, synth.stack.project_key.key),
        "CREDLIFE_DRY_RUN": "true",
        "CREDLIFE_CONFIG": (
            '{"event_clock_tolerance_minutes":15,"policy":{},"queued_run_max_age_minutes":360}'
        ),
        "CREDLIFE_SECURITY_TOPIC_ARN": ref(synth, synth.stack.notifications.topic),
        "CREDLIFE_SENDER_EMAIL": {"Ref": "SenderEmail"},
        "CREDLIFE_AUTOMATION_PRINCIPAL_ARN": arn(synth, synth.stack.scanner.role),
        "CREDLIFE_REQUIRE_MFA_POLICY_ARN": ref(synth, synth.stack.require_mfa.policy),
        "CREDLIFE_REPORT_BUCKET": ref(synth, synth.stack.report_bucket.bucket),
        "CREDLIFE_SECURITY_HUB_ENABLED": "false",
        "CREDLIFE_ORGANIZATION_ENABLED": "false",
        "CREDLIFE_EVENT_CLOCK_TOLERANCE_MINUTES": "15",
        "POWERTOOLS_SERVICE_NAME": "credlife",
        "POWERTOOLS_METRICS_NAMESPACE": "CredentialLifecycle",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def test_powertools_comes_from_the_published_layer_via_public_ssm_parameter(
    synth: Synth, function: dict[str, Any]
) -> None:
    # When the function's layers are read
    (layer,) = function["Layers"]

    # Then the single layer is a template parameter resolved from the public SSM parameter at deploy time
    parameter = synth.template.to_json()["Parameters"][layer["Ref"]]
    assert parameter == {"Type": "AWS::SSM::Parameter::Value<String>", "Default": POWERTOOLS_LAYER_PARAMETER}


def test_scanner_logs_to_its_own_log_group_with_retention(synth: Synth, function: dict[str, Any]) -> None:
    # When the log group is read
    log_group_id = logical_id(synth, synth.stack.scanner.log_group)
    log_group = synth.resources("AWS::Logs::LogGroup")[log_group_id]

    # Then it has a retention and is the function's log group
    assert log_group["Properties"]["RetentionInDays"] == LOG_RETENTION_DAYS
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": log_group_id}}


def test_failed_invocations_go_to_an_encrypted_tls_only_dead_letter_queue(
    synth: Synth, function: dict[str, Any]
) -> None:
    # When the queue, its policy and the invoke config are read
    queue_id = logical_id(synth, synth.stack.scanner.dead_letter_queue)
    queue = synth.resources("AWS::SQS::Queue")[queue_id]
    (queue_policy,) = [
        p
        for p in synth.resources("AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue_id}]
    ]
    function_ref = ref(synth, synth.stack.scanner.function)
    (invoke_config,) = [
        c
        for c in synth.resources("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == function_ref
    ]

    # Then the function retries twice, then dead-letters to the queue
    assert function["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == SCANNER_RETRY_ATTEMPTS
    # And the queue is encrypted at rest and refuses plain-HTTP requests
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    denies = [s for s in queue_policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_schedule_rule_targets_the_scanner(synth: Synth) -> None:
    # When the rule is read
    props = synth.resources("AWS::Events::Rule")[logical_id(synth, synth.stack.scanner.rule)]["Properties"]
    function_id = logical_id(synth, synth.stack.scanner.function)

    # Then it runs daily and its only target is the scanner, with retries and the dead-letter queue
    assert props["ScheduleExpression"] == "rate(1 day)"
    assert props["State"] == "ENABLED"
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == SCANNER_RETRY_ATTEMPTS
    assert target["DeadLetterConfig"] == {"Arn": arn(synth, synth.stack.scanner.dead_letter_queue)}
    # And EventBridge may invoke it
    synth.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com",
            "FunctionName": Match.any_value(),
        },
    )


# -- least privilege


def test_scanner_role_may_do_exactly_the_declared_actions(synth: Synth, scanner_role_id: str) -> None:
    # When every statement of every policy attached to the scanner role is flattened
    actions = actions_of(role_statements(synth, scanner_role_id))

    # Then the role may do exactly the code's declared actions plus the Lambda runtime basics
    assert actions == scanner_role_actions()
    assert actions - SCANNER_RUNTIME_ACTIONS == scanner_actions()


def test_scanner_role_has_no_managed_policy_and_no_wildcard_action(
    synth: Synth, scanner_role_id: str
) -> None:
    # When the role and its statements are read
    role = synth.resources("AWS::IAM::Role")[scanner_role_id]["Properties"]
    statements = role_statements(synth, scanner_role_id)

    # Then nothing comes from a managed policy, every statement allows but the one denying changes to
    # exempt users, and no action has a wildcard
    assert "ManagedPolicyArns" not in role
    assert [s["Sid"] for s in statements if s["Effect"] != "Allow"] == ["DenyChangesToExemptUsers"]
    assert not [a for a in actions_of(statements) if "*" in a]


@pytest.mark.parametrize(
    "group",
    # the require-MFA grant (a condition) and the report bucket have tests of their own
    [g for g in scanner_groups() if g.scope not in ("users-require-mfa", "report-bucket")],
    ids=lambda g: f"{g.service}-{g.scope}",
)
def test_each_action_group_is_granted_only_on_its_scope(
    synth: Synth, scanner_role_id: str, group: Any
) -> None:
    # Given the resources each scope stands for
    expected: dict[str, Any] = {
        "*": "*",
        "users": {
            "Fn::Join": [
                "",
                ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":user/*"],
            ]
        },
        "state-table": arn(synth, synth.stack.state_table.table),
        "secrets": {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":secretsmanager:us-east-1:",
                    {"Ref": "AWS::AccountId"},
                    ":secret:credlife/access-keys/*",
                ],
            ]
        },
        "project-key": arn(synth, synth.stack.project_key.key),
        "sender-identity": [
            {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":ses:us-east-1:",
                        {"Ref": "AWS::AccountId"},
                        ":identity/",
                        {"Ref": "SenderEmail"},
                    ],
                ]
            },
            {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":ses:us-east-1:",
                        {"Ref": "AWS::AccountId"},
                        ":identity/",
                        {"Fn::Select": [1, {"Fn::Split": ["@", {"Ref": "SenderEmail"}]}]},
                    ],
                ]
            },
        ],
        "security-topic": ref(synth, synth.stack.notifications.topic),
    }

    # When the statements granting any of the group's actions are collected
    statements = [
        s for s in role_statements(synth, scanner_role_id) if actions_of([s]) & set(group.qualified())
    ]

    # Then one statement grants exactly the group's actions, on exactly its scope's resource
    assert len(statements) == 1
    assert actions_of(statements) == set(group.qualified())
    assert statements[0]["Resource"] == expected[group.scope]


def test_role_writes_only_its_own_log_group(synth: Synth, scanner_role_id: str) -> None:
    # When the logs statement is read
    (statement,) = [
        s for s in role_statements(synth, scanner_role_id) if actions_of([s]) & {"logs:PutLogEvents"}
    ]
    log_group_id = logical_id(synth, synth.stack.scanner.log_group)

    # Then it is scoped to the function's log group and cannot create groups
    assert statement["Resource"] == {"Fn::GetAtt": [log_group_id, "Arn"]}
    assert "logs:CreateLogGroup" not in actions_of([statement])


def test_no_permissions_boundary_unless_configured(synth: Synth) -> None:
    # Then no role carries a boundary by default
    assert all(
        "PermissionsBoundary" not in r["Properties"] for r in synth.resources("AWS::IAM::Role").values()
    )


# -- notifications


def test_security_topic_is_encrypted_with_the_project_key_and_tls_only(synth: Synth) -> None:
    # When the topic and its policy are read
    _, topic = synth.only("AWS::SNS::Topic")
    _, topic_policy = synth.only("AWS::SNS::TopicPolicy")

    # Then it is KMS-encrypted with the project key and denies plain HTTP
    assert topic["Properties"]["KmsMasterKeyId"] == arn(synth, synth.stack.project_key.key)
    statements = topic_policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


def test_cloudwatch_may_publish_alarms_into_the_encrypted_topic(synth: Synth) -> None:
    # When the key policy is read
    _, key = synth.only("AWS::KMS::Key")
    statements = key["Properties"]["KeyPolicy"]["Statement"]

    # Then CloudWatch may use the key (alarm notifications would be dropped otherwise)
    (cloudwatch,) = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_handover_secret_readers_may_decrypt_only_through_secrets_manager(synth: Synth) -> None:
    # When the key policy is read
    _, key = synth.only("AWS::KMS::Key")
    (statement,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "AllowSecretHandoverReadersViaSecretsManager"
    ]

    # Then any principal may only decrypt, only via Secrets Manager, only for the project's secrets
    assert statement["Action"] == "kms:Decrypt"
    conditions = json.dumps(statement["Condition"])
    assert "kms:ViaService" in conditions
    assert "kms:CallerAccount" in conditions
    assert ":secret:credlife/access-keys/*" in conditions


def test_scanner_errors_alarm_to_the_security_topic(synth: Synth) -> None:
    # Then an alarm on the scanner's errors fires at the first one and notifies the security topic
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": ref(synth, synth.stack.scanner.function)}],
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [ref(synth, synth.stack.notifications.topic)],
        },
    )


def test_dead_letter_depth_alarms_to_the_security_topic(synth: Synth) -> None:
    # Given the dead-letter queue's logical id
    queue_id = logical_id(synth, synth.stack.scanner.dead_letter_queue)

    # Then an alarm on its first visible message notifies the security topic
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [ref(synth, synth.stack.notifications.topic)],
        },
    )


def test_the_stack_is_pinned_to_the_home_region_by_default(synth: Synth) -> None:
    # Then `cdk deploy` puts it in us-east-1 (where IAM events arrive), whatever the profile's region
    assert synth.stack.region == "us-east-1"
    assert not cdk.Token.is_unresolved(synth.stack.region)
