"""Every synthesized template deploys: `create_stack` under moto reaches CREATE_COMPLETE with its key
resources; what moto does not model is asserted on the template; the member-role template deploys into a
never-bootstrapped account; a destroyed deployment can be deployed again onto its retained state table."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from botocore.exceptions import ClientError

from infra.build import build_stack
from infra.constants import (
    CONTEXT_KEY,
    ROTATE_NOW_BUS_NAME,
    STACK_NAME,
    STACK_NAME_FORWARDER,
    STACK_NAME_MEMBER,
)
from tests.deployed.conftest import (
    ACCOUNT,
    REGION,
    UNMODELLED_TYPES,
    App,
    create_stack,
    deploy_main,
    deploy_member,
    loaded,
    session_in,
    unmodelled,
)

pytestmark = pytest.mark.deployed

MEMBER = "210987654321"


def resources_of(template: dict[str, Any], cfn_type: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == cfn_type]


@pytest.mark.parametrize("name", ["default", "full"])
def test_main_stack_deploys_with_its_key_resources(apps: Any, world: None, name: str) -> None:
    # Given the synthesized main stack, the home account bootstrapped
    app: App = apps(name)

    # When it is deployed
    deployed = deploy_main(app)

    # Then CloudFormation completes, and what it created is there
    assert deployed.status == "CREATE_COMPLETE", deployed.reason
    assert deployed.physical_ids("AWS::DynamoDB::Table") == ["credlife-state"]
    functions = boto3.client("lambda").list_functions()["Functions"]
    handlers = sorted(f["Handler"] for f in functions)
    expected = ["events", "rotate_now", "scheduled"] + (["account_worker"] if name == "full" else [])
    assert handlers == sorted(f"credlife.handlers.{m}.handler" for m in expected)
    assert all(f["Runtime"] == "python3.12" for f in functions)
    topics = boto3.client("sns").list_topics()["Topics"]
    assert [t["TopicArn"] for t in topics] == [deployed.outputs["SecurityTopicArn"]]
    buses = {b["Name"] for b in boto3.client("events").list_event_buses()["EventBuses"]}
    assert ROTATE_NOW_BUS_NAME in buses
    rules = boto3.client("events").list_rules(EventBusName=ROTATE_NOW_BUS_NAME)["Rules"]
    assert len(rules) == 1
    # And only the resource types listed as unmodelled were skipped by moto
    assert unmodelled(deployed) <= UNMODELLED_TYPES


@pytest.mark.parametrize("name", ["default", "full"])
def test_every_unmodelled_resource_is_in_the_template_as_intended(apps: Any, name: str) -> None:
    # Given the main template (moto skips these types: checked here instead)
    template = apps(name).template(STACK_NAME)
    topic_policy = resources_of(template, "AWS::SNS::TopicPolicy")
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")

    # Then the topic policy lets this account's alarms publish (and nobody without TLS)
    (policy,) = topic_policy
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    allow = statements["AllowThisAccountsCloudWatchAlarms"]
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":cloudwatch:us-east-1:",
                {"Ref": "AWS::AccountId"},
                ":alarm:*",
            ],
        ]
    }
    assert statements["AllowPublishThroughSSLOnly"]["Effect"] == "Deny"
    # And every alarm notifies that topic
    topic = policy["Properties"]["Topics"]
    assert alarms
    assert all(a["Properties"]["AlarmActions"] == topic for a in alarms)
    # And each function's asynchronous invocations retry as configured, with the queues TLS-only
    assert resources_of(template, "AWS::Lambda::EventInvokeConfig")
    for queue_policy in resources_of(template, "AWS::SQS::QueuePolicy"):
        statements = queue_policy["Properties"]["PolicyDocument"]["Statement"]
        assert {"Bool": {"aws:SecureTransport": "false"}} in [s.get("Condition") for s in statements]
    assert resources_of(template, "AWS::S3::BucketPolicy")
    if name == "full":
        (mapping,) = resources_of(template, "AWS::Lambda::EventSourceMapping")
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_member_template_deploys_into_a_never_bootstrapped_account(apps: Any, world: None) -> None:
    # Given the member-role template (no CDK bootstrap in member accounts: StackSets do not give one)
    app: App = apps("full")
    template = app.template(STACK_NAME_MEMBER)
    assert "BootstrapVersion" not in template.get("Parameters", {})
    assert "Rules" not in template

    # When it is deployed into a fresh account: no bootstrap parameter, no asset bucket
    session = session_in(MEMBER)
    assert session.client("s3").list_buckets()["Buckets"] == []
    deployed = deploy_member(app, MEMBER)

    # Then it completes with the role and the require-MFA policy in that account
    assert deployed.status == "CREATE_COMPLETE", deployed.reason
    role = session.client("iam").get_role(RoleName="credlife-member")["Role"]
    (trust,) = loaded(role["AssumeRolePolicyDocument"])["Statement"]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:role/credlife-account-worker"}
    assert trust["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdef1234"}}
    assert deployed.physical_ids("AWS::IAM::ManagedPolicy") == [
        f"arn:aws:iam::{MEMBER}:policy/credlife-require-mfa"
    ]


def test_default_member_template_asks_for_the_organization_id(apps: Any) -> None:
    template = apps("default").template(STACK_NAME_MEMBER)
    assert template["Parameters"]["OrganizationId"]["AllowedPattern"] == "^o-[a-z0-9]{10,32}$"
    (role,) = [
        r
        for r in resources_of(template, "AWS::IAM::Role")
        if r["Properties"].get("RoleName") == "credlife-member"
    ]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}


def test_forwarder_templates_deploy_in_their_regions_without_a_bootstrap(apps: Any, world: None) -> None:
    app: App = apps("default")
    forwarders = [n for n in app.stack_names() if n.startswith(STACK_NAME_FORWARDER)]
    assert forwarders
    for name in forwarders:
        region = name.removeprefix(f"{STACK_NAME_FORWARDER}-")
        template = app.template(name)
        assert "BootstrapVersion" not in template.get("Parameters", {})
        deployed = create_stack(boto3.Session(region_name=region), template, name, region=region)
        assert deployed.status == "CREATE_COMPLETE", deployed.reason
        rules = boto3.client("events", region_name=region).list_rules()["Rules"]
        assert rules
        assert all(rule["State"] == "ENABLED" for rule in rules)


def test_destroy_then_redeploy_onto_the_retained_state_table(
    apps: Any, world: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Given a deployment whose state table holds history
    first = deploy_main(apps("default"))
    assert first.status == "CREATE_COMPLETE", first.reason
    dynamodb = boto3.client("dynamodb")
    dynamodb.put_item(TableName="credlife-state", Item={"pk": {"S": "history"}, "sk": {"S": "kept"}})
    key_arn = first.outputs["ProjectKeyArn"]
    cfn = boto3.client("cloudformation")

    # When it is destroyed: the table and the key are retained
    cfn.delete_stack(StackName=STACK_NAME)
    assert dynamodb.list_tables()["TableNames"] == ["credlife-state"]
    assert key_arn in [k["KeyArn"] for k in boto3.client("kms").list_keys()["Keys"]]
    # (moto's delete_stack leaves the stack's named managed policy behind; CloudFormation deletes it)
    boto3.client("iam").delete_policy(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/credlife-require-mfa")

    # Then deploying the same configuration again would create that table a second time, which fails
    # (moto leaves a failed creation half-done rather than rolling back: shown on the table alone) ...
    (table,) = resources_of(apps("default").template(STACK_NAME), "AWS::DynamoDB::Table")
    assert table["Properties"]["TableName"] == "credlife-state"
    with pytest.raises(ClientError, match="ResourceInUseException"):
        dynamodb.create_table(
            TableName="credlife-state",
            KeySchema=table["Properties"]["KeySchema"],
            AttributeDefinitions=table["Properties"]["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
        )
    # ... while with `retained_state` naming the retained key it deploys onto the kept table
    outdir = tmp_path_factory.mktemp("deployed-retained")
    app = cdk.App(context={CONTEXT_KEY: {"retained_state": {"key_arn": key_arn}}}, outdir=str(outdir))
    build_stack(app)
    app.synth()
    retained = App("retained", {}, outdir)
    template = retained.template(STACK_NAME)
    assert resources_of(template, "AWS::DynamoDB::Table") == []
    assert resources_of(template, "AWS::KMS::Key") == []
    again = create_stack(
        boto3.Session(region_name=REGION),
        template,
        STACK_NAME,
        region=REGION,
        parameters={"SenderEmail": "credlife@example.com"},
    )
    assert again.status == "CREATE_COMPLETE", again.reason
    item = dynamodb.get_item(TableName="credlife-state", Key={"pk": {"S": "history"}, "sk": {"S": "kept"}})
    assert "Item" in item
    scanner = next(
        f for f in boto3.client("lambda").list_functions()["Functions"] if "scheduled" in f["Handler"]
    )
    assert scanner["Environment"]["Variables"]["CREDLIFE_STATE_TABLE"] == "credlife-state"
    assert scanner["Environment"]["Variables"]["CREDLIFE_KMS_KEY_ID"] == key_arn
