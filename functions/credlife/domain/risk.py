"""Risk rules for console sign-ins and IAM changes (DESIGN §4): pure functions of
`(event, view, policy)`.

- `RiskPolicy`: every threshold, validated (pydantic, unknown fields rejected), part of the settings.
- `RiskReason`: the stable reason codes used in alerts, metrics, the replay output and tests.
- `evaluate(event, view, policy)`: the findings for one normalised event, given what the state table knew
  before it (`RiskView`: the user's sign-in history, failure counts in the burst and the long window
  including this event, the distinct users one source failed against, whether the project deleted the
  user's console password, denied IAM calls of the caller, facts about the target group or user).
- `remember(history, event, policy)`: the user's history after a successful sign-in (the baseline).
- `build_alert(event, findings)`: who, what, where, when, why and what to do next, ready to publish.

No boto3, no clock (the clock is the event's `eventTime`), no environment.
"""

from __future__ import annotations

import functools
import ipaddress
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
    ROOT_ACTIVITY = "root_activity"
    ADMIN_POLICY_ATTACHED = "admin_policy_attached"
    CONSOLE_PASSWORD_FOR_WORKLOAD = "console_password_for_workload"  # noqa: S105 (a reason code)
    DENIED_IAM_CALLS = "denied_iam_calls"
    SLOW_BRUTE_FORCE = "slow_brute_force"
    PASSWORD_SPRAYING = "password_spraying"  # noqa: S105 (a reason code)
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
    RiskReason.ROOT_ACTIVITY: "Confirm with the root account's custodian; root should do nothing day to "
    "day. If unexpected, reset the root password, check root MFA and access keys, and review the session.",
    RiskReason.ADMIN_POLICY_ATTACHED: "Confirm the grant with the caller; if unexpected, detach the policy "
    "(or remove the user from the group) and review what the user did since.",
    RiskReason.CONSOLE_PASSWORD_FOR_WORKLOAD: "A user that never signed in to the console got a password: "
    "confirm with the caller and the owner; if unexpected, delete the login profile.",
    RiskReason.DENIED_IAM_CALLS: "The caller keeps trying IAM changes it is denied: find out whether its "
    "credentials are stolen (GuardDuty, CloudTrail) and deactivate them if so.",
    RiskReason.SLOW_BRUTE_FORCE: "Slow guessing: check the sources, reset the targeted user's password and "
    "confirm the user has MFA.",
    RiskReason.PASSWORD_SPRAYING: "One source tries many user names: block it (WAF/network) and check that "
    "every targeted user has MFA.",
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
    RiskReason.ROOT_ACTIVITY: Severity.HIGH,
    RiskReason.ADMIN_POLICY_ATTACHED: Severity.HIGH,
    RiskReason.CONSOLE_PASSWORD_FOR_WORKLOAD: Severity.HIGH,
    RiskReason.DENIED_IAM_CALLS: Severity.HIGH,
    RiskReason.SLOW_BRUTE_FORCE: Severity.HIGH,
    RiskReason.PASSWORD_SPRAYING: Severity.HIGH,
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
    #: other users without an alert: typically the project's own function roles (the stack adds them).
    trusted_actor_arns: tuple[str, ...] = ()
    #: Roles trusted by name in any account (the organization's member role, deployed by StackSets under
    #: one fixed name); matched against the assumed role's issuer ARN.
    trusted_role_names: tuple[str, ...] = ()
    #: Kept for older settings files; sign-ins are now joined with the console password the lifecycle
    #: deleted, not with access-key deactivations (a deactivated key says nothing about the console).
    disabled_reasons: tuple[str, ...] = ("key_unused",)
    #: slow_brute_force: this many failed sign-ins per user (or per source) within `slow_window_hours`.
    slow_failures: Count = 20
    #: The long window slow guessing is counted over (hours), beside the burst window.
    slow_window_hours: Annotated[int, Field(ge=1, le=24)] = 24
    #: password_spraying: one source failing against this many distinct user names in the slow window.
    spray_users: Annotated[int, Field(ge=2, le=100_000)] = 5
    #: denied_iam_calls: this many denied sensitive IAM calls by one caller within the burst window.
    denied_iam_calls: Count = 5
    #: AWS managed policies (by name) equivalent to administrator for privilege escalation.
    admin_policy_names: tuple[str, ...] = ("AdministratorAccess", "IAMFullAccess")
    #: root_activity: one alert per event name within this many minutes.
    root_activity_window_minutes: Annotated[int, Field(ge=1, le=1440)] = 60

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.brute_force_window_minutes)

    @property
    def slow_window(self) -> timedelta:
        return timedelta(hours=self.slow_window_hours)

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
class Failures:
    """Failed sign-ins of one subject (a user or a source) inside the windows ending at the event, this one
    included, and for a source the distinct user names it failed against in the slow window."""

    burst: int = 0
    slow: int = 0
    users: int = 0


@dataclass(frozen=True, slots=True)
class RiskView:
    history: SigninHistory | None = None
    #: Failed sign-ins of the user / from the source inside the burst window ending at the event, this one
    #: included; None when not counted (a success, a hidden user name, no IP).
    user_failures: int | None = None
    ip_failures: int | None = None
    #: When and why the project disabled the credential this event uses (the console password), if it did.
    disabled: tuple[datetime, str] | None = None
    #: The same counts over the slow window, and the distinct users the source failed against.
    user_failures_slow: int | None = None
    ip_failures_slow: int | None = None
    ip_users: int | None = None
    #: Denied sensitive IAM calls of the caller inside the burst window, this one included.
    denied_calls: int | None = None
    #: AddUserToGroup: the group grants administrator equivalence (None: unknown).
    group_admin: bool | None = None
    #: CreateLoginProfile: the user signed in with a console password before (None: unknown).
    had_console_password: bool | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    reason: RiskReason
    severity: Severity
    subject: str
    detail: str
    #: Findings with a key are alerted once per `window` and key (brute force); others every time.
    dedupe_key: str | None = None
    #: The dedupe window in minutes (None: the brute-force window).
    dedupe_minutes: int | None = None

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
    if event.kind is EventKind.SIGNIN and event.event_name == "ConsoleLogin":
        return _signin(event, view, policy)
    out = _root_activity(event, policy) if event.is_root else []
    if event.kind is EventKind.IAM_CALL:
        out.extend(_iam_call(event, view, policy))
    return out


def _root_activity(event: CloudTrailEvent, policy: RiskPolicy) -> list[Finding]:
    """Anything root does beyond signing in (password change, its own access keys, IAM changes, ...):
    alerted once per event name and window, plus `no_mfa` when the session had no MFA."""
    outcome = "" if event.succeeded else f" (failed: {event.error_code or event.error_message or 'error'})"
    out = [
        replace(
            finding(
                RiskReason.ROOT_ACTIVITY,
                "root",
                f"root user called {event.event_name}{outcome} from {event.source_ip or 'unknown IP'}",
            ),
            dedupe_key=f"ROOT#{event.event_name}",
            dedupe_minutes=policy.root_activity_window_minutes,
        )
    ]
    if event.mfa_used is False:
        out.append(
            replace(
                finding(RiskReason.NO_MFA, "root", "root session without MFA (mfaAuthenticated: false)"),
                dedupe_key="ROOT#no_mfa",
                dedupe_minutes=policy.root_activity_window_minutes,
            )
        )
    return out


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
        if ok and event.mfa_used is not True:
            said = "MFAUsed absent" if event.mfa_used is None else "MFAUsed: No"
            out.append(
                finding(RiskReason.NO_MFA, who, f"root signed in without MFA ({said})", severity=severity)
            )
    if not ok:
        out.append(finding(RiskReason.FAILED_SIGNIN, who, f"failed console sign-in from {ip}"))
        out.extend(_brute_force(event, view, policy, who))
    if ok and event.is_iam_user and not event.federated and event.mfa_used is not True:
        said = "MFAUsed absent" if event.mfa_used is None else "MFAUsed: No"
        out.append(finding(RiskReason.NO_MFA, who, f"IAM user signed in without MFA ({said})"))
    if view.disabled is not None and event.user and not event.is_root and event.at >= view.disabled[0]:
        at, why = view.disabled
        out.append(
            finding(
                RiskReason.DISABLED_USER_SIGNIN,
                who,
                f"console sign-in {'succeeded' if ok else 'attempted'} although the project deleted this "
                f"user's console password on {at:%Y-%m-%d} ({why})",
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
    """Burst (N in W minutes) and slow (M in H hours) guessing, per user (case-insensitive) and per source
    (IPv6 by /64), and one source failing against many users (spraying): one alert per window each."""
    out: list[Finding] = []
    n, minutes = policy.brute_force_failures, policy.brute_force_window_minutes
    slow, hours, slow_minutes = policy.slow_failures, policy.slow_window_hours, policy.slow_window_hours * 60
    user_key = f"USER#{user_subject(event.user)}" if event.user else None
    source = ip_subject(event.source_ip) if event.source_ip else None
    ip_key = f"IP#{source}" if source else None

    def add(reason: RiskReason, detail: str, key: str, window: int | None = None) -> None:
        out.append(replace(finding(reason, who, detail), dedupe_key=key, dedupe_minutes=window))

    if user_key and view.user_failures is not None and view.user_failures >= n:
        add(
            RiskReason.BRUTE_FORCE,
            f"{view.user_failures} failed sign-ins for this user within {minutes} min",
            user_key,
        )
    if ip_key and view.ip_failures is not None and view.ip_failures >= n:
        add(
            RiskReason.BRUTE_FORCE,
            f"{view.ip_failures} failed sign-ins from {source} within {minutes} min",
            ip_key,
        )
    if user_key and view.user_failures_slow is not None and view.user_failures_slow >= slow:
        add(
            RiskReason.SLOW_BRUTE_FORCE,
            f"{view.user_failures_slow} failed sign-ins for this user within {hours} h",
            user_key,
            slow_minutes,
        )
    if ip_key and view.ip_failures_slow is not None and view.ip_failures_slow >= slow:
        add(
            RiskReason.SLOW_BRUTE_FORCE,
            f"{view.ip_failures_slow} failed sign-ins from {source} within {hours} h",
            ip_key,
            slow_minutes,
        )
    if ip_key and view.ip_users is not None and view.ip_users >= policy.spray_users:
        add(
            RiskReason.PASSWORD_SPRAYING,
            f"{source} failed to sign in as {view.ip_users} different users within {hours} h",
            ip_key,
            slow_minutes,
        )
    return out


def user_subject(user: str) -> str:
    """A user's counter key: IAM user names are unique regardless of case (`Alice` is `alice`)."""
    return user.casefold()


def ip_subject(ip: str) -> str:
    """A source's counter key: an IPv6 address counts by its /64 (one host picks from 2^64 addresses);
    anything else (IPv4, an AWS service name) as it is."""
    if ":" not in ip:
        return ip
    try:
        address = ipaddress.IPv6Address(ip.strip())
    except ValueError:
        return ip
    if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is one IPv4 host, not a /64 of them
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network(f"{address}/64", strict=False))


def _iam_call(event: CloudTrailEvent, view: RiskView, policy: RiskPolicy) -> list[Finding]:
    caller = event.actor_arn or event.actor_name or event.identity_type
    if not event.succeeded:
        # a denied call changed nothing, but a burst of them is someone probing for a way in
        if view.denied_calls is not None and view.denied_calls >= policy.denied_iam_calls:
            return [
                replace(
                    finding(
                        RiskReason.DENIED_IAM_CALLS,
                        caller,
                        f"{view.denied_calls} denied sensitive IAM calls within "
                        f"{policy.brute_force_window_minutes} min (last: {event.event_name})",
                    ),
                    dedupe_key=f"DENIED#{caller}",
                )
            ]
        return []
    params = event.params or {}
    target = params.get("userName")
    # escalation is judged whoever the caller is: no principal of the project ever grants these
    out = _escalation(event, view, policy, caller)
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
    """The project's own principals: an exact ARN (user, role, assumed role), an ARN whose account is `*`
    (the organization's member role in every account: `*` stands for 12 digits, nothing else), or a role
    name in any account (the assumed role's issuer, paths ignored)."""
    trusted = policy.trusted_actor_arns
    if trusted and (event.actor_arn in trusted or event.issuer_arn in trusted):
        return True
    for pattern in trusted:
        if "*" in pattern and any(
            arn and _any_account(pattern).fullmatch(arn) for arn in (event.actor_arn, event.issuer_arn)
        ):
            return True
    issuer = event.issuer_arn
    if not policy.trusted_role_names or not issuer or ":role/" not in issuer:
        return False
    return issuer.rsplit("/", 1)[-1] in policy.trusted_role_names


@functools.cache
def _any_account(pattern: str) -> re.Pattern[str]:
    return re.compile(r"\d{12}".join(re.escape(part) for part in pattern.split("*")))


_ATTACH: Final = frozenset({"AttachUserPolicy", "AttachGroupPolicy", "AttachRolePolicy"})


def _escalation(event: CloudTrailEvent, view: RiskView, policy: RiskPolicy, caller: str) -> list[Finding]:
    """Administrator-equivalent grants to a user, a group, or a role; a user added to a group that has
    one; a console password for a user that never signed in with one (a workload)."""
    params = event.params or {}
    name = event.event_name
    principal = params.get("userName") or params.get("groupName") or params.get("roleName") or "?"
    kind = "user" if "userName" in params else "group" if "groupName" in params else "role"
    admin = False
    what = ""
    if name in _ATTACH:
        policy_arn = params.get("policyArn", "")
        admin = any(policy_arn.endswith(f":iam::aws:policy/{n}") for n in policy.admin_policy_names)
        what = f"{name}: {policy_arn.rsplit('/', 1)[-1]} attached to {kind} {principal} by {caller}"
    elif event.admin_inline_policy:
        admin = True
        what = f"{name}: an inline policy allowing */iam:* on * put on {kind} {principal} by {caller}"
    elif name == "AddUserToGroup" and view.group_admin:
        admin = True
        what = f"user {params.get('userName')} added to the administrator group {params.get('groupName')}"
        principal = params.get("userName") or principal
    out: list[Finding] = []
    if admin:
        out.append(finding(RiskReason.ADMIN_POLICY_ATTACHED, principal, what))
    if name == "CreateLoginProfile" and view.had_console_password is False and event.user:
        out.append(
            finding(
                RiskReason.CONSOLE_PASSWORD_FOR_WORKLOAD,
                event.user,
                f"console password created by {caller} for a user that never signed in to the console",
            )
        )
    return out


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


def slow_window_start(at: datetime, policy: RiskPolicy) -> datetime:
    """The first minute bucket inside the slow window ending at `at`."""
    return minute_bucket(at) - timedelta(minutes=policy.slow_window_hours * 60 - 1)


def failure_span(policy: RiskPolicy) -> timedelta:
    """How long a failure bucket must be kept: the longer of the two windows."""
    return max(policy.window, policy.slow_window)


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
