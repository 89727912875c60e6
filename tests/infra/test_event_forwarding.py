"""The regional forwarder on its own: what it forwards depends on where it runs and where home is."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.constants import IAM_PATTERN, ROOT_PATTERN, SIGNIN_PATTERN
from infra.constructs import SigninForwarder

pytestmark = pytest.mark.infra


def patterns(region: str, home: str) -> list[str]:
    app = cdk.App()
    stack = cdk.Stack(app, "Forwarder", env=cdk.Environment(account="123456789012", region=region))
    SigninForwarder(stack, "SigninForwarder", home_region=home, region=region)
    rules = Template.from_stack(stack).find_resources("AWS::Events::Rule").values()
    return sorted(json.dumps(r["Properties"]["EventPattern"], sort_keys=True) for r in rules)


def dumps(*found: dict[str, Any]) -> list[str]:
    return sorted(json.dumps(p, sort_keys=True) for p in found)


def test_a_regional_forwarder_sends_signins_and_root_activity() -> None:
    assert patterns("eu-central-1", "us-east-1") == dumps(SIGNIN_PATTERN, ROOT_PATTERN)


def test_us_east_1_also_forwards_iam_calls_when_home_is_elsewhere() -> None:
    # IAM API calls reach EventBridge only in us-east-1: a home region elsewhere must not lose them
    assert patterns("us-east-1", "eu-west-1") == dumps(SIGNIN_PATTERN, ROOT_PATTERN, IAM_PATTERN)
