"""The default stack beyond the scanner: the event monitor and its two rules, rotate-now, the require-MFA
policy and the scanner's conditioned grant on it, alarms to the security topic, the dashboard, and the
defaults every function shares (log retention, dead-letter queue, tracing)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from infra.constants import (
    EVENT_MONITOR_ACTIONS,
    EVENTS_HANDLER,
    EVENTS_MAX_EVENT_AGE_HOURS,
    EVENTS_RETRY_ATTEMPTS,
    IAM_PATTERN,
    LOG_RETENTION_DAYS,
    METRICS_NAMESPACE,
    NO_SCAN_ALARM_HOURS,
    REQUIRE_MFA_POLICY_DOCUMENT,
    REQUIRE_MFA_POLICY_NAME,
    ROTATE_NOW_HANDLER,
    ROTATE_NOW_PATTERN,
    SIGNIN_PATTERN,
    event_monitor_role_actions,
    rotate_now_role_actions,
)
from tests.infra.conftest import Synth, actions_of, arn, logical_id, ref, role_statements, synthesize

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    # Given the app's default configuration, When it is synthesized once for this module (nag included)
    return synthesize(tmp_path_factory.mktemp("cdk-events"))


def _props(synth: Synth, cfn_type: str, construct: Any) -> dict[str, Any]:
    properties: dict[str, Any] = synth.resources(cfn_type)[logical_id(synth, construct)]["Properties"]
    return properties


def _one_element_lists_as_strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _one_element_lists_as_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) == 1 and isinstance(value[0], str):
            return value[0]
        return [_one_element_lists_as_strings(item) for item in value]
    return value


# -- the event monitor


@pytest.mark.parametrize(("rule", "pattern"), [("signin_rule", SIGNIN_PATTERN), ("iam_rule", IAM_PATTERN)])
def test_event_rules_use_the_patterns_and_target_the_event_function_with_retries_and_dlq(
    synth: Synth, rule: str, pattern: dict[str, Any]
) -> None:
    monitor = synth.stack.event_monitor
    # When the rule is read
    props = _props(synth, "AWS::Events::Rule", getattr(monitor, rule))

    # Then its pattern is the constant's (tested against the samples in test_event_patterns.py)
    assert props["EventPattern"] == pattern
    # And its only target is the event function, with a retry policy and the dead-letter queue
    (target,) = props["Targets"]
    assert target["Arn"] == arn(synth, monitor.function)
    assert target["RetryPolicy"] == {
        "MaximumRetryAttempts": EVENTS_RETRY_ATTEMPTS,
        "MaximumEventAgeInSeconds": EVENTS_MAX_EVENT_AGE_HOURS * 3600,
    }
    assert target["DeadLetterConfig"] == {"Arn": arn(synth, monitor.dead_letter_queue)}


def test_event_function_runs_the_events_handler_with_its_environment(synth: Synth) -> None:
    monitor = synth.stack.event_monitor
    props = _props(synth, "AWS::Lambda::Function", monitor.function)

    assert props["Handler"] == EVENTS_HANDLER
    env = props["Environment"]["Variables"]
    assert env["CREDLIFE_STATE_TABLE"] == ref(synth, synth.stack.state_table.table)
    assert env["CREDLIFE_SECURITY_TOPIC_ARN"] == ref(synth, synth.stack.notifications.topic)
    # the scanner's own key rotations are never "key created for another user"
    assert env["CREDLIFE_AUTOMATION_PRINCIPAL_ARN"] == arn(synth, synth.stack.scanner.role)
    # EnableMFADevice lifts enforcement of this policy; "was this you?" mails come from the sender
    assert env["CREDLIFE_REQUIRE_MFA_POLICY_ARN"] == ref(synth, synth.stack.require_mfa.policy)
    assert env["CREDLIFE_SENDER_EMAIL"] == {"Ref": "SenderEmail"}
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE


def test_event_function_role_may_do_exactly_the_risk_factory_actions_on_its_resources(synth: Synth) -> None:
    monitor = synth.stack.event_monitor
    statements = role_statements(synth, logical_id(synth, monitor.role))

    assert actions_of(statements) == event_monitor_role_actions()
    scanner = role_statements(synth, logical_id(synth, synth.stack.scanner.role))

    def scanner_statement(action: str) -> dict[str, Any]:
        (found,) = [s for s in scanner if action in actions_of([s])]
        return found

    users = {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":user/*"]]
    }
    expected = {
        "state-table": arn(synth, synth.stack.state_table.table),
        "security-topic": ref(synth, synth.stack.notifications.topic),
        "project-key": arn(synth, synth.stack.project_key.key),
        "users": users,
        "users-require-mfa": users,
        "groups": {
            "Fn::Join": [
                "",
                ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":group/*"],
            ]
        },
        "sender-identity": scanner_statement("ses:SendEmail")["Resource"],
    }
    for group in EVENT_MONITOR_ACTIONS:
        (statement,) = [s for s in statements if actions_of([s]) & set(group.qualified())]
        assert actions_of([statement]) == set(group.qualified())
        assert statement["Resource"] == expected[group.scope]
    # lifting MFA enforcement may detach the require-MFA policy and nothing else, as for the scanner
    (detach,) = [s for s in statements if "iam:DetachUserPolicy" in actions_of([s])]
    assert detach["Condition"] == scanner_statement("iam:DetachUserPolicy")["Condition"]
    assert "iam:PolicyARN" in detach["Condition"]["ArnEquals"]


# -- rotate now


def test_rotate_now_rule_delivers_the_custom_event_to_its_function(synth: Synth) -> None:
    rotate = synth.stack.rotate_now
    props = _props(synth, "AWS::Events::Rule", rotate.rule)

    assert props["EventPattern"] == ROTATE_NOW_PATTERN
    (target,) = props["Targets"]
    assert target["Arn"] == arn(synth, rotate.function)
    assert target["DeadLetterConfig"] == {"Arn": arn(synth, rotate.dead_letter_queue)}
    assert _props(synth, "AWS::Lambda::Function", rotate.function)["Handler"] == ROTATE_NOW_HANDLER


def test_rotate_now_role_may_do_exactly_the_lifecycle_actions(synth: Synth) -> None:
    statements = role_statements(synth, logical_id(synth, synth.stack.rotate_now.role))
    assert actions_of(statements) == rotate_now_role_actions()
    assert "iam:AttachUserPolicy" not in actions_of(statements)


# -- require MFA


def test_require_mfa_policy_is_the_documented_customer_managed_policy(synth: Synth) -> None:
    props = _props(synth, "AWS::IAM::ManagedPolicy", synth.stack.require_mfa.policy)

    assert props["ManagedPolicyName"] == REQUIRE_MFA_POLICY_NAME
    # (CDK writes a one-element action list as a string: the same IAM document)
    assert props["PolicyDocument"] == _one_element_lists_as_strings(REQUIRE_MFA_POLICY_DOCUMENT)
    # attached by the scanner at run time, never by the stack
    assert not {"Users", "Groups", "Roles"} & set(props)


def test_scanner_may_attach_and_detach_only_the_require_mfa_policy(synth: Synth) -> None:
    statements = role_statements(synth, logical_id(synth, synth.stack.scanner.role))
    (statement,) = [s for s in statements if actions_of([s]) & {"iam:AttachUserPolicy"}]

    assert actions_of([statement]) == {"iam:AttachUserPolicy", "iam:DetachUserPolicy"}
    assert statement["Condition"] == {
        "ArnEquals": {"iam:PolicyARN": ref(synth, synth.stack.require_mfa.policy)}
    }
    env = _props(synth, "AWS::Lambda::Function", synth.stack.scanner.function)["Environment"]["Variables"]
    assert env["CREDLIFE_REQUIRE_MFA_POLICY_ARN"] == ref(synth, synth.stack.require_mfa.policy)


# -- what every function has


def test_every_function_has_retention_logs_a_dead_letter_queue_tracing_and_an_own_role(synth: Synth) -> None:
    functions = synth.resources("AWS::Lambda::Function")
    log_groups = synth.resources("AWS::Logs::LogGroup")
    roles = [f["Properties"]["Role"] for f in functions.values()]

    assert len(functions) == 3
    assert len(set(map(json.dumps, roles))) == len(roles)  # one role per function
    for name, function in functions.items():
        props = function["Properties"]
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert "DeadLetterConfig" in props, name
        (log_group_id,) = [k for k in log_groups if props["LoggingConfig"]["LogGroup"] == {"Ref": k}]
        assert log_groups[log_group_id]["Properties"]["RetentionInDays"] == LOG_RETENTION_DAYS


def test_every_queue_is_encrypted(synth: Synth) -> None:
    queues = synth.resources("AWS::SQS::Queue")
    assert len(queues) == 3
    assert all(q["Properties"]["SqsManagedSseEnabled"] is True for q in queues.values())


def test_no_role_grants_a_wildcard_action(synth: Synth) -> None:
    for role_id in synth.resources("AWS::IAM::Role"):
        assert not [a for a in actions_of(role_statements(synth, role_id)) if "*" in a], role_id


# -- alarms and dashboard


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_an_alarm_to_the_security_topic(synth: Synth, metric: str) -> None:
    for function in (synth.stack.scanner, synth.stack.event_monitor, synth.stack.rotate_now):
        synth.template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "Namespace": "AWS/Lambda",
                "MetricName": metric,
                "Dimensions": [{"Name": "FunctionName", "Value": ref(synth, function.function)}],
                "AlarmActions": [ref(synth, synth.stack.notifications.topic)],
            },
        )


def test_every_dead_letter_queue_has_a_depth_alarm(synth: Synth) -> None:
    for owner in (synth.stack.scanner, synth.stack.event_monitor, synth.stack.rotate_now):
        queue_id = logical_id(synth, owner.dead_letter_queue)
        synth.template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
                "AlarmActions": [ref(synth, synth.stack.notifications.topic)],
            },
        )


def test_no_scan_in_26_hours_alarms_with_missing_data_breaching(synth: Synth) -> None:
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": METRICS_NAMESPACE,
            "MetricName": "UsersScanned",
            "Dimensions": [{"Name": "service", "Value": "credlife"}],
            "Statistic": "SampleCount",
            "Period": 3600,
            "EvaluationPeriods": NO_SCAN_ALARM_HOURS,
            "DatapointsToAlarm": NO_SCAN_ALARM_HOURS,
            "Threshold": 1,
            "ComparisonOperator": "LessThanThreshold",
            "TreatMissingData": "breaching",
            "AlarmActions": [ref(synth, synth.stack.notifications.topic)],
        },
    )


def test_dashboard_shows_what_the_handlers_emit(synth: Synth) -> None:
    _, dashboard = synth.only("AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])

    # Then scan results, actions taken (Outcome_*), alerts by reason (Finding_*) and errors are on it
    for name in (
        "UsersScanned",
        "Failures",
        "Outcome_",
        "Finding_",
        "AlertsPublished",
        "MonitorErrors",
        "Errors",
    ):
        assert name in body, name


def test_no_trail_unless_configured(synth: Synth) -> None:
    assert synth.resources("AWS::CloudTrail::Trail") == {}
    assert synth.stack.trail is None


def test_sender_is_a_stack_parameter_when_not_configured(synth: Synth) -> None:
    parameter = synth.template.to_json()["Parameters"]["SenderEmail"]
    assert parameter["Type"] == "String"
    synth.template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"CREDLIFE_SENDER_EMAIL": {"Ref": "SenderEmail"}})}},
    )


def test_every_function_role_is_passed_to_the_event_monitor_as_its_own(synth: Synth) -> None:
    # an on-demand rotation (the rotate-now role) creating a key for a user is the project's own doing
    (function,) = [
        f
        for f in synth.resources("AWS::Lambda::Function").values()
        if "CREDLIFE_OWN_PRINCIPAL_ARNS" in f["Properties"].get("Environment", {}).get("Variables", {})
    ]
    own = function["Properties"]["Environment"]["Variables"]["CREDLIFE_OWN_PRINCIPAL_ARNS"]
    listed = own["Fn::Join"][1]
    for role in (synth.stack.scanner.role, synth.stack.rotate_now.role, synth.stack.event_monitor.role):
        assert arn(synth, role) in listed


def test_root_activity_rule_targets_the_event_function(synth: Synth) -> None:
    from infra.constants import ROOT_PATTERN

    (rule,) = [
        r
        for r in synth.resources("AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern") == ROOT_PATTERN
    ]
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == arn(synth, synth.stack.event_monitor.function)
    assert "DeadLetterConfig" in target
