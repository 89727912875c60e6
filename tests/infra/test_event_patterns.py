"""The rule patterns and the require-MFA document infra deploys are copies of the runtime's (infra never
imports runtime code): here the copies are compared with the originals, and the patterns are run against
every sample in `events/` with moto's implementation of EventBridge pattern matching (not by eye)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from credlife.domain import events as runtime_events
from credlife.domain import mfa_policy
from infra.constants import (
    IAM_PATTERN,
    PROJECT_ROOT,
    REQUIRE_MFA_POLICY_DESCRIPTION,
    REQUIRE_MFA_POLICY_DOCUMENT,
    REQUIRE_MFA_POLICY_NAME,
    ROOT_PATTERN,
    ROTATE_NOW_PATTERN,
    SIGNIN_PATTERN,
)

pytestmark = pytest.mark.infra

EVENTS = PROJECT_ROOT / "events"
PATTERNS = {
    "signin": EventPattern.load(json.dumps(SIGNIN_PATTERN)),
    "iam": EventPattern.load(json.dumps(IAM_PATTERN)),
    "rotate_now": EventPattern.load(json.dumps(ROTATE_NOW_PATTERN)),
    "root": EventPattern.load(json.dumps(ROOT_PATTERN)),
}


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _matching(event: Any) -> set[str]:
    return {name for name, pattern in PATTERNS.items() if pattern.matches_event(event)}


def _samples(prefix: str) -> list[Path]:
    return [p for p in sorted(EVENTS.rglob("*.json")) if p.relative_to(EVENTS).parts[0].startswith(prefix)]


def test_infra_patterns_equal_the_runtime_patterns() -> None:
    # Then the rules deliver exactly what the event handler is written for
    assert SIGNIN_PATTERN == runtime_events.SIGNIN_PATTERN
    assert IAM_PATTERN == runtime_events.IAM_PATTERN
    assert ROOT_PATTERN == runtime_events.ROOT_PATTERN


def test_rotate_now_pattern_equals_the_handler_constants() -> None:
    from credlife.handlers import rotate_now

    assert ROTATE_NOW_PATTERN == {"source": [rotate_now.SOURCE], "detail-type": [rotate_now.DETAIL_TYPE]}


def test_require_mfa_policy_equals_the_runtime_document() -> None:
    # Then the deployed managed policy is the one the domain documents and tests statement by statement
    assert mfa_policy.require_mfa_policy_document() == REQUIRE_MFA_POLICY_DOCUMENT
    assert REQUIRE_MFA_POLICY_NAME == mfa_policy.POLICY_NAME
    assert REQUIRE_MFA_POLICY_DESCRIPTION == mfa_policy.POLICY_DESCRIPTION


@pytest.mark.parametrize("path", _samples("signin-"), ids=lambda p: str(p.relative_to(EVENTS)))
def test_every_signin_sample_is_delivered_by_the_signin_rule_only(path: Path) -> None:
    # Given a console sign-in sample, Then only the sign-in rule delivers it
    assert _matching(_load(path)) == {"signin"}


@pytest.mark.parametrize("path", _samples("iam-"), ids=lambda p: str(p.relative_to(EVENTS)))
def test_every_iam_sample_is_delivered_by_the_iam_rule_only(path: Path) -> None:
    assert _matching(_load(path)) == {"iam"}


def test_rotate_now_sample_is_delivered_by_the_rotate_now_rule_only() -> None:
    assert _matching(_load(EVENTS / "rotate_now.json")) == {"rotate_now"}


def test_other_sources_are_delivered_by_no_rule() -> None:
    # Given the schedule's event and a CloudTrail API call of another service
    for name in ("scheduled.json", "ignored-other-service.json", "ignored-scheduled-event.json"):
        # Then none of the event rules picks it up
        assert _matching(_load(EVENTS / name)) == set(), name


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"detail-type": "AWS API Call via CloudTrail"}, "a sign-in source with another detail-type"),
        ({"source": "aws.iam"}, "a sign-in detail-type from the IAM source"),
        ({"detail": {"eventName": "CheckMfa"}}, "another sign-in event name"),
    ],
)
def test_near_miss_signin_events_are_not_delivered(change: dict[str, Any], why: str) -> None:
    # Given a valid sign-in sample changed in one field
    event = {**_load(EVENTS / "signin-iam-user-mfa.json"), **change}
    # Then no rule delivers it
    assert _matching(event) == set(), why


def test_irrelevant_iam_calls_are_not_delivered() -> None:
    # Given an IAM call the rules do not judge (read-only)
    event = _load(EVENTS / "iam-create-access-key-self.json")
    event["detail"] = {**event["detail"], "eventName": "ListAccessKeys"}
    # Then the IAM rule does not deliver it
    assert _matching(event) == set()


@pytest.mark.parametrize(
    ("source", "event_source", "name"),
    [
        ("aws.iam", "iam.amazonaws.com", "CreateAccessKey"),  # its own key: also the IAM rule
        ("aws.iam", "iam.amazonaws.com", "CreateUser"),
        ("aws.signin", "signin.amazonaws.com", "PasswordUpdated"),
        ("aws.s3", "s3.amazonaws.com", "DeleteBucket"),
    ],
)
def test_anything_root_does_is_delivered_by_the_root_rule(source: str, event_source: str, name: str) -> None:
    event = _load(EVENTS / "iam-create-access-key-self.json")
    detail = {**event["detail"], "eventSource": event_source, "eventName": name}
    detail["userIdentity"] = {"type": "Root", "arn": "arn:aws:iam::123456789012:root"}
    event = {**event, "source": source, "detail": detail}
    if source == "aws.signin":
        event["detail-type"] = "AWS Console Sign In via CloudTrail"
    assert "root" in _matching(event)


def test_root_console_sign_in_is_delivered_once_by_the_signin_rule() -> None:
    assert _matching(_load(EVENTS / "signin-root-success.json")) == {"signin"}


def test_malformed_samples_reach_the_monitor_only_when_their_envelope_is_a_sign_in() -> None:
    # When the malformed samples are matched
    delivered = {p.name for p in _samples("malformed-") if _matching(_load(p))}
    # Then a sign-in with a broken field inside a proper detail is delivered (the monitor reports
    # `malformed`); a detail that is a string or lacks eventName, or another source, is never delivered
    assert delivered == {"malformed-missing-event-time.json", "malformed-wrong-typed-result.json"}
    assert all(_matching(_load(EVENTS / name)) == {"signin"} for name in delivered)
