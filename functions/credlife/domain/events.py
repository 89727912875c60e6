"""CloudTrail events, normalised: what the risk rules read from a console sign-in or an IAM API call.

Pure: no boto3, no clock, no environment. The event Lambda, the replay CLI and the benchmark all go through
`normalise`, which accepts the three shapes events arrive in (DESIGN §4):

- an EventBridge-wrapped event (`source`, `detail-type`, `detail` = the CloudTrail record),
- a bare CloudTrail record (as in a CloudTrail log file's `Records` list, or `lookup-events` output),
- the `detail` of an EventBridge event already unwrapped by the caller.

Everything that is not one of those, or lacks what the rules need (an `eventTime` with a zone, an event name,
an account), raises `MalformedEvent` with a short, secret-free reason: the caller turns it into a
`malformed` finding. A well-formed event the rules do not judge (another service's call by anyone but root,
a scheduled event, an Identity Center sign-in step) raises `IgnoredEvent`: counted as `ignored`, never as
`malformed`. Parsing never trusts a field's type: a `null`, a number where a string belongs, a JSON string
instead of an object are all handled, and text is made encodable (an unpaired surrogate in a user agent must
not break the history write or the alert).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

SIGNIN_SOURCE: Final = "aws.signin"
IAM_SOURCE: Final = "aws.iam"
SIGNIN_DETAIL_TYPE: Final = "AWS Console Sign In via CloudTrail"
API_CALL_DETAIL_TYPE: Final = "AWS API Call via CloudTrail"
#: CloudTrail's `eventSource` for each EventBridge `source` we handle.
EVENT_SOURCES: Final = {"signin.amazonaws.com": SIGNIN_SOURCE, "iam.amazonaws.com": IAM_SOURCE}
#: The user name CloudTrail writes for a failed sign-in with a user name that does not exist.
HIDDEN_USER: Final = "HIDDEN_DUE_TO_SECURITY_REASONS"
#: The subject under which a root user's history and failures are kept (`<` is invalid in IAM user names).
ROOT_SUBJECT: Final = "<root>"

#: IAM API calls the rules look at; any other IAM call (by anyone but root) is out of scope: `ignored`.
IAM_EVENT_NAMES: Final = frozenset(
    {
        "CreateAccessKey",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "DeactivateMFADevice",
        "DeleteVirtualMFADevice",
        "EnableMFADevice",
        "CreateLoginProfile",
        "UpdateLoginProfile",
        "DeleteLoginProfile",
        "AttachUserPolicy",
        "PutUserPolicy",
        "DetachUserPolicy",
        "DeleteUserPolicy",
        "AddUserToGroup",
        "AttachGroupPolicy",
        "PutGroupPolicy",
        "AttachRolePolicy",
        "PutRolePolicy",
    }
)

#: The EventBridge rule patterns that deliver these events (the infra construct uses the same; the e2e tests
#: check every sample in `events/` against them with EventBridge's `TestEventPattern`).
SIGNIN_PATTERN: Final = {
    "source": [SIGNIN_SOURCE],
    "detail-type": [SIGNIN_DETAIL_TYPE],
    "detail": {"eventName": ["ConsoleLogin"]},
}
IAM_PATTERN: Final = {
    "source": [IAM_SOURCE],
    "detail-type": [API_CALL_DETAIL_TYPE],
    "detail": {"eventSource": ["iam.amazonaws.com"], "eventName": sorted(IAM_EVENT_NAMES)},
}
#: Anything the root user does (any service, any region), except the console sign-in the sign-in rule
#: already delivers. A root IAM call named in `IAM_PATTERN` matches both rules: the claim judges it once.
ROOT_PATTERN: Final = {
    "detail-type": [API_CALL_DETAIL_TYPE, SIGNIN_DETAIL_TYPE],
    "detail": {"userIdentity": {"type": ["Root"]}, "eventName": [{"anything-but": ["ConsoleLogin"]}]},
}

_MAX_FIELD = 1024  # user agents can be long; nothing a rule reads needs more


class EventKind(StrEnum):
    SIGNIN = "signin"
    IAM_CALL = "iam_call"
    #: Another service's API call; only the root user's reach the rules (`root_activity`).
    API_CALL = "api_call"


class MalformedEvent(ValueError):
    """The input is not an event the rules can judge. The message is short and never echoes values."""


class IgnoredEvent(ValueError):
    """A well-formed event outside the rules' scope (counted `ignored`). The message names its kind only."""


@dataclass(frozen=True, slots=True)
class CloudTrailEvent:
    """One normalised CloudTrail event. `user` is whose history the event belongs to: for a sign-in, the
    signing-in identity (IAM user name, `<root>`, or None when CloudTrail hid it or the identity is a role or
    federated session); for an IAM call, the user the call targets (`requestParameters.userName`, or the
    caller's own name when the call names no user)."""

    kind: EventKind
    event_id: str
    event_name: str
    at: datetime
    account: str
    region: str
    identity_type: str
    actor_arn: str | None
    actor_name: str | None
    #: The role behind an assumed-role session (`sessionContext.sessionIssuer.arn`), if any.
    issuer_arn: str | None
    user: str | None
    source_ip: str | None
    user_agent: str | None
    #: Sign-ins: `Success` / `Failure` (`responseElements.ConsoleLogin`); IAM calls: None.
    login_result: str | None = None
    #: Sign-ins: `additionalEventData.MFAUsed`, compared case-insensitively; None when absent.
    mfa_used: bool | None = None
    #: SAML / Identity Center / role sign-ins: the identity provider owns MFA, `MFAUsed: No` means nothing.
    federated: bool = False
    error_code: str | None = None
    error_message: str | None = None
    #: IAM calls: the few request parameters the rules read (userName, status, serialNumber, policyArn).
    params: Mapping[str, str] | None = None
    #: `PutUserPolicy` / `PutGroupPolicy` / `PutRolePolicy`: the inline policy grants administrator
    #: equivalence (`*` or `iam:*` allowed on `*`). Never the document itself.
    admin_inline_policy: bool = False

    @property
    def is_root(self) -> bool:
        return self.identity_type == "Root"

    @property
    def is_iam_user(self) -> bool:
        return self.identity_type == "IAMUser"

    @property
    def succeeded(self) -> bool:
        if self.kind is EventKind.SIGNIN:
            return self.login_result == "Success"
        return self.error_code is None

    @property
    def user_hidden(self) -> bool:
        return self.user is None and self.actor_name == HIDDEN_USER


def unwrap(event: Any) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
    """Split an input into `(cloudtrail_record, eventbridge_envelope_or_None)`. A JSON string is decoded
    first (a JSON Lines export, an SQS body); a `detail` must be an object."""
    if isinstance(event, str | bytes):
        try:
            event = json.loads(event)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise MalformedEvent("not JSON") from None
    if not isinstance(event, Mapping):
        raise MalformedEvent(f"an event must be a JSON object, not {type(event).__name__}")
    if "detail" in event or "detail-type" in event:
        detail = event.get("detail")
        detail_type = event.get("detail-type")
        if detail_type not in (SIGNIN_DETAIL_TYPE, API_CALL_DETAIL_TYPE):
            if isinstance(detail_type, str) and isinstance(event.get("source"), str):
                raise IgnoredEvent("out of scope: not a CloudTrail API call or console sign-in")
            raise MalformedEvent("unexpected detail-type")
        if not isinstance(detail, Mapping):
            raise MalformedEvent("detail is missing or not an object")
        if not isinstance(event.get("source"), str):
            raise MalformedEvent("unexpected source: not a string")
        return detail, event
    return event, None


def normalise(event: Any) -> CloudTrailEvent:
    """Any accepted input shape → a `CloudTrailEvent`, or `MalformedEvent`."""
    record, envelope = unwrap(event)
    event_source = _text(record, "eventSource")
    source = EVENT_SOURCES.get(event_source or "")
    if source is None and envelope is not None:
        source = str(envelope.get("source"))
    name = _text(record, "eventName")
    if not name:
        raise MalformedEvent("eventName is missing")
    identity = _mapping(record, "userIdentity")
    identity_type = _text(identity, "type") or "Unknown"
    root = identity_type == "Root"
    if source == SIGNIN_SOURCE:
        kind = EventKind.SIGNIN
        if name != "ConsoleLogin" and not root:
            raise IgnoredEvent("out of scope: a sign-in step other than ConsoleLogin")
    elif source == IAM_SOURCE:
        kind = EventKind.IAM_CALL
        if name not in IAM_EVENT_NAMES and not root:
            raise IgnoredEvent("out of scope: an IAM call no rule reads")
    elif root and (event_source or envelope is not None):
        kind = EventKind.API_CALL
    elif event_source or envelope is not None:
        raise IgnoredEvent("out of scope: another service's call by a principal other than root")
    else:
        raise MalformedEvent("eventSource is missing")
    at = _time(_text(record, "eventTime") or (_text(envelope, "time") if envelope else None))
    actor_arn = _text(identity, "arn")
    actor_name = _text(identity, "userName")
    session = _mapping(identity, "sessionContext")
    issuer_arn = _text(_mapping(session, "sessionIssuer"), "arn")
    account = (
        _text(record, "recipientAccountId")
        or _text(identity, "accountId")
        or (_text(envelope, "account") if envelope else None)
    )
    if not account:
        raise MalformedEvent("no account id (recipientAccountId, userIdentity.accountId, account)")
    region = _text(record, "awsRegion") or (_text(envelope, "region") if envelope else None) or "unknown"
    event_id = (
        _text(record, "eventID")
        or (_text(envelope, "id") if envelope else None)
        or f"{name}@{at.isoformat()}"
    )
    common: dict[str, Any] = {
        "event_id": event_id,
        "event_name": name,
        "at": at,
        "account": account,
        "region": region,
        "identity_type": identity_type,
        "actor_arn": actor_arn,
        "actor_name": actor_name,
        "issuer_arn": issuer_arn,
        "source_ip": _text(record, "sourceIPAddress"),
        "user_agent": _text(record, "userAgent"),
        "error_code": _text(record, "errorCode"),
        "error_message": _text(record, "errorMessage"),
    }
    if kind is EventKind.SIGNIN:
        return _signin(record, common, name)
    attributes = _mapping(_mapping(identity, "sessionContext"), "attributes")
    mfa = _text(attributes, "mfaAuthenticated")
    common["mfa_used"] = None if mfa is None else mfa.strip().lower() == "true"
    if kind is EventKind.API_CALL:
        return CloudTrailEvent(kind=kind, user=ROOT_SUBJECT, **common)
    return _iam_call(record, common)


def _signin(record: Mapping[str, Any], common: dict[str, Any], name: str) -> CloudTrailEvent:
    extra = _mapping(record, "additionalEventData")
    result = _login_result(record) if name == "ConsoleLogin" else None
    mfa = _text(extra, "MFAUsed")
    arn = common["actor_arn"] or ""
    federated = (
        common["identity_type"] in ("AssumedRole", "FederatedUser", "SAMLUser", "WebIdentityUser")
        or "AWSReservedSSO" in arn
        or "AWSReservedSSO" in (common["issuer_arn"] or "")
        or _text(extra, "SamlProviderArn") is not None
    )
    user: str | None
    if common["identity_type"] == "Root":
        user = ROOT_SUBJECT
    elif common["identity_type"] == "IAMUser" and common["actor_name"] not in (None, HIDDEN_USER):
        user = common["actor_name"]
    else:
        user = None
    return CloudTrailEvent(
        kind=EventKind.SIGNIN,
        user=user,
        login_result=result,
        mfa_used=None if mfa is None else mfa.strip().lower() == "yes",
        federated=federated,
        **common,
    )


def _login_result(record: Mapping[str, Any]) -> str:
    """`Success` / `Failure`, compared without case or surrounding space; when CloudTrail wrote no outcome,
    an `errorMessage` means a failure. Anything else (a number, an unknown word, nothing at all) is not a
    judgeable sign-in."""
    response = record.get("responseElements")
    raw = response.get("ConsoleLogin") if isinstance(response, Mapping) else None
    if isinstance(raw, str) and raw.strip():
        outcome = raw.strip().casefold()
        if outcome == "success":
            return "Success"
        if outcome in ("failure", "failed"):
            return "Failure"
        raise MalformedEvent("responseElements.ConsoleLogin is not Success or Failure")
    if raw is None and _text(record, "errorMessage"):
        return "Failure"
    raise MalformedEvent("responseElements.ConsoleLogin is not Success or Failure")


def _iam_call(record: Mapping[str, Any], common: dict[str, Any]) -> CloudTrailEvent:
    raw = record.get("requestParameters")
    request = raw if isinstance(raw, Mapping) else {}
    params = {
        key: value
        for key in ("userName", "status", "serialNumber", "policyArn", "policyName", "groupName", "roleName")
        if (value := _text(request, key)) is not None
    }
    target = params.get("userName")
    acts_on_caller = "groupName" not in params and "roleName" not in params
    if target is None and common["identity_type"] == "IAMUser" and acts_on_caller:
        target = common["actor_name"]  # IAM calls without a userName act on the caller
    admin = common["event_name"] in _PUT_POLICY and grants_admin(request.get("policyDocument"))
    return CloudTrailEvent(
        kind=EventKind.IAM_CALL, user=target, params=params, admin_inline_policy=admin, **common
    )


_PUT_POLICY: Final = frozenset({"PutUserPolicy", "PutGroupPolicy", "PutRolePolicy"})
_ADMIN_ACTIONS: Final = frozenset({"*", "*:*", "iam:*"})


def grants_admin(document: Any) -> bool:
    """Whether a policy document (a JSON string, as CloudTrail logs it, or an object) allows `*`, `*:*` or
    `iam:*` on every resource: administrator equivalence (`iam:*` lets its holder grant itself the rest).
    A document that cannot be read grants nothing."""
    if isinstance(document, str):
        if len(document) > 131_072:  # IAM's largest inline policies are far smaller
            return False
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):
            return False
    if not isinstance(document, Mapping):
        return False
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list):
        return False
    for statement in statements[:100]:
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        if "Condition" in statement:
            continue  # a conditioned grant is not a blanket one
        actions = _strings(statement.get("Action"))
        resources = _strings(statement.get("Resource"))
        if {a.casefold() for a in actions} & _ADMIN_ACTIONS and "*" in resources:
            return True
    return False


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


# -- tolerant field access ------------------------------------------------------------------------------


def _mapping(parent: Mapping[str, Any] | None, name: str) -> Mapping[str, Any]:
    if not isinstance(parent, Mapping):
        return {}
    value = parent.get(name)
    return value if isinstance(value, Mapping) else {}


def _text(parent: Mapping[str, Any] | None, name: str) -> str | None:
    """A string field, or None when missing, null, empty or not a string (numbers are not coerced: a
    number where a name belongs is a sign of a bad record, and the rules treat the field as absent)."""
    if not isinstance(parent, Mapping):
        return None
    value = parent.get(name)
    if not isinstance(value, str) or not value:
        return None
    value = value[:_MAX_FIELD]
    if not value.isascii():
        # an unpaired surrogate cannot be encoded (DynamoDB, SNS and JSON logs would all refuse it)
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _time(value: str | None) -> datetime:
    if value is None:
        raise MalformedEvent("eventTime is missing")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedEvent("eventTime is not an ISO-8601 time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise MalformedEvent("eventTime has no time zone")
    return parsed
