"""Organization mode in the CDK app: the account worker (queue, dead-letter queue, event source with
partial batch failures), the scheduler's fan-out permissions, and the member-account stack (its role and
its require-MFA policy) — each role granting exactly its declared actions, cdk-nag clean with every
acknowledgement matching a finding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.build import build_member_stack, build_stack
from infra.constants import (
    ACCOUNT_QUEUE_MAX_RECEIVES,
    ACCOUNT_QUEUE_VISIBILITY_SECONDS,
    CONTEXT_KEY,
    REQUIRE_MFA_POLICY_DOCUMENT,
    REQUIRE_MFA_POLICY_NAME,
    WORKER_HANDLER,
    WORKER_MAX_CONCURRENCY,
    WORKER_ROLE_NAME,
    member_actions,
    scanner_role_actions,
    worker_role_actions,
)
from infra.nag import acknowledgements
from infra.stack import CredentialLifecycleStack, MemberRoleStack
from tests.infra.conftest import Synth, actions_of, arn, logical_id, nag_violations, ref, role_statements

pytestmark = pytest.mark.infra

CONTEXT = {"organization": {"enabled": True, "exclude_accounts": ["111111111111"]}}


def _app(outdir: Path, context: dict[str, Any]) -> cdk.App:
    return cdk.App(context={CONTEXT_KEY: context}, outdir=str(outdir))


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Synth, MemberRoleStack, Template]:
    # Given organization mode enabled, When the app's two stacks are synthesized with cdk-nag
    app = _app(tmp_path_factory.mktemp("cdk-org"), CONTEXT)
    main = build_stack(app)
    member = build_member_stack(app)
    return Synth(main, Template.from_stack(main)), member, Template.from_stack(member)


@pytest.fixture(scope="module")
def synth(stacks: tuple[Synth, MemberRoleStack, Template]) -> Synth:
    return stacks[0]


def worker_of(synth: Synth) -> Any:
    assert synth.stack.worker is not None
    return synth.stack.worker


def test_both_stacks_are_nag_clean_and_every_acknowledgement_matches_a_finding(
    stacks: tuple[Synth, MemberRoleStack, Template], tmp_path_factory: pytest.TempPathFactory
) -> None:
    synth, member, _ = stacks
    # Then no unacknowledged finding in either stack
    assert nag_violations(synth.stack) == []
    assert nag_violations(member) == []
    # And without acknowledgements, the findings are exactly the acknowledged ones
    bare_app = _app(tmp_path_factory.mktemp("cdk-org-bare"), CONTEXT)
    bare: list[cdk.Stack] = [build_stack(bare_app, nag=False), build_member_stack(bare_app, nag=False)]
    for stack in bare:
        findings = {line.split(" at ")[0] for line in nag_violations(stack)}
        # EVB1 cannot evaluate the bus policy (its organization id is a parameter): cdk-nag reports a
        # rule error, not a violation, and the table acknowledges it all the same
        acknowledged = {a.finding for a in acknowledgements(stack, "credlife/access-keys")}
        assert findings == acknowledged - {"AwsSolutions-EVB1"}


def test_single_account_app_has_no_worker(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Given the default context, When synthesized
    stack: CredentialLifecycleStack = build_stack(_app(tmp_path_factory.mktemp("cdk-single"), {}))
    # Then there is no worker and the scanner has no organization permission
    assert stack.worker is None
    assert not stack.node.try_find_child("AccountWorker")


def test_worker_consumes_the_account_queue_reporting_partial_batch_failures(synth: Synth) -> None:
    worker = worker_of(synth)
    # When the event source mapping is read
    _, mapping = synth.only("AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]

    # Then one account per invocation, failures reported per record, concurrency bounded
    assert props["EventSourceArn"] == arn(synth, worker.queue)
    assert props["FunctionName"] == ref(synth, worker.function)
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == 1
    assert props["ScalingConfig"] == {"MaximumConcurrency": WORKER_MAX_CONCURRENCY}
    function = synth.resources("AWS::Lambda::Function")[logical_id(synth, worker.function)]["Properties"]
    assert function["Handler"] == WORKER_HANDLER


def test_account_queue_is_encrypted_and_dead_letters_after_its_retries(synth: Synth) -> None:
    worker = worker_of(synth)
    queue = synth.resources("AWS::SQS::Queue")[logical_id(synth, worker.queue)]["Properties"]
    # Then SQS-managed encryption, a visibility timeout of 6 x the worker timeout, and a redrive policy
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] == ACCOUNT_QUEUE_VISIBILITY_SECONDS
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": arn(synth, worker.dead_letter_queue),
        "maxReceiveCount": ACCOUNT_QUEUE_MAX_RECEIVES,
    }
    # And a message in the dead-letter queue alarms the security topic
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [
                {
                    "Name": "QueueName",
                    "Value": {"Fn::GetAtt": [logical_id(synth, worker.dead_letter_queue), "QueueName"]},
                }
            ],
            "AlarmActions": [ref(synth, synth.stack.notifications.topic)],
        },
    )


def test_worker_role_may_do_exactly_its_declared_actions(synth: Synth) -> None:
    worker = worker_of(synth)
    role_id = logical_id(synth, worker.role)
    statements = role_statements(synth, role_id)
    # Then exactly the worker's actions, the role has the fixed name members trust
    assert actions_of(statements) == worker_role_actions()
    assert synth.resources("AWS::IAM::Role")[role_id]["Properties"]["RoleName"] == WORKER_ROLE_NAME
    # And it may assume only the member role, in any account
    (assume,) = [s for s in statements if actions_of([s]) == {"sts:AssumeRole"}]
    assert assume["Resource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::*:role/credlife-member"]]
    }


def test_scheduler_gets_the_fan_out_permissions_and_settings(synth: Synth) -> None:
    worker = worker_of(synth)
    role_id = logical_id(synth, synth.stack.scanner.role)
    statements = role_statements(synth, role_id)
    # Then its role adds exactly the Organizations listings and sending to the account queue
    assert actions_of(statements) == scanner_role_actions(organization=True)
    (send,) = [s for s in statements if s.get("Sid") == "SqsOnAccountQueue"]
    assert send["Resource"] == arn(synth, worker.queue)
    # And its environment switches organization mode on, with the queue's URL and the filters
    function = synth.resources("AWS::Lambda::Function")[logical_id(synth, synth.stack.scanner.function)]
    env = function["Properties"]["Environment"]["Variables"]
    assert env["CREDLIFE_ORGANIZATION_ENABLED"] == "true"
    assert env["CREDLIFE_ORGANIZATION_QUEUE_URL"] == ref(synth, worker.queue)
    assert '"exclude_accounts":["111111111111"]' in env["CREDLIFE_CONFIG"]


def test_member_role_trusts_only_the_worker_role_and_grants_exactly_the_lifecycle(
    stacks: tuple[Synth, MemberRoleStack, Template],
) -> None:
    _, member, template = stacks
    # (the other role is EventBridge's, forwarding this account's events to the home bus)
    roles = {
        k: r for k, r in template.find_resources("AWS::IAM::Role").items() if "RoleName" in r["Properties"]
    }
    ((role_id, role),) = roles.items()
    props = role["Properties"]
    # Then it is named for the worker to find, and trusts the worker role of the home account (a parameter)
    assert props["RoleName"] == "credlife-member"
    (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"] == {
        "AWS": {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":iam::",
                    {"Ref": "HomeAccountId"},
                    f":role/{WORKER_ROLE_NAME}",
                ],
            ]
        }
    }
    # And its policy grants exactly the lifecycle's account-side actions
    statements = [
        s
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert actions_of(statements) == member_actions()
    assert member.member.role.role_name is not None


def _member_statements(template: Template) -> list[dict[str, Any]]:
    return [
        s
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _one_element_lists_as_strings(value: Any) -> Any:
    """CDK writes a one-element action list as a string: the same IAM document."""
    if isinstance(value, dict):
        return {k: _one_element_lists_as_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) == 1 and isinstance(value[0], str):
            return value[0]
        return [_one_element_lists_as_strings(item) for item in value]
    return value


#: `arn:<partition>:iam::<this account>:policy/credlife-require-mfa`, as the template spells it.
MEMBER_POLICY_ARN = {
    "Fn::Join": [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":iam::",
            {"Ref": "AWS::AccountId"},
            f":policy/{REQUIRE_MFA_POLICY_NAME}",
        ],
    ]
}


def test_member_stack_creates_the_require_mfa_policy_with_the_main_stacks_name_and_document(
    stacks: tuple[Synth, MemberRoleStack, Template],
) -> None:
    synth, _, template = stacks
    # When the member stack's managed policies are read
    (policy,) = template.find_resources("AWS::IAM::ManagedPolicy").values()
    props = policy["Properties"]
    # Then it is the require-MFA policy, named and written exactly as the main stack's
    assert props["ManagedPolicyName"] == REQUIRE_MFA_POLICY_NAME
    assert props["PolicyDocument"] == _one_element_lists_as_strings(REQUIRE_MFA_POLICY_DOCUMENT)
    main_id = logical_id(synth, synth.stack.require_mfa.policy)
    main = synth.resources("AWS::IAM::ManagedPolicy")[main_id]["Properties"]
    assert {k: props[k] for k in ("ManagedPolicyName", "PolicyDocument", "Description")} == {
        k: main[k] for k in ("ManagedPolicyName", "PolicyDocument", "Description")
    }
    # And it is attached to nobody by the stack (the worker attaches it at run time)
    assert not {"Users", "Groups", "Roles"} & set(props)
    # And it is created unless the CreateRequireMfaPolicy parameter says "false" (the home account)
    assert policy["Condition"] == "CreatesRequireMfaPolicy"
    assert template.to_json()["Conditions"]["CreatesRequireMfaPolicy"] == {
        "Fn::Equals": [{"Ref": "CreateRequireMfaPolicy"}, "true"]
    }
    parameter = template.to_json()["Parameters"]["CreateRequireMfaPolicy"]
    assert parameter["Default"] == "true"
    assert parameter["AllowedValues"] == ["true", "false"]


def test_member_role_may_attach_and_detach_only_the_accounts_require_mfa_policy(
    stacks: tuple[Synth, MemberRoleStack, Template],
) -> None:
    _, _, template = stacks
    statements = _member_statements(template)
    # When the statement granting AttachUserPolicy is read
    (statement,) = [s for s in statements if actions_of([s]) & {"iam:AttachUserPolicy"}]
    # Then it grants attach and detach only, on users, only for this account's require-MFA policy
    assert actions_of([statement]) == {"iam:AttachUserPolicy", "iam:DetachUserPolicy"}
    assert statement["Condition"] == {"ArnEquals": {"iam:PolicyARN": MEMBER_POLICY_ARN}}
    assert statement["Resource"] == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":user/*"],
        ]
    }
    # And no other statement grants either action
    others = [s for s in statements if s is not statement]
    assert not actions_of(others) & {"iam:AttachUserPolicy", "iam:DetachUserPolicy"}


def test_worker_sends_notices_from_the_home_account_as_itself(synth: Synth) -> None:
    worker = worker_of(synth)
    # When the worker's environment and role are read
    function = synth.resources("AWS::Lambda::Function")[logical_id(synth, worker.function)]
    env = function["Properties"]["Environment"]["Variables"]
    statements = role_statements(synth, logical_id(synth, worker.role))

    # Then notices go to the security topic and from the SES sender, and it names its own role
    assert env["CREDLIFE_SECURITY_TOPIC_ARN"] == ref(synth, synth.stack.notifications.topic)
    assert env["CREDLIFE_SENDER_EMAIL"] == {"Ref": "SenderEmail"}
    assert env["CREDLIFE_AUTOMATION_PRINCIPAL_ARN"] == arn(synth, worker.role)
    (sns,) = [s for s in statements if "sns:Publish" in actions_of([s])]
    assert sns["Resource"] == ref(synth, synth.stack.notifications.topic)


def test_member_accounts_forward_signins_iam_calls_and_root_activity_to_the_home_bus(
    stacks: tuple[Synth, MemberRoleStack, Template],
) -> None:
    from infra.constants import IAM_PATTERN, ROOT_PATTERN, SIGNIN_PATTERN

    synth, _, template = stacks
    rules = template.find_resources("AWS::Events::Rule")
    patterns = sorted(json.dumps(r["Properties"]["EventPattern"], sort_keys=True) for r in rules.values())
    assert patterns == sorted(
        json.dumps(p, sort_keys=True) for p in (SIGNIN_PATTERN, IAM_PATTERN, ROOT_PATTERN)
    )
    for rule in rules.values():
        (target,) = rule["Properties"]["Targets"]
        # the home account's default bus in the home region (us-east-1), never this account's own
        assert {"Ref": "HomeAccountId"} in target["Arn"]["Fn::Join"][1]
        assert ":events:us-east-1:" in target["Arn"]["Fn::Join"][1]
        assert rule["Condition"] == "ForwardsToHome"
    # And the home bus accepts events from principals of the organization only
    (policy,) = synth.resources("AWS::Events::EventBusPolicy").values()
    statement = policy["Properties"]["Statement"]
    assert (statement["Action"], statement["Principal"]) == ("events:PutEvents", "*")
    assert list(statement["Condition"]["StringEquals"]) == ["aws:PrincipalOrgID"]


def test_event_monitor_trusts_the_worker_and_the_member_role_in_every_account(synth: Synth) -> None:
    env = synth.resources("AWS::Lambda::Function")[logical_id(synth, synth.stack.event_monitor.function)]
    own = env["Properties"]["Environment"]["Variables"]["CREDLIFE_OWN_PRINCIPAL_ARNS"]
    listed = json.dumps(own)
    assert json.dumps(arn(synth, worker_of(synth).role)) in listed
    assert ":iam::*:role/credlife-member" in listed
