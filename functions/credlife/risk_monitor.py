"""The sign-in and IAM-change monitor: one event in → normalise → state view → pure rules → dedupe →
history update → alert. Shared by the event Lambda (DynamoDB state, SNS) and the replay CLI (memory state,
no publishing), so both judge an event the same way.

No boto3 here: the state store and the alert sinks are ports. Every step that touches a port is guarded:
a state-table error degrades to the stateless rules (root, MFA, IAM changes still alert) and is reported in
the result's `errors`; nothing raises out of `process`.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from credlife.domain.actions import Severity
from credlife.domain.events import CloudTrailEvent, EventKind, MalformedEvent, normalise
from credlife.domain.risk import (
    Alert,
    Finding,
    RiskPolicy,
    RiskReason,
    RiskView,
    SigninHistory,
    build_alert,
    evaluate,
    highest,
    malformed,
    minute_bucket,
    remember,
    window_start,
)

log = logging.getLogger("credlife.risk")
log.addHandler(logging.NullHandler())  # a library logger: the host (Lambda, CLI) decides where logs go
T = TypeVar("T")
_HISTORY_ATTEMPTS = 3


# -- ports ----------------------------------------------------------------------------------------------


class SigninStatePort(Protocol):
    def claim_event(self, account: str, event_id: str, at: datetime) -> bool:
        """Record that an event was judged; False when it already was (a redelivery or a replayed copy)."""

    def count_failure(self, account: str, subject: str, at: datetime, policy: RiskPolicy) -> int:
        """Count one failed sign-in for `subject` (`USER#<name>` or `IP#<address>`) and return the failures
        inside the window ending at `at`, this one included."""

    def claim_alert(self, account: str, key: str, reason: str, at: datetime, window: timedelta) -> bool:
        """True for the first alert of `reason` and `key` in `window`; False while one is still recent."""

    def load_history(self, account: str, user: str) -> SigninHistory | None: ...

    def save_history(self, account: str, user: str, history: SigninHistory, policy: RiskPolicy) -> bool:
        """Store the history if its stored version is still `history.version`; False on a concurrent
        update (the caller reloads and retries)."""

    def disabled(self, account: str, user: str, reasons: Sequence[str]) -> tuple[datetime, str] | None:
        """When and why the project disabled one of the user's credentials (a reason in `reasons`)."""


@dataclass(frozen=True, slots=True)
class MfaLift:
    """What `EnableMFADevice` did to the project's MFA enforcement."""

    #: The outcome status: applied, dry_run, failed.
    status: str
    #: The require-MFA policy was attached and is now detached (dry run: would be). False when nothing was
    #: lifted (the user was still in the grace period, or the call failed).
    detached: bool = False


class MfaEnabledPort(Protocol):
    """Lifts the project's MFA enforcement as soon as a user enables an MFA device (issue 4)."""

    def mfa_enabled(self, account: str, user: str, at: datetime) -> MfaLift: ...


class MfaLiftNoticePort(Protocol):
    def mfa_lifted(self, account: str, user: str, at: datetime, dry_run: bool) -> None:
        """Tell the user's owner that MFA enforcement was lifted (dry run: would be) because an MFA device
        was enabled at `at`. Raises when the message could not be sent."""


class AlertPublisherPort(Protocol):
    def publish(self, alert: Alert) -> None:
        """Send the alert to the security team (the SNS security topic)."""


class OwnerCheckPort(Protocol):
    def ask_owner(self, account: str, user: str, alert: Alert) -> None:
        """Ask the user "was this you?" (issue 3 brings SES email; until then this logs)."""


# -- results --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class EventResult:
    """The judgement of one input event (the replay prints `as_row()`; the handler logs and counts it)."""

    event_id: str | None
    event_name: str | None = None
    at: datetime | None = None
    account: str | None = None
    user: str | None = None
    source_ip: str | None = None
    findings: list[Finding] = field(default_factory=list)
    #: Findings judged but not alerted again inside their dedupe window (brute force).
    suppressed: list[Finding] = field(default_factory=list)
    duplicate: bool = False
    #: The findings reach the policy's alert threshold (published when a publisher is configured).
    alert_due: bool = False
    alerted: bool = False
    owner_asked: bool = False
    errors: list[str] = field(default_factory=list)
    #: `EnableMFADevice`: the outcome of lifting the MFA enforcement (None: not applicable / no hook).
    mfa_lift: str | None = None
    #: The owner was told that the MFA enforcement was lifted (sent once: only a first delivery gets here).
    mfa_notice: bool = False

    @property
    def reasons(self) -> list[str]:
        return list(dict.fromkeys(f.reason.value for f in self.findings))

    @property
    def severity(self) -> Severity | None:
        return highest(self.findings)

    @property
    def risky(self) -> bool:
        return any(f.reason is not RiskReason.MALFORMED for f in self.findings)

    def as_row(self) -> dict[str, Any]:
        severity = self.severity
        return {
            "event_id": self.event_id,
            "event_name": self.event_name,
            "event_time": self.at.isoformat() if self.at else None,
            "account": self.account,
            "user": self.user,
            "source_ip": self.source_ip,
            "risky": self.risky,
            "severity": severity.value if severity else None,
            "reasons": self.reasons,
            "suppressed": list(dict.fromkeys(f.reason.value for f in self.suppressed)),
            "details": [f.detail for f in self.findings],
            "duplicate": self.duplicate,
            "alert": self.alert_due,
            "alerted": self.alerted,
            "owner_asked": self.owner_asked,
            "mfa_lift": self.mfa_lift,
            "mfa_notice": self.mfa_notice,
            "errors": self.errors,
        }


def malformed_result(why: str, event_id: str | None = None) -> EventResult:
    return EventResult(event_id=event_id, findings=[malformed(why)])


# -- the service ----------------------------------------------------------------------------------------


class RiskMonitor:
    def __init__(
        self,
        state: SigninStatePort,
        policy: RiskPolicy,
        *,
        publisher: AlertPublisherPort | None = None,
        owner_check: OwnerCheckPort | None = None,
        mfa_hook: MfaEnabledPort | None = None,
        mfa_notice: MfaLiftNoticePort | None = None,
    ) -> None:
        self.mfa_hook = mfa_hook
        self.mfa_notice = mfa_notice
        self.state = state
        self.policy = policy
        self.publisher = publisher
        self.owner_check = owner_check

    def process(self, raw: Any) -> EventResult:
        """Judge one input event. Never raises."""
        try:
            event = normalise(raw)
        except MalformedEvent as error:
            result = malformed_result(str(error), _raw_id(raw))
            log.warning("malformed event", extra={"event_id": result.event_id, "problem": str(error)})
            return result
        except Exception as error:  # a shape normalise did not foresee: still a malformed finding
            result = malformed_result(f"unparseable event ({type(error).__name__})", _raw_id(raw))
            log.warning(
                "malformed event", extra={"event_id": result.event_id, "problem": type(error).__name__}
            )
            return result
        result = EventResult(
            event_id=event.event_id,
            event_name=event.event_name,
            at=event.at,
            account=event.account,
            user=event.user,
            source_ip=event.source_ip,
        )
        try:
            self._judge(event, result)
        except Exception as error:  # defensive: the rules are pure and total, but a result is owed
            result.errors.append(f"evaluation failed: {type(error).__name__}")
            log.exception("event evaluation failed", extra={"event_id": event.event_id})
        return result

    def _judge(self, event: CloudTrailEvent, result: EventResult) -> None:
        state, account = self.state, event.account
        if self._guard(result, "claim_event", state.claim_event, account, event.event_id, event.at) is False:
            result.duplicate = True
            return
        view = self._view(event, result)
        for item in evaluate(event, view, self.policy):
            first = None
            if item.dedupe_key is not None:
                first = self._guard(
                    result,
                    "claim_alert",
                    state.claim_alert,
                    account,
                    item.dedupe_key,
                    item.reason.value,
                    event.at,
                    self.policy.window,
                )
            (result.suppressed if first is False else result.findings).append(item)
        if event.kind is EventKind.SIGNIN and event.succeeded and event.is_iam_user and event.user:
            self._remember(event, event.user, view.history, result)
        self._alert(event, result)
        if (
            self.mfa_hook is not None
            and event.kind is EventKind.IAM_CALL
            and event.event_name == "EnableMFADevice"
            and event.succeeded
            and event.user
        ):
            self._lift_mfa(self.mfa_hook, event, event.user, result)

    def _lift_mfa(self, hook: MfaEnabledPort, event: CloudTrailEvent, user: str, result: EventResult) -> None:
        """Lift the enforcement; when a policy was (or, dry run, would be) detached, tell the owner. Reached
        only by the first delivery of the event (`claim_event`), so the owner is told once; a failed send is
        an error of the result, never of the lift."""
        lift = self._guard(result, "mfa_enabled", hook.mfa_enabled, event.account, user, event.at)
        if lift is None:
            return
        result.mfa_lift = lift.status
        if self.mfa_notice is None or not lift.detached or lift.status not in {"applied", "dry_run"}:
            return
        told = self._guard(
            result,
            "mfa_notice",
            _done,
            self.mfa_notice.mfa_lifted,
            event.account,
            user,
            event.at,
            lift.status == "dry_run",
        )
        result.mfa_notice = told is True

    def _view(self, event: CloudTrailEvent, result: EventResult) -> RiskView:
        if event.kind is not EventKind.SIGNIN or event.event_name != "ConsoleLogin":
            return RiskView()
        state, policy, account, user, ip = self.state, self.policy, event.account, event.user, event.source_ip
        user_failures = ip_failures = None
        history = disabled = None
        if not event.succeeded:
            if user:
                user_failures = self._guard(
                    result, "count_failure", state.count_failure, account, f"USER#{user}", event.at, policy
                )
            if ip:
                ip_failures = self._guard(
                    result, "count_failure", state.count_failure, account, f"IP#{ip}", event.at, policy
                )
        elif event.is_iam_user and user:
            history = self._guard(result, "load_history", state.load_history, account, user)
        if user and event.is_iam_user:
            disabled = self._guard(result, "disabled", state.disabled, account, user, policy.disabled_reasons)
        return RiskView(history, user_failures, ip_failures, disabled)

    def _remember(
        self, event: CloudTrailEvent, user: str, history: SigninHistory | None, result: EventResult
    ) -> None:
        for _ in range(_HISTORY_ATTEMPTS):
            updated = remember(history, event, self.policy)
            saved = self._guard(
                result, "save_history", self.state.save_history, event.account, user, updated, self.policy
            )
            if saved is not False:
                return
            history = self._guard(result, "load_history", self.state.load_history, event.account, user)
        result.errors.append("save_history: concurrent updates, history not saved")

    def _alert(self, event: CloudTrailEvent, result: EventResult) -> None:
        if not result.findings or not result.risky:
            return
        alert = build_alert(event, result.findings, self.policy)
        result.alert_due = any(self.policy.alerts(f.severity) for f in result.findings)
        if result.alert_due and self.publisher is not None:
            result.alerted = self._guard(result, "publish", _done, self.publisher.publish, alert) is True
        if alert.owner is not None and self.owner_check is not None:
            asked = self._guard(
                result, "ask_owner", _done, self.owner_check.ask_owner, event.account, alert.owner, alert
            )
            result.owner_asked = asked is True

    def _guard(self, result: EventResult, step: str, call: Callable[..., T], *args: Any) -> T | None:
        """Run one port call; on failure record it in the result, log it, and go on without it."""
        try:
            return call(*args)
        except Exception as error:
            result.errors.append(f"{step}: {type(error).__name__}")
            log.error(
                "risk monitor step failed; continuing without it",
                extra={"event_id": result.event_id, "step": step, "error": str(error)[:200]},
            )
            return None


def _done(call: Callable[..., None], *args: Any) -> bool:
    call(*args)
    return True


def _raw_id(raw: Any) -> str | None:
    if isinstance(raw, dict):
        for key in ("eventID", "id"):
            value = raw.get(key)
            if isinstance(value, str):
                return value[:128]
        detail = raw.get("detail")
        if isinstance(detail, dict) and isinstance(detail.get("eventID"), str):
            return str(detail["eventID"])[:128]
    return None


# -- an in-memory state store (replay, unit tests, benchmark) -------------------------------------------


class MemorySigninState:
    """`SigninStatePort` in memory, with the same window arithmetic as the DynamoDB store."""

    def __init__(self) -> None:
        self.events: set[tuple[str, str]] = set()
        self.failures: dict[tuple[str, str], Counter[datetime]] = defaultdict(Counter)
        self.alerts: dict[tuple[str, str, str], datetime] = {}
        self.histories: dict[tuple[str, str], SigninHistory] = {}
        self.disabled_users: dict[tuple[str, str], tuple[datetime, str]] = {}

    def claim_event(self, account: str, event_id: str, at: datetime) -> bool:
        if (account, event_id) in self.events:
            return False
        self.events.add((account, event_id))
        return True

    def count_failure(self, account: str, subject: str, at: datetime, policy: RiskPolicy) -> int:
        buckets = self.failures[(account, subject)]
        bucket = minute_bucket(at)
        buckets[bucket] += 1
        start = window_start(at, policy)
        return sum(n for b, n in buckets.items() if start <= b <= bucket)

    def claim_alert(self, account: str, key: str, reason: str, at: datetime, window: timedelta) -> bool:
        last = self.alerts.get((account, key, reason))
        if last is not None and at - last < window:
            return False
        self.alerts[(account, key, reason)] = at
        return True

    def load_history(self, account: str, user: str) -> SigninHistory | None:
        return self.histories.get((account, user))

    def save_history(self, account: str, user: str, history: SigninHistory, policy: RiskPolicy) -> bool:
        current = self.histories.get((account, user))
        if (current.version if current else 0) != history.version:
            return False
        self.histories[(account, user)] = SigninHistory(
            history.successes,
            dict(history.known_ips),
            dict(history.known_agents),
            history.first_seen,
            history.last_seen,
            history.version + 1,
        )
        return True

    def disabled(self, account: str, user: str, reasons: Sequence[str]) -> tuple[datetime, str] | None:
        found = self.disabled_users.get((account, user))
        return found if found is not None and found[1] in reasons else None
