"""Builders for CloudTrail events as EventBridge delivers them (DESIGN §4 shapes), for the risk-rule tests.

Every builder returns a plain dict, EventBridge-wrapped unless `bare=True`; time is explicit (`at`)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

ACCOUNT = "123456789012"
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
_ids = itertools.count(1)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def iam_user(name: str) -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLE",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "accountId": ACCOUNT,
        "userName": name,
    }


ROOT = {"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT}
HIDDEN = {
    "type": "IAMUser",
    "accountId": ACCOUNT,
    "accessKeyId": "",
    "userName": "HIDDEN_DUE_TO_SECURITY_REASONS",
}


def role_session(role: str, session: str, *, sso: bool = False) -> dict[str, Any]:
    path = "aws-reserved/sso.amazonaws.com/" if sso else ""
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLE:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{path}{role}",
                "accountId": ACCOUNT,
                "userName": role,
            }
        },
    }


def wrap(detail: dict[str, Any], *, signin: bool) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"eb-{next(_ids)}",
        "detail-type": "AWS Console Sign In via CloudTrail" if signin else "AWS API Call via CloudTrail",
        "source": "aws.signin" if signin else "aws.iam",
        "account": ACCOUNT,
        "time": detail.get("eventTime"),
        "region": detail.get("awsRegion"),
        "resources": [],
        "detail": detail,
    }


def signin(
    identity: dict[str, Any] | None = None,
    *,
    at: datetime = T0,
    ok: bool = True,
    mfa: str | None = "Yes",
    ip: str = "203.0.113.10",
    agent: str = CHROME,
    region: str = "us-east-1",
    extra: dict[str, Any] | None = None,
    bare: bool = False,
) -> dict[str, Any]:
    additional: dict[str, Any] = {
        "LoginTo": "https://console.aws.amazon.com/console/home",
        "MobileVersion": "No",
    }
    if mfa is not None:
        additional["MFAUsed"] = mfa
    detail: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": identity if identity is not None else iam_user("alice"),
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": None,
        "responseElements": {"ConsoleLogin": "Success" if ok else "Failure"},
        "additionalEventData": {**additional, **(extra or {})},
        "eventID": f"ev-{next(_ids)}",
        "eventType": "AwsConsoleSignIn",
        "recipientAccountId": ACCOUNT,
    }
    if not ok:
        detail["errorMessage"] = "Failed authentication"
    return detail if bare else wrap(detail, signin=True)


def api_call(
    name: str,
    params: dict[str, Any] | None,
    *,
    actor: dict[str, Any] | None = None,
    at: datetime = T0,
    error: str | None = None,
    bare: bool = False,
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": actor if actor is not None else iam_user("mallory"),
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.30",
        "requestParameters": params,
        "responseElements": None,
        "eventID": f"ev-{next(_ids)}",
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
    }
    if error:
        detail["errorCode"] = error
        detail["errorMessage"] = "not authorized"
    return detail if bare else wrap(detail, signin=False)
