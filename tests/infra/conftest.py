"""Synthesis helpers for the infra tests: one synth per test module, cdk-nag always on."""

from __future__ import annotations

import os

# jsii prints a Node end-of-life banner on Node 20 when it starts: silence it before aws_cdk loads.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# A deprecated CDK API is only a stderr line at synthesis (not an annotation): make it fail the tests.
os.environ.setdefault("JSII_DEPRECATED", "fail")

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from infra.build import build_stack
from infra.constants import CONTEXT_KEY
from infra.stack import CredentialLifecycleStack


@dataclass(frozen=True)
class Synth:
    stack: CredentialLifecycleStack
    template: Template

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {name: dict(resource) for name, resource in self.template.find_resources(cfn_type).items()}

    def only(self, cfn_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(cfn_type)
        assert len(found) == 1, f"expected one {cfn_type}, found {sorted(found)}"
        return next(iter(found.items()))


def logical_id(synth: Synth, construct: IConstruct) -> str:
    """The template id of a construct's CloudFormation resource (its `default_child` for an L2)."""
    element = construct.node.default_child or construct
    assert isinstance(element, cdk.CfnElement), f"{construct.node.path} has no CloudFormation resource"
    return str(synth.stack.resolve(element.logical_id))


def ref(synth: Synth, construct: IConstruct) -> dict[str, str]:
    return {"Ref": logical_id(synth, construct)}


def arn(synth: Synth, construct: IConstruct) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id(synth, construct), "Arn"]}


def nag_violations(stack: cdk.Stack) -> list[str]:
    """Unacknowledged AwsSolutions findings as `rule at construct path` lines (empty when clean)."""
    report = AwsSolutionsChecks().validate_scope(stack)
    return [
        f"{violation.rule_name} at {resource.construct_path}"
        for violation in report.violations
        for resource in violation.violating_resources
    ]


def synthesize(outdir: Path, context: dict[str, Any] | None = None) -> Synth:
    """Build the stack as app.py does (nag included) and synthesize its template once."""
    app = cdk.App(context={CONTEXT_KEY: context or {}}, outdir=str(outdir))
    stack = build_stack(app)
    if violations := nag_violations(stack):
        pytest.fail("cdk-nag findings not acknowledged in infra/nag.py:\n" + "\n".join(violations))
    return Synth(stack, Template.from_stack(stack))


def role_statements(synth: Synth, role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of every policy the role has: inline ones and each `AWS::IAM::Policy` attached."""
    statements: list[dict[str, Any]] = []
    role_props = synth.resources("AWS::IAM::Role")[role_logical_id]["Properties"]
    for policy in role_props.get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in policy["Properties"].get("Roles", []):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    """The actions the statements allow (explicit Deny statements left out)."""
    actions: set[str] = set()
    for statement in statements:
        if statement.get("Effect") == "Deny":
            continue
        action = statement.get("Action", [])
        actions.update([action] if isinstance(action, str) else action)
    return actions
