"""Risk rules for console sign-ins and IAM changes (DESIGN §4): pure functions of
`(event, view, policy)`.

- `RiskPolicy`: every threshold, validated (pydantic, unknown fields rejected), part of the settings.
- `RiskReason`: the stable reason codes used in alerts, metrics, the replay output and tests.
- `evaluate(event, view, policy)`: the findings for one normalised event, given what the state table knew
  before it (`RiskView`: the user's sign-in history, failure counts in the brute-force window including this
  event, whether the project disabled the user's credentials).
- `remember(history, event, policy)`: the user's history after a successful sign-in (the baseline).
- `build_alert(event, findings)`: who, what, where, when, why and what to do next, ready to publish.

No boto3, no clock (the clock is the event's `eventTime`), no environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field

from credlife.domain.actions import Severity
from credlife.domain.events import HIDDEN_USER, ROOT_SUBJECT, CloudTrailEvent, EventKind


class RiskReason(StrEnum):
    ROOT_SIGNIN = "root_signin"
    NO_MFA = "no_mfa"
    FAILED_SIGNIN = "failed_signin"
    BRUTE_FORCE = "brute_force"
    NEW_SOURCE_IP = "new_source_ip"
    NEW_USER_AGENT = "new_user_agent"
    DISABLED_USER_SIGNIN = "disabled_user_signin"
    MFA_REMOVED = "mfa_removed"
    KEY_CREATED_FOR_OTHER_USER = "key_created_for_other_user"
    LOGIN_PROFILE_CHANGED_BY_OTHER = "login_profile_changed_by_other"
    MALFORMED = "malformed"


SEVERITY_RANK: Final = {s: n for n, s in enumerate(Severity)}

#: What the security team should do next, per reason (the alert's `next_steps`).
NEXT_STEPS: Final[Mapping[RiskReason, str]] = {
    RiskReason.ROOT_SIGNIN: "Confirm with the root account's custodian; if unexpected, reset the root "
    "password, check root MFA and access keys, and review CloudTrail for the session.",
    RiskReason.NO_MFA: "Ask the user to enable MFA; the lifecycle enforces MFA after its grace period.",
    RiskReason.FAILED_SIGNIN: "No action needed for a single failure; repeated failures raise brute_force.",
    RiskReason.BRUTE_FORCE: "Check whether the source IP is known; block it (WAF/network) or reset the "
    "password of the targeted user, and confirm the user has MFA.",
    RiskReason.NEW_SOURCE_IP: "Ask the user whether this sign-in was theirs; if not, disable the login "
    "profile and rotate the user's credentials.",
    RiskReason.NEW_USER_AGENT: "Ask the user whether this sign-in was theirs (new browser or device).",
    RiskReason.DISABLED_USER_SIGNIN: "The project disabled this user's credentials: find out who re-enabled "
    "access and why; disable the login profile if unexpected.",
    RiskReason.MFA_REMOVED: "Confirm the MFA removal with the user and the caller; re-enable MFA.",
    RiskReason.KEY_CREATED_FOR_OTHER_USER: "Confirm with the caller why they created or re-activated a key "
    "for another user; if unexpected, deactivate the key and review the caller's permissions.",
    RiskReason.LOGIN_PROFILE_CHANGED_BY_OTHER: "Confirm with the caller why they set another user's console "
    "password; if unexpected, delete the login profile and review the caller's permissions.",
    RiskReason.MALFORMED: "Check the event source and the rule pattern; the event was not judged.",
}

_SEVERITY: Final[Mapping[RiskReason, Severity]] = {
    RiskReason.ROOT_SIGNIN: Severity.HIGH,
    RiskReason.NO_MFA: Severity.MEDIUM,
    RiskReason.FAILED_SIGNIN: Severity.LOW,
    RiskReason.BRUTE_FORCE: Severity.HIGH,
    RiskReason.NEW_SOURCE_IP: Severity.MEDIUM,
    RiskReason.NEW_USER_AGENT: Severity.LOW,
    RiskReason.DISABLED_USER_SIGNIN: Severity.HIGH,
    RiskReason.MFA_REMOVED: Severity.HIGH,
    RiskReason.KEY_CREATED_FOR_OTHER_USER: Severity.HIGH,
    RiskReason.LOGIN_PROFILE_CHANGED_BY_OTHER: Severity.HIGH,
    RiskReason.MALFORMED: Severity.LOW,
}

Count = Annotated[int, Field(ge=1, le=100_000)]


class RiskPolicy(BaseModel):
    """Thresholds of the sign-in and IAM-change rules. Every field has a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: brute_force: this many failed sign-ins ...
    brute_force_failures: Count = 5
    #: ... within this many minutes, per user name and per source IP. One alert per window and subject.
    brute_force_window_minutes: Annotated[int, Field(ge=1, le=1440)] = 15
    #: new_source_ip / new_user_agent only once the user has this many successful sign-ins on record.
    baseline_signins: Count = 5
    #: History entries (IPs, user agents) unseen this long are forgotten; also the TTL of history items.
    history_days: Annotated[int, Field(ge=1, le=3650)] = 90
    max_known_ips: Count = 50
    max_known_agents: Count = 20
    #: Findings at or above this severity are published to the security topic; all are logged and counted.
    alert_min_severity: Severity = Severity.MEDIUM
    #: Findings on a successful sign-in for which the user is asked "was this you?".
    owner_check_reasons: tuple[RiskReason, ...] = (
        RiskReason.NEW_SOURCE_IP,
        RiskReason.NEW_USER_AGENT,
        RiskReason.NO_MFA,
    )
    #: Callers (exact IAM user, role or assumed-role ARNs) allowed to create keys and set passwords for
    #: other users without an alert: typically the project's own executor role.
    trusted_actor_arns: tuple[str, ...] = ()
    #: Deactivation reasons recorded by the lifecycle that make a later sign-in `disabled_user_signin`.
    #: (A key retired after rotation is routine, so rotation reasons are not listed.)
    disabled_reasons: tuple[str, ...] = ("key_unused",)

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.brute_force_window_minutes)

    def alerts(self, severity: Severity) -> bool:
        return SEVERITY_RANK[severity] >= SEVERITY_RANK[self.alert_min_severity]


# -- what the state table knew before the event ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SigninHistory:
    """A user's successful console sign-ins: the baseline for new_source_ip and new_user_agent. IPs and
    user-agent families map to when they were last seen. `version` guards concurrent updates."""

    successes: int = 0
    known_ips: Mapping[str, datetime] = field(default_factory=dict)
    known_agents: Mapping[str, datetime] = field(default_factory=dict)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    version: int = 0


@dataclass(frozen=True, slots=True)
class RiskView:
    history: SigninHistory | None = None
    #: Failed sign-ins of the user / from the source IP inside the window ending at the event, this one
    #: included; None when not counted (a success, a hidden user name, no IP).
    user_failures: int | None = None
    ip_failures: int | None = None
    #: When and why the project disabled one of the user's credentials, if it did.
    disabled: tuple[datetime, str] | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    reason: RiskReason
    severity: Severity
    subject: str
    detail: str
    #: Findings with a key are alerted once per `window` and key (brute force); others every time.
    dedupe_key: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason.value,
            "severity": self.severity.value,
            "subject": self.subject,
            "detail": self.detail,
            "next_steps": NEXT_STEPS[self.reason],
        }


def finding(reason: RiskReason, subject: str, detail: str, *, severity: Severity | None = None) -> Finding:
    return Finding(reason, severity or _SEVERITY[reason], subject, detail)


def malformed(why: str) -> Finding:
    return finding(RiskReason.MALFORMED, "-", why)


def highest(findings: Sequence[Finding]) -> Severity | None:
    if not findings:
        return None
    return max((f.severity for f in findings), key=SEVERITY_RANK.__getitem__)


# -- the rules ------------------------------------------------------------------------------------------

_MFA_REMOVAL: Final = frozenset({"DeactivateMFADevice", "DeleteVirtualMFADevice"})
_LOGIN_PROFILE_SET: Final = frozenset({"CreateLoginProfile", "UpdateLoginProfile"})
_DIGITS = re.compile(r"\d+")


def evaluate(event: CloudTrailEvent, view: RiskView, policy: RiskPolicy) -> list[Finding]:
    """Every finding for one event, in a stable order. An empty list: nothing risky."""
    if event.kind is EventKind.SIGNIN:
        return _signin(event, view, policy) if event.event_name == "ConsoleLogin" else []
    return _iam_call(event, policy)


def _who(event: CloudTrailEvent) -> str:
    if event.user:
        return "root" if event.user == ROOT_SUBJECT else event.user
    if event.actor_name == HIDDEN_USER:
        return "(hidden user name)"
    return event.actor_arn or event.actor_name or event.identity_type


def _signin(event: CloudTrailEvent, view: RiskView, policy: RiskPolicy) -> list[Finding]:
    out: list[Finding] = []
    who = _who(event)
    ip = event.source_ip or "unknown IP"
    ok = event.succeeded
    if event.is_root:
        severity = Severity.CRITICAL if ok and event.mfa_used is not True else Severity.HIGH
        mfa = "with MFA" if event.mfa_used else "without MFA"
        what = f"succeeded {mfa}" if ok else "failed"
        out.append(
            finding(RiskReason.ROOT_SIGNIN, who, f"root console sign-in {what} from {ip}", severity=severity)
        )
    if not ok:
        out.append(finding(RiskReason.FAILED_SIGNIN, who, f"failed console sign-in from {ip}"))
        out.extend(_brute_force(event, view, policy, who))
    if ok and event.is_iam_user and not event.federated and event.mfa_used is not True:
        said = "MFAUsed absent" if event.mfa_used is None else "MFAUsed: No"
        out.append(finding(RiskReason.NO_MFA, who, f"IAM user signed in without MFA ({said})"))
    if view.disabled is not None and event.user and not event.is_root:
        at, why = view.disabled
        out.append(
            finding(
                RiskReason.DISABLED_USER_SIGNIN,
                who,
                f"console sign-in {'succeeded' if ok else 'attempted'} although the project disabled a "
                f"credential of this user on {at:%Y-%m-%d} ({why})",
                severity=Severity.HIGH if ok else Severity.MEDIUM,
            )
        )
    history = view.history
    if ok and event.is_iam_user and history is not None and history.successes >= policy.baseline_signins:
        if event.source_ip and event.source_ip not in history.known_ips:
            out.append(
                finding(
                    RiskReason.NEW_SOURCE_IP,
                    who,
                    f"first sign-in from {event.source_ip} after {history.successes} on record",
                )
            )
        agent = agent_family(event.user_agent)
        if agent and agent not in history.known_agents:
            out.append(finding(RiskReason.NEW_USER_AGENT, who, "first sign-in with this browser/client"))
    return out


def _brute_force(event: CloudTrailEvent, view: RiskView, policy: RiskPolicy, who: str) -> list[Finding]:
    out: list[Finding] = []
    n, minutes = policy.brute_force_failures, policy.brute_force_window_minutes
    if view.user_failures is not None and view.user_failures >= n and event.user:
        out.append(
            replace(
                finding(
                    RiskReason.BRUTE_FORCE,
                    who,
                    f"{view.user_failures} failed sign-ins for this user within {minutes} min",
                ),
                dedupe_key=f"USER#{event.user}",
            )
        )
    if view.ip_failures is not None and view.ip_failures >= n and event.source_ip:
        out.append(
            replace(
                finding(
                    RiskReason.BRUTE_FORCE,
                    who,
                    f"{view.ip_failures} failed sign-ins from {event.source_ip} within {minutes} min",
                ),
                dedupe_key=f"IP#{event.source_ip}",
            )
        )
    return out


def _iam_call(event: CloudTrailEvent, policy: RiskPolicy) -> list[Finding]:
    if not event.succeeded:
        return []  # a denied or failed call changed nothing
    params = event.params or {}
    target = params.get("userName")
    caller = event.actor_arn or event.actor_name or event.identity_type
    out: list[Finding] = []
    if event.event_name in _MFA_REMOVAL:
        device = params.get("serialNumber", "an MFA device")
        subject = target or device.rsplit("/", 1)[-1]
        out.append(finding(RiskReason.MFA_REMOVED, subject, f"{event.event_name} of {device} by {caller}"))
    if target is None or not _by_other(event, target) or _trusted(event, policy):
        return out
    if event.event_name == "CreateAccessKey":
        out.append(finding(RiskReason.KEY_CREATED_FOR_OTHER_USER, target, f"access key created by {caller}"))
    elif event.event_name == "UpdateAccessKey" and params.get("status") == "Active":
        out.append(
            finding(RiskReason.KEY_CREATED_FOR_OTHER_USER, target, f"access key re-activated by {caller}")
        )
    elif event.event_name in _LOGIN_PROFILE_SET:
        out.append(
            finding(
                RiskReason.LOGIN_PROFILE_CHANGED_BY_OTHER,
                target,
                f"{event.event_name} (console password set) by {caller}",
            )
        )
    return out


def _by_other(event: CloudTrailEvent, target: str) -> bool:
    """Whole-name comparison (`alice` acting on `alice-admin` is another user), ignoring case because IAM
    user names are unique regardless of case (`Alice` and `alice` name the same user)."""
    actor = event.actor_name
    return not (event.is_iam_user and actor is not None and actor.casefold() == target.casefold())


def _trusted(event: CloudTrailEvent, policy: RiskPolicy) -> bool:
    trusted = policy.trusted_actor_arns
    return bool(trusted) and (event.actor_arn in trusted or event.issuer_arn in trusted)


# -- baseline -------------------------------------------------------------------------------------------


def agent_family(user_agent: str | None) -> str | None:
    """A user agent without its version numbers, so that a browser update is not a new client."""
    if not user_agent:
        return None
    return _DIGITS.sub("N", user_agent.strip())[:512]


def remember(history: SigninHistory | None, event: CloudTrailEvent, policy: RiskPolicy) -> SigninHistory:
    """The history after a successful sign-in: counts it, records its IP and agent family, forgets entries
    unseen for `history_days` and keeps at most `max_known_*` of the most recent."""
    base = history or SigninHistory()
    at = event.at
    horizon = at - timedelta(days=policy.history_days)
    ips = _fresh(base.known_ips, event.source_ip, at, horizon, policy.max_known_ips)
    agents = _fresh(base.known_agents, agent_family(event.user_agent), at, horizon, policy.max_known_agents)
    return SigninHistory(
        successes=base.successes + 1,
        known_ips=ips,
        known_agents=agents,
        first_seen=base.first_seen or at,
        last_seen=max(base.last_seen, at) if base.last_seen else at,
        version=base.version,
    )


def _fresh(
    known: Mapping[str, datetime], value: str | None, at: datetime, horizon: datetime, limit: int
) -> dict[str, datetime]:
    kept = {k: seen for k, seen in known.items() if seen >= horizon}
    if value:
        kept[value] = max(kept.get(value, at), at)
    if len(kept) > limit:
        kept = dict(sorted(kept.items(), key=lambda item: item[1], reverse=True)[:limit])
    return kept


# -- brute-force windows (shared by every state store, so DynamoDB and memory count alike) --------------


def minute_bucket(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def window_start(at: datetime, policy: RiskPolicy) -> datetime:
    """The first minute bucket inside the window ending at `at` (buckets are whole minutes)."""
    return minute_bucket(at) - timedelta(minutes=policy.brute_force_window_minutes - 1)


# -- the alert ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    subject: str
    severity: Severity
    reasons: tuple[str, ...]
    message: Mapping[str, Any]
    #: The IAM user to ask "was this you?", when a finding calls for it.
    owner: str | None = None


def build_alert(event: CloudTrailEvent, findings: Sequence[Finding], policy: RiskPolicy) -> Alert:
    """Who, what, where (IP, region, user agent), when, why (each finding) and what to do next. The subject
    is short (SNS allows 100 characters, ASCII): severity, reasons, who."""
    severity = highest(findings) or Severity.INFO
    reasons = tuple(dict.fromkeys(f.reason.value for f in findings))
    who = _who(event)
    subject = f"[credlife {severity.value}] {', '.join(reasons)}: {who} in {event.account}"
    subject = subject.encode("ascii", "replace").decode("ascii")[:100]
    ask_owner = (
        event.kind is EventKind.SIGNIN
        and event.succeeded
        and event.is_iam_user
        and event.user is not None
        and any(f.reason in policy.owner_check_reasons for f in findings)
    )
    message: dict[str, Any] = {
        "severity": severity.value,
        "reasons": list(reasons),
        "who": {
            "user": who,
            "identity_type": event.identity_type,
            "arn": event.actor_arn,
            "account": event.account,
        },
        "what": event.event_name,
        "outcome": event.login_result or ("Success" if event.succeeded else event.error_code),
        "where": {"source_ip": event.source_ip, "region": event.region, "user_agent": event.user_agent},
        "when": event.at.isoformat(),
        "why": [f.as_dict() for f in findings],
        "next_steps": list(dict.fromkeys(NEXT_STEPS[f.reason] for f in findings)),
        "event_id": event.event_id,
    }
    if event.params:
        message["request"] = dict(event.params)
    return Alert(subject, severity, reasons, message, owner=event.user if ask_owner else None)
