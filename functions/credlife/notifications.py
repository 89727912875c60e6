"""Telling people, once: outcomes → message items (stored in the outbox) → one digest per owner and one
run summary for the security team.

Application layer (no boto3): the state store keeps the outbox, the notifier owns the channels.

1. `queue`: every outcome worth telling becomes message items (`domain.messages.compose`) addressed to the
   user's owner (`domain.owners.resolve_owner`) and/or the security team; each is stored once by its
   deterministic id, undelivered, and audited with the owner and how the owner was found.
2. `deliver`: every pending item of the account (this run's and any earlier run's undelivered ones) goes
   out: one digest per owner, one summary on the security topic. Items a channel accepted are marked
   delivered (never sent again); a failed send leaves them pending, counted, for the next run. One owner's
   failed send never stops the others.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from credlife.aws.errors import AwsError
from credlife.domain.actions import CHANGING_KINDS
from credlife.domain.messages import (
    Audience,
    MessageItem,
    OutcomeFacts,
    Templates,
    compose,
    group_by_recipient,
    postponed,
    render_digest,
    security_summary,
)
from credlife.domain.models import User
from credlife.domain.owners import OwnerRules, resolve_owner
from credlife.ports import (
    AuditEntry,
    NotifierPort,
    Outcome,
    OutgoingMessage,
    RunSummary,
    StateStorePort,
    Undeliverable,
)

log = logging.getLogger("credlife.notifications")


class NotificationService:
    def __init__(
        self,
        *,
        state: StateStorePort,
        notifier: NotifierPort,
        rules: OwnerRules,
        templates: Templates,
        secret_name: Callable[[str], str] | None = None,
        notice_days: int = 7,
    ) -> None:
        #: A first notice delivered late announces a deadline at least this long after its delivery.
        self.notice = timedelta(days=notice_days)
        self.state = state
        self.notifier = notifier
        self.rules = rules
        self.templates = templates
        self._secret_name = secret_name

    def items_for(self, user: User, outcome: Outcome, now: datetime) -> list[MessageItem]:
        """The message items of one outcome, addressed (the executor stores a notice's items with it)."""
        owner = resolve_owner(user, self.rules)
        facts = OutcomeFacts(
            outcome.action, outcome.status, outcome.detail, outcome.new_key_id, outcome.secret_name
        )
        return compose(facts, owner, now=now, secret_name=self._secret(user.name))

    def queue(
        self, summary: RunSummary, users: Mapping[str, User], outcomes: Sequence[Outcome], now: datetime
    ) -> int:
        """Store the message items of `outcomes` (those not already stored with their notice); returns how
        many were new."""
        queued = 0
        for outcome in outcomes:
            if outcome.action.repeat:  # its items were stored when its episode was first audited
                continue
            name = outcome.action.user
            owner = resolve_owner(users.get(name) or User(name=name, arn=""), self.rules)
            facts = OutcomeFacts(
                outcome.action, outcome.status, outcome.detail, outcome.new_key_id, outcome.secret_name
            )
            for item in compose(facts, owner, now=now, secret_name=self._secret(name)):
                # items stored with their notice (one transaction) are only audited here
                if not outcome.messages_stored and not self.state.enqueue_message(summary.account_id, item):
                    continue
                queued += 1
                self._audit(
                    summary,
                    now,
                    outcome.action.as_row(),
                    "queued",
                    f"to={item.recipient}; owner={owner.address} ({owner.source}); item={item.id}",
                )
        summary.messages_queued += queued
        return queued

    def deliver(self, summary: RunSummary, now: datetime) -> None:
        account = summary.account_id
        pending = [
            postponed(i, delivered_at=now, notice=self.notice) for i in self.state.pending_messages(account)
        ]
        owner_items = [i for i in pending if i.audience is Audience.OWNER]
        security_items = [i for i in pending if i.audience is Audience.SECURITY]
        for recipient, items in group_by_recipient(owner_items).items():
            email = render_digest(
                recipient,
                items,
                self.templates,
                account_id=account,
                now=now,
                security_email=self.rules.security_email,
            )
            message = OutgoingMessage(recipient, email.subject, email.text, email.html)
            if self._send(summary, now, items, functools.partial(self.notifier.to_owner, message), recipient):
                summary.digests_sent += 1
        changed = any(o.action.action in CHANGING_KINDS and o.status == "applied" for o in summary.outcomes)
        if not (security_items or summary.failures or summary.undelivered or summary.digests_sent or changed):
            return  # a quiet run: nothing new for the security team either
        subject, body = security_summary(
            account_id=account,
            run_id=summary.run_id,
            now=now,
            dry_run=summary.dry_run,
            users=summary.users,
            outcomes=_counts(summary),
            failures=summary.failures,
            escalations=security_items,
            undelivered=summary.undelivered,
            owner_digests=summary.digests_sent,
        )
        message = OutgoingMessage("security", subject, body, json_body=body)
        summary.summary_published = self._send(
            summary, now, security_items, lambda: self.notifier.to_security(message), "security"
        )

    # -- helpers -------------------------------------------------------------------------------------

    def _send(
        self,
        summary: RunSummary,
        now: datetime,
        items: Sequence[MessageItem],
        send: Callable[[], str],
        recipient: str,
    ) -> bool:
        ids = [i.id for i in items]
        try:
            receipt = send()
        except Exception as error:  # one recipient's failure never stops the others
            reason = _safe(error)
            summary.undelivered += len(items)
            notices = sum(1 for i in items if i.notice_ref)
            if notices:
                summary.failures.append(
                    f"owner {recipient} could not be reached ({reason}): {notices} notice(s) wait; nothing "
                    f"they announce happens until {self.notice.days} days after delivery; retried next run"
                )
            else:
                summary.failures.append(f"notification to {recipient} failed ({reason}); retried next run")
            log.warning("send failed", extra={"recipient": recipient, "items": len(items), "error": reason})
            row = {"action": "notify", "user": "-", "recipient": recipient}
            self._audit(summary, now, row, "failed", reason)
            try:
                self.state.mark_failed(summary.account_id, ids, at=now, error=reason)
            except Exception:
                log.exception("could not count the failed attempt", extra={"recipient": recipient})
            return False
        try:
            # the notices first: an item marked delivered whose notice is not would never count
            for item in items:
                if item.notice_ref:
                    self.state.mark_notice_delivered(summary.account_id, item.notice_ref, at=now)
        except Exception:  # the items stay pending: sent again next run, counted from that delivery
            log.exception("delivered but the notice not marked delivered", extra={"recipient": recipient})
            summary.failures.append(
                f"notification to {recipient} sent but its notices not recorded as delivered"
            )
            return True
        try:
            self.state.mark_delivered(summary.account_id, ids, at=now, receipt=receipt)
        except Exception:  # sent but not marked: the next run may send these items once more
            log.exception("delivered but not marked delivered", extra={"recipient": recipient})
            summary.failures.append(f"notification to {recipient} sent but not recorded as delivered")
        self._audit(
            summary,
            now,
            {"action": "notify", "user": "-", "recipient": recipient},
            "delivered",
            f"{len(items)} item(s); receipt {receipt}",
        )
        return True

    def _audit(
        self, summary: RunSummary, now: datetime, row: Mapping[str, object], outcome: str, detail: str
    ) -> None:
        try:
            self.state.write_audit(
                summary.account_id,
                AuditEntry(
                    at=now, phase="notice", run_id=summary.run_id, action=row, outcome=outcome, detail=detail
                ),
            )
        except Exception:
            log.exception("notification audit not written")

    def _secret(self, user: str) -> str | None:
        if self._secret_name is None:
            return None
        try:
            return self._secret_name(user)
        except ValueError:
            return None


def _counts(summary: RunSummary) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in summary.outcomes:
        label = f"{outcome.action.action.value}:{outcome.status}"
        counts[label] = counts.get(label, 0) + 1
    return counts


def _safe(error: BaseException) -> str:
    return str(error) if isinstance(error, AwsError | Undeliverable) else type(error).__name__
