"""The sign-in and IAM-change monitor: one event in → normalise → state view → pure rules → dedupe →
history update → alert. Shared by the event Lambda (DynamoDB state, SNS) and the replay CLI (memory state,
no publishing), so both judge an event the same way.

No boto3 here: the state store and the alert sinks are ports. Every step that touches a port is guarded:
a state-table error degrades to the stateless rules (root, MFA, IAM changes still alert) and is reported in
the result's `errors`; nothing raises out of `process`.

Alerts are delivered at least once: when publishing fails, the event's claim (and any alert-window claim it
took) is released and the result says `undelivered`; the handler then fails the invocation, so EventBridge
retries it (and finally parks it in the dead-letter queue, which is alarmed). A redelivery is judged again
and publishes once.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from credlife.domain.actions import Severity
from credlife.domain.events import CloudTrailEvent, EventKind, IgnoredEvent, MalformedEvent, normalise
from credlife.domain.risk import (
    Alert,
    Failures,
    Finding,
    RiskPolicy,
    RiskReason,
    RiskView,
    SigninHistory,
    build_alert,
    evaluate,
    highest,
    ip_subject,
    malformed,
    minute_bucket,
    remember,
    slow_window_start,
    user_subject,
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

    def release_event(self, account: str, event_id: str) -> None:
        """Forget a claim: the event's alert was not delivered, so a redelivery must be judged again."""

    def count_failure(
        self, account: str, subject: str, at: datetime, policy: RiskPolicy, user: str | None = None
    ) -> Failures:
        """Count one failure for `subject` (`USER#<name>`, `IP#<address>`, `DENIED#<caller>`) and return
        the failures inside the burst and the slow window ending at `at`, this one included; `user` (for a
        source) adds to the distinct user names counted in the slow window."""

    def claim_alert(self, account: str, key: str, reason: str, at: datetime, window: timedelta) -> bool:
        """True for the first alert of `reason` and `key` in `window`; False while one is still recent."""

    def release_alert(self, account: str, key: str, reason: str) -> None:
        """Forget an alert-window claim whose alert was not delivered."""

    def load_history(self, account: str, user: str) -> SigninHistory | None: ...

    def save_history(self, account: str, user: str, history: SigninHistory, policy: RiskPolicy) -> bool:
        """Store the history if its stored version is still `history.version`; False on a concurrent
        update (the caller reloads and retries)."""

    def console_disabled(self, account: str, user: str) -> tuple[datetime, str] | None:
        """When and why the lifecycle deleted the user's console password, if it did."""


class IdentityFactsPort(Protocol):
    """Facts about IAM principals of the account the monitor runs in (None: unknown, e.g. a member
    account's user, or the call failed)."""

    def group_grants_admin(self, account: str, group: str) -> bool | None: ...

    def signed_in_with_password(self, account: str, user: str) -> bool | None: ...


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
    #: A well-formed event outside the rules' scope (another service, a scheduled event, ...).
    ignored: bool = False
    #: The alert was due but could not be published: the claims were released, the invocation must fail.
    undelivered: bool = False
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

    @property
    def verdict(self) -> str:
        """One word: ignored, malformed, duplicate, risky or quiet."""
        if self.ignored:
            return "ignored"
        if self.duplicate:
            return "duplicate"
        if self.risky:
            return "risky"
        return "malformed" if self.findings else "quiet"

    def as_row(self) -> dict[str, Any]:
        severity = self.severity
        return {
            "verdict": self.verdict,
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
            "ignored": self.ignored,
            "alert": self.alert_due,
            "undelivered": self.undelivered,
            "alerted": self.alerted,
            "owner_asked": self.owner_asked,
            "mfa_lift": self.mfa_lift,
            "mfa_notice": self.mfa_notice,
            "errors": self.errors,
        }


def malformed_result(why: str, event_id: str | None = None) -> EventResult:
    return EventResult(event_id=event_id, findings=[malformed(why)])


def judge_each(
    monitor: RiskMonitor, inputs: Iterable[Any], *, report: Callable[[EventResult], None] | None = None
) -> Iterator[EventResult]:
    """The per-record guard shared by the event Lambda and the replay CLI: each input judged in order;
    nothing one record does (an unforeseen exception, a report that cannot be written) stops the others."""
    for raw in inputs:
        if isinstance(raw, Unjudgeable):
            result = malformed_result(raw.why)
        else:
            try:
                result = monitor.process(raw)
            except Exception as error:  # process never raises; this is the last line of defence
                log.exception("event not judged")
                result = malformed_result(f"unhandled {type(error).__name__}")
        if report is not None:
            try:
                report(result)
            except Exception:
                log.exception("event result not reported")
        yield result


@dataclass(frozen=True, slots=True)
class Unjudgeable:
    """An input known to be unreadable before judging (a file that is not JSON): a `malformed` row."""

    why: str


class AlertNotDelivered(RuntimeError):
    """Raised by the event handler after judging its input when an alert could not be published, so the
    invocation fails and EventBridge redelivers (then dead-letters) the event."""


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
        facts: IdentityFactsPort | None = None,
    ) -> None:
        self.facts = facts
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
        except IgnoredEvent as error:
            log.info("event out of scope", extra={"event_id": _raw_id(raw), "problem": str(error)})
            return EventResult(event_id=_raw_id(raw), ignored=True)
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
        claimed: list[Finding] = []
        for item in evaluate(event, view, self.policy):
            first = None
            if item.dedupe_key is not None:
                window = timedelta(minutes=item.dedupe_minutes) if item.dedupe_minutes else self.policy.window
                first = self._guard(
                    result,
                    "claim_alert",
                    state.claim_alert,
                    account,
                    item.dedupe_key,
                    item.reason.value,
                    event.at,
                    window,
                )
                if first:
                    claimed.append(item)
            (result.suppressed if first is False else result.findings).append(item)
        if event.kind is EventKind.SIGNIN and event.succeeded and event.is_iam_user and event.user:
            self._remember(event, event.user, view.history, result)
        self._alert(event, result)
        if result.undelivered:
            # at least once: forget the claims so that the redelivery is judged (and published) again
            for item in claimed:
                key = item.dedupe_key or ""
                self._guard(result, "release_alert", state.release_alert, account, key, item.reason.value)
            self._guard(result, "release_event", state.release_event, account, event.event_id)
            return
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
        if event.kind is EventKind.IAM_CALL:
            return self._iam_view(event, result)
        if event.kind is not EventKind.SIGNIN or event.event_name != "ConsoleLogin":
            return RiskView()
        state, policy, account, user, ip = self.state, self.policy, event.account, event.user, event.source_ip
        by_user = by_ip = None
        history = disabled = None
        if not event.succeeded:
            if user:
                subject = f"USER#{user_subject(user)}"
                by_user = self._guard(
                    result, "count_failure", state.count_failure, account, subject, event.at, policy
                )
            if ip:
                # a hidden user name is not a name: it counts toward the source's failures, not its users
                named = user_subject(user) if user else (event.actor_name or "").casefold() or None
                by_ip = self._guard(
                    result,
                    "count_failure",
                    state.count_failure,
                    account,
                    f"IP#{ip_subject(ip)}",
                    event.at,
                    policy,
                    None if named == "hidden_due_to_security_reasons" else named,
                )
        elif event.is_iam_user and user:
            history = self._guard(result, "load_history", state.load_history, account, user)
        if user and event.is_iam_user:
            disabled = self._guard(result, "console_disabled", state.console_disabled, account, user)
        return RiskView(
            history,
            user_failures=by_user.burst if by_user else None,
            ip_failures=by_ip.burst if by_ip else None,
            disabled=disabled,
            user_failures_slow=by_user.slow if by_user else None,
            ip_failures_slow=by_ip.slow if by_ip else None,
            ip_users=by_ip.users if by_ip else None,
        )

    def _iam_view(self, event: CloudTrailEvent, result: EventResult) -> RiskView:
        """Denied calls are counted per caller; AddUserToGroup and CreateLoginProfile ask for the facts
        their escalation rules need (only when they could matter: a successful call)."""
        params = event.params or {}
        if not event.succeeded:
            caller = event.actor_arn or event.actor_name
            if not caller or not _denied(event.error_code):
                return RiskView()
            counted = self._guard(
                result,
                "count_failure",
                self.state.count_failure,
                event.account,
                f"DENIED#{caller}",
                event.at,
                self.policy,
            )
            return RiskView(denied_calls=counted.burst if counted else None)
        facts, account = self.facts, event.account
        if event.event_name == "AddUserToGroup" and facts is not None and (group := params.get("groupName")):
            return RiskView(
                group_admin=self._guard(
                    result, "group_grants_admin", facts.group_grants_admin, account, group
                )
            )
        if event.event_name == "CreateLoginProfile" and event.user:
            deleted = self._guard(
                result, "console_disabled", self.state.console_disabled, account, event.user
            )
            used: bool | None = None
            if facts is not None and deleted is None:
                used = self._guard(
                    result, "signed_in_with_password", facts.signed_in_with_password, account, event.user
                )
            return RiskView(had_console_password=True if deleted is not None else used)
        return RiskView()

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
            result.undelivered = not result.alerted
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


_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Client.UnauthorizedOperation"}
)


def _denied(code: str | None) -> bool:
    return code is not None and code in _DENIED_CODES


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
        self.failed_users: dict[tuple[str, str], dict[datetime, set[str]]] = defaultdict(dict)
        self.alerts: dict[tuple[str, str, str], datetime] = {}
        self.histories: dict[tuple[str, str], SigninHistory] = {}
        #: (account, user) → when and why the lifecycle deleted the console password.
        self.disabled_users: dict[tuple[str, str], tuple[datetime, str]] = {}

    def claim_event(self, account: str, event_id: str, at: datetime) -> bool:
        if (account, event_id) in self.events:
            return False
        self.events.add((account, event_id))
        return True

    def release_event(self, account: str, event_id: str) -> None:
        self.events.discard((account, event_id))

    def count_failure(
        self, account: str, subject: str, at: datetime, policy: RiskPolicy, user: str | None = None
    ) -> Failures:
        buckets = self.failures[(account, subject)]
        bucket = minute_bucket(at)
        buckets[bucket] += 1
        users = self.failed_users[(account, subject)]
        if user:
            users.setdefault(bucket, set()).add(user)
        start, slow_start = window_start(at, policy), slow_window_start(at, policy)
        return Failures(
            burst=sum(n for b, n in buckets.items() if start <= b <= bucket),
            slow=sum(n for b, n in buckets.items() if slow_start <= b <= bucket),
            users=len(set().union(*(u for b, u in users.items() if slow_start <= b <= bucket))),
        )

    def claim_alert(self, account: str, key: str, reason: str, at: datetime, window: timedelta) -> bool:
        last = self.alerts.get((account, key, reason))
        if last is not None and at - last < window:
            return False
        self.alerts[(account, key, reason)] = at
        return True

    def release_alert(self, account: str, key: str, reason: str) -> None:
        self.alerts.pop((account, key, reason), None)

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

    def console_disabled(self, account: str, user: str) -> tuple[datetime, str] | None:
        return self.disabled_users.get((account, user))
