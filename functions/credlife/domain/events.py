"""CloudTrail events, normalised: what the risk rules read from a console sign-in or an IAM API call.

Pure: no boto3, no clock, no environment. The event Lambda, the replay CLI and the benchmark all go through
`normalise`, which accepts the three shapes events arrive in (DESIGN §4):

- an EventBridge-wrapped event (`source`, `detail-type`, `detail` = the CloudTrail record),
- a bare CloudTrail record (as in a CloudTrail log file's `Records` list, or `lookup-events` output),
- the `detail` of an EventBridge event already unwrapped by the caller.

Everything that is not one of those, or lacks what the rules need (an `eventTime` with a zone, an event name,
a known source), raises `MalformedEvent` with a short, secret-free reason: the caller turns it into a
`malformed` finding. Parsing never trusts a field's type: a `null`, a number where a string belongs, a JSON
string instead of an object are all handled.
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

#: IAM API calls the rules look at; any other IAM call is well-formed but irrelevant.
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

_MAX_FIELD = 1024  # user agents can be long; nothing a rule reads needs more


class EventKind(StrEnum):
    SIGNIN = "signin"
    IAM_CALL = "iam_call"


class MalformedEvent(ValueError):
    """The input is not an event the rules can judge. The message is short and never echoes values."""


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
        except (ValueError, UnicodeDecodeError):
            raise MalformedEvent("not JSON") from None
    if not isinstance(event, Mapping):
        raise MalformedEvent(f"an event must be a JSON object, not {type(event).__name__}")
    if "detail" in event or "detail-type" in event:
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            raise MalformedEvent("detail is missing or not an object")
        source = event.get("source")
        if source not in (SIGNIN_SOURCE, IAM_SOURCE):
            raise MalformedEvent("unexpected source: not aws.signin or aws.iam")
        if event.get("detail-type") not in (SIGNIN_DETAIL_TYPE, API_CALL_DETAIL_TYPE):
            raise MalformedEvent("unexpected detail-type")
        return detail, event
    return event, None


def normalise(event: Any) -> CloudTrailEvent:
    """Any accepted input shape → a `CloudTrailEvent`, or `MalformedEvent`."""
    record, envelope = unwrap(event)
    event_source = _text(record, "eventSource")
    source = EVENT_SOURCES.get(event_source or "")
    if source is None and envelope is not None:
        source = str(envelope.get("source"))
    if source == SIGNIN_SOURCE:
        kind = EventKind.SIGNIN
    elif source == IAM_SOURCE:
        kind = EventKind.IAM_CALL
    else:
        raise MalformedEvent("eventSource is not signin.amazonaws.com or iam.amazonaws.com")
    name = _text(record, "eventName")
    if not name:
        raise MalformedEvent("eventName is missing")
    at = _time(_text(record, "eventTime") or (_text(envelope, "time") if envelope else None))
    identity = _mapping(record, "userIdentity")
    identity_type = _text(identity, "type") or "Unknown"
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
    return _iam_call(record, common)


def _signin(record: Mapping[str, Any], common: dict[str, Any], name: str) -> CloudTrailEvent:
    response = _mapping(record, "responseElements")
    extra = _mapping(record, "additionalEventData")
    result = _text(response, "ConsoleLogin") if name == "ConsoleLogin" else None
    if name == "ConsoleLogin" and result not in ("Success", "Failure"):
        raise MalformedEvent("responseElements.ConsoleLogin is not Success or Failure")
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


def _iam_call(record: Mapping[str, Any], common: dict[str, Any]) -> CloudTrailEvent:
    raw = record.get("requestParameters")
    request = raw if isinstance(raw, Mapping) else {}
    params = {
        key: value
        for key in ("userName", "status", "serialNumber", "policyArn", "policyName", "groupName")
        if (value := _text(request, key)) is not None
    }
    target = params.get("userName")
    if target is None and common["identity_type"] == "IAMUser":
        target = common["actor_name"]  # IAM calls without a userName act on the caller
    return CloudTrailEvent(kind=EventKind.IAM_CALL, user=target, params=params, **common)


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
    return value[:_MAX_FIELD]


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
