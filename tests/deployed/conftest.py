"""The deployed-system tier: what `cdk deploy` creates is what is tested.

The app is synthesized exactly as `app.py` does it (cdk-nag included), once per configuration and test
session: the defaults, and a full-featured context (organization mode, sender e-mail, Security Hub, live
mode). Each template is then deployed with CloudFormation `create_stack` into an in-process moto account,
and every function the stack created is invoked in-process with *only* what Lambda would give it: the
environment CloudFormation resolved for it, its handler, its region, and credentials of its own role
(assumed through STS), with moto's IAM enforcement on.

What moto cannot do, and how this tier deals with it (docs/deployment.md lists the same):

- Resource types moto's CloudFormation does not model are skipped by it (a warning, no resource):
  `UNMODELLED_TYPES` lists them; tests/deployed/test_stacks.py asserts each on the template instead.
- moto evaluates no policy `Condition` (a statement with one is treated as denying), checks most requests
  against the resource "*", and an explicit Deny would then deny everything: before a function runs, its
  role's policies are rewritten in moto to their Allow statements with `Resource: "*"` and no condition
  (`widen_role`). The *actions*, the thing under test, are unchanged; resources, conditions and the Deny
  statements are asserted on the template (tests/infra). SQS batch calls and DynamoDB transactions are
  authorized by their single actions' permissions in IAM; moto checks them under their own names
  (`MOTO_BATCH_ALIASES`).
- moto enforces IAM for the query/JSON services dispatched through its common response class (IAM,
  STS, DynamoDB, SNS, SES v2, SQS, Secrets Manager, Organizations, Security Hub) and for S3 through its
  own check; it never asks for KMS (no service encrypts with a key under moto) and always allows
  `sts:GetCallerIdentity`. `NOT_ENFORCED` names those.
- moto's KMS resource wants `TagKey`/`TagValue` tags where CloudFormation uses `Key`/`Value`, and it
  resolves a rule's `EventBusName: {"Ref": bus}` to its own object (`moto_compatible` rewrites both).
- Public SSM parameters under `/aws/service/` cannot be written through the API: the Powertools layer
  parameter is put into moto's store directly. The Lambda code asset is a placeholder zip: the code that
  runs is this repository's `functions/`, the asset's source.
"""

from __future__ import annotations

import copy
import importlib
import io
import json
import os
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from moto import mock_aws
from moto.core import enable_iam_authentication
from moto.ssm.models import Parameter, ssm_backends

from infra.build import build_forwarder_stacks, build_member_stack, build_stack
from infra.constants import (
    CONTEXT_KEY,
    POWERTOOLS_LAYER_PARAMETER,
    STACK_NAME,
    STACK_NAME_MEMBER,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
BOOTSTRAP_QUALIFIER = "hnb659fds"
SENDER = "credlife@example.com"
#: The full-featured configuration: organization mode, a sender, Security Hub, live.
FULL: dict[str, Any] = {
    "dry_run": False,
    "organization": {"enabled": True, "home_account": ACCOUNT, "organization_id": "o-abcdef1234"},
    "sender_email": SENDER,
    "security_hub": True,
    "notifications": {"security_email": "security@example.com"},
    "rotate_now_requesters": [f"arn:aws:iam::{ACCOUNT}:role/credlife-operator*"],
}
CONFIGS: dict[str, dict[str, Any]] = {"default": {}, "full": FULL}
#: Resource types in the templates that moto's CloudFormation does not create (asserted on the template).
UNMODELLED_TYPES = frozenset(
    {
        "AWS::CloudWatch::Alarm",
        "AWS::Events::EventBusPolicy",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Lambda::EventSourceMapping",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::QueuePolicy",
    }
)
#: Actions moto never checks (see the module docstring).
NOT_ENFORCED = frozenset({"sts:GetCallerIdentity", "kms:Decrypt", "kms:GenerateDataKey"})


# -- synthesis: once per configuration and session -----------------------------------------------------


@dataclass(frozen=True)
class App:
    name: str
    context: dict[str, Any]
    outdir: Path

    def template(self, stack_name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(
            (self.outdir / f"{stack_name}.template.json").read_text(encoding="utf-8")
        )
        return loaded

    def stack_names(self) -> list[str]:
        return sorted(p.name.removesuffix(".template.json") for p in self.outdir.glob("*.template.json"))


_APPS: dict[str, App] = {}


def synthesize(name: str, outdir: Path) -> App:
    """The app as `app.py` builds it (main stack, member-role stack, forwarders; nag on), written out."""
    context = CONFIGS[name]
    app = cdk.App(context={CONTEXT_KEY: context}, outdir=str(outdir))
    build_stack(app)
    build_member_stack(app)
    build_forwarder_stacks(app)
    app.synth()
    return App(name, context, outdir)


@pytest.fixture(scope="session")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`apps("default")` / `apps("full")`: each synthesized at most once per session."""

    def get(name: str) -> App:
        if name not in _APPS:
            _APPS[name] = synthesize(name, tmp_path_factory.mktemp(f"deployed-{name}"))
        return _APPS[name]

    return get


# -- the moto account and deployment -----------------------------------------------------------------------


def moto_compatible(template: dict[str, Any]) -> dict[str, Any]:
    """The template with the rewrites moto's CloudFormation needs: KMS key tags as TagKey/TagValue, and a
    rule's `EventBusName: {"Ref": <bus>}` as the bus's name (moto resolves that Ref to its own object)."""
    adapted = copy.deepcopy(template)
    buses = {
        logical_id: resource["Properties"]["Name"]
        for logical_id, resource in adapted["Resources"].items()
        if resource["Type"] == "AWS::Events::EventBus"
    }
    for resource in adapted["Resources"].values():
        bus = resource.get("Properties", {}).get("EventBusName")
        if resource["Type"] == "AWS::Events::Rule" and isinstance(bus, dict) and bus.get("Ref") in buses:
            resource["Properties"]["EventBusName"] = buses[bus["Ref"]]
        if resource["Type"] == "AWS::KMS::Key" and "Tags" in resource.get("Properties", {}):
            resource["Properties"]["Tags"] = [
                {"TagKey": t["Key"], "TagValue": t["Value"]} for t in resource["Properties"]["Tags"]
            ]
    return adapted


def publish_powertools_layer_parameter(account: str, region: str) -> str:
    """What AWS publishes in every account: the pinned Powertools layer's public SSM parameter."""
    arn = f"arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:1"
    ssm_backends[account][region]._parameters[POWERTOOLS_LAYER_PARAMETER].append(
        Parameter(  # type: ignore[abstract]
            account_id=account,
            name=POWERTOOLS_LAYER_PARAMETER,
            value=arn,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=datetime.now(UTC).timestamp(),  # type: ignore[arg-type]
            version=1,
            data_type="text",
        )
    )
    return arn


def bootstrap(session: boto3.Session, account: str, region: str) -> str:
    """What `cdk bootstrap` leaves that the main stack's template uses: the version parameter and the
    asset bucket. Returns the bucket."""
    session.client("ssm", region_name=region).put_parameter(
        Name=f"/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version", Value="30", Type="String"
    )
    bucket = f"cdk-{BOOTSTRAP_QUALIFIER}-assets-{account}-{region}"
    session.client("s3", region_name=region).create_bucket(Bucket=bucket)
    return bucket


def upload_assets(session: boto3.Session, bucket: str, template: dict[str, Any], region: str) -> None:
    """The function code asset, as `cdk deploy` uploads it (a placeholder zip: see the module docstring)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("credlife/__init__.py", "")
    s3 = session.client("s3", region_name=region)
    for resource in template["Resources"].values():
        code = resource.get("Properties", {}).get("Code", {})
        if resource["Type"] == "AWS::Lambda::Function" and "S3Key" in code:
            s3.put_object(Bucket=bucket, Key=code["S3Key"], Body=buffer.getvalue())


@dataclass
class Deployed:
    stack_name: str
    status: str
    reason: str | None
    resources: list[dict[str, Any]]
    outputs: dict[str, str]
    #: Every resource type of the template.
    template_types: set[str]

    def physical_ids(self, cfn_type: str) -> list[str]:
        return [r["PhysicalResourceId"] for r in self.resources if r["ResourceType"] == cfn_type]


def create_stack(
    session: boto3.Session,
    template: dict[str, Any],
    stack_name: str,
    *,
    region: str,
    parameters: dict[str, str] | None = None,
) -> Deployed:
    cfn = session.client("cloudformation", region_name=region)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto warns of each type it skips: `unmodelled` lists them
        cfn.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(moto_compatible(template)),
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
        )
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    resources = cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    return Deployed(
        stack_name,
        stack["StackStatus"],
        stack.get("StackStatusReason"),
        [dict(r) for r in resources],
        {o["OutputKey"]: str(o["OutputValue"]) for o in stack.get("Outputs", [])},
        {r["Type"] for r in template["Resources"].values()},
    )


def unmodelled(deployed: Deployed) -> set[str]:
    """Resource types of the template moto's CloudFormation created nothing for."""
    return deployed.template_types - {r["ResourceType"] for r in deployed.resources}


def session_in(account: str, region: str = REGION) -> boto3.Session:
    """A session acting in `account` of the moto world (STS into any account id works in moto)."""
    if account == ACCOUNT:
        return boto3.Session(region_name=region)
    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="deploy"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


# -- the deployed functions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    name: str
    handler: str
    environment: dict[str, str]
    role_arn: str
    region: str

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[1]


def deployed_functions(session: boto3.Session, region: str = REGION) -> dict[str, Function]:
    """Handler module name (e.g. `scheduled`) → the function CloudFormation created for it."""
    functions = {}
    for listed in session.client("lambda", region_name=region).list_functions()["Functions"]:
        module = listed["Handler"].rsplit(".", 2)[-2]
        functions[module] = Function(
            listed["FunctionName"],
            listed["Handler"],
            dict(listed.get("Environment", {}).get("Variables", {})),
            listed["Role"],
            region,
        )
    return functions


#: SQS authorizes a batch call with its single action's permission (there is no `sqs:SendMessageBatch`
#: IAM action), DynamoDB a transaction with the permissions of the writes inside it; moto checks both
#: under their own names.
MOTO_BATCH_ALIASES = {
    "dynamodb:PutItem": "dynamodb:TransactWriteItems",
    "sqs:SendMessage": "sqs:SendMessageBatch",
    "sqs:DeleteMessage": "sqs:DeleteMessageBatch",
    "sqs:ChangeMessageVisibility": "sqs:ChangeMessageVisibilityBatch",
}


def widened(document: dict[str, Any], without: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The Allow statements of a policy, each on `Resource: "*"` without a condition (see the docstring),
    plus moto's names of the SQS batch calls the granted single actions authorize."""
    statements = []
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else list(actions)
        actions += [MOTO_BATCH_ALIASES[a] for a in actions if a in MOTO_BATCH_ALIASES]
        actions = [a for a in actions if a not in without]
        if not actions:
            continue
        statements.append({"Effect": "Allow", "Action": actions, "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


def role_actions(session: boto3.Session, role_name: str) -> set[str]:
    """Every action the role's inline and attached policies allow (as the template gave them)."""
    actions: set[str] = set()
    for document in role_documents(session, role_name):
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def loaded(document: Any) -> dict[str, Any]:
    """A policy document as boto3 returns it (moto: a JSON string or already a mapping)."""
    result: dict[str, Any] = json.loads(document) if isinstance(document, str) else dict(document)
    return result


def role_documents(session: boto3.Session, role_name: str) -> list[dict[str, Any]]:
    iam = session.client("iam")
    documents = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        documents.append(loaded(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]))
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(
            PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"]
        )["PolicyVersion"]["Document"]
        documents.append(loaded(version))
    return documents


def widen_role(session: boto3.Session, role_name: str, without: frozenset[str] = frozenset()) -> None:
    """Rewrite the role's inline policies in moto to their widened form (actions unchanged, but those
    `without` names: a test's way to take one grant away)."""
    iam = session.client("iam")
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = loaded(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
        iam.put_role_policy(
            RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(widened(document, without))
        )
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []


@dataclass
class LambdaContext:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = "deployed-request"


@dataclass
class Invoker:
    """Invokes a deployed function in-process: its environment only, its role's credentials, IAM enforced."""

    monkeypatch: pytest.MonkeyPatch
    #: Handler → every AWS action its runtime called, over all invocations so far.
    calls: dict[str, dict[str, int]] = field(default_factory=dict)

    def __call__(self, function: Function, event: Any, *, without: frozenset[str] = frozenset()) -> Any:
        session = boto3.Session(region_name=function.region)
        widen_role(session, function.role_name, without)
        credentials = session.client("sts").assume_role(
            RoleArn=function.role_arn, RoleSessionName=function.name[:64]
        )["Credentials"]
        self.lambda_environment(function, credentials)
        module = importlib.import_module(function.handler.rsplit(".", 1)[0])
        reset(module)
        context = LambdaContext(
            function.name, f"arn:aws:lambda:{function.region}:{ACCOUNT}:function:{function.name}"
        )
        with enable_iam_authentication():
            result = getattr(module, function.handler.rsplit(".", 1)[1])(event, context)
        merged = self.calls.setdefault(function.handler, {})
        for action, count in called(module).items():
            merged[action] = merged.get(action, 0) + count
        return result

    def lambda_environment(self, function: Function, credentials: Any) -> None:
        """Nothing of the test's own: every CREDLIFE_/POWERTOOLS_ variable removed, then what Lambda sets."""
        for name in list(os.environ):
            if name.startswith(("CREDLIFE_", "POWERTOOLS_")):
                self.monkeypatch.delenv(name)
        for name, value in function.environment.items():
            self.monkeypatch.setenv(name, value)
        self.monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon in-process
        self.monkeypatch.setenv("AWS_REGION", function.region)
        self.monkeypatch.setenv("AWS_DEFAULT_REGION", function.region)
        self.monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", function.name)
        self.monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
        self.monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
        self.monkeypatch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])


def reset(module: Any) -> None:
    """Drop what a handler module built at a previous cold start."""
    if hasattr(module, "use_runtime"):
        module.use_runtime(None)
    if hasattr(module, "use_worker"):
        module.use_worker(None)


def called(module: Any) -> dict[str, int]:
    """The AWS actions the handler's runtime called (its API call counter)."""
    runtime = getattr(module, "_runtime", None)
    counter = getattr(runtime, "counter", None)
    return dict(counter.snapshot()) if counter is not None else {}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh moto world in the home region, no profile, no endpoint."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch) -> Invoker:
    return Invoker(monkeypatch)


def deploy_main(app: App, *, region: str = REGION, parameters: dict[str, str] | None = None) -> Deployed:
    """The operator's steps for the main stack in the home account: bootstrap, publish (AWS does), deploy."""
    session = boto3.Session(region_name=region)
    bucket = bootstrap(session, ACCOUNT, region)
    template = app.template(STACK_NAME)
    upload_assets(session, bucket, template, region)
    publish_powertools_layer_parameter(ACCOUNT, region)
    if "SenderEmail" in template.get("Parameters", {}):
        parameters = {"SenderEmail": SENDER, **(parameters or {})}
    return create_stack(session, template, STACK_NAME, region=region, parameters=parameters)


def deploy_member(app: App, account: str, *, create_policy: bool = True) -> Deployed:
    """The member-role stack into `account` (never bootstrapped), as a StackSet instance would."""
    template = app.template(STACK_NAME_MEMBER)
    parameters = {"CreateRequireMfaPolicy": "true" if create_policy else "false"}
    if "HomeAccountId" in template.get("Parameters", {}):
        parameters["HomeAccountId"] = ACCOUNT
    if "OrganizationId" in template.get("Parameters", {}):
        parameters["OrganizationId"] = "o-abcdef1234"
    return create_stack(
        session_in(account), template, STACK_NAME_MEMBER, region=REGION, parameters=parameters
    )
