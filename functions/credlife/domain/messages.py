"""What owners and the security team are told: message items built from action outcomes, and the digests
rendered from them. Pure: templates are passed in as strings, time as values; no I/O.

Every item names the user, the credential and key id (never a secret), the exact deadline in UTC, the
reason and its control, and what to do. A dry-run item says what *would* happen. Item ids are
deterministic, so the outbox stores (and sends) each item once however often a run is repeated."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from string import Template
from typing import Any, Final

from credlife.domain.actions import Action, ActionKind, Reason, Severity
from credlife.domain.exemptions import ENDING
from credlife.domain.models import CredentialType
from credlife.domain.owners import Owner

#: Outcome statuses (the executor's) that mean "this happened" (or would have, in dry-run).
_DONE: Final = frozenset({"applied", "dry_run"})
_REPLACED: Final = frozenset({Reason.KEY_REPLACED_SAFE, Reason.KEY_REPLACED_OVERDUE})
#: SNS subjects: at most 100 ASCII characters.
SUBJECT_LIMIT: Final = 100
#: The security summary lists at most this many escalations (SNS messages are limited to 256 KB).
SUMMARY_ITEM_LIMIT: Final = 50


class Audience(StrEnum):
    OWNER = "owner"
    SECURITY = "security"


@dataclass(frozen=True, slots=True)
class MessageItem:
    """One thing to tell one recipient. Stored in the outbox until a channel accepted it."""

    id: str
    audience: Audience
    recipient: str  # an email address (owner), or "security"
    owner: str  # the owner's address, also on security items
    owner_source: str
    user: str
    credential: str
    key_id: str | None
    kind: str  # the action (warn, rotate, ...) or "failed"
    title: str
    deadline: datetime | None
    reason: str
    control: str
    why: str
    todo: str
    dry_run: bool
    severity: str
    created_at: datetime
    #: The recorded notice this item delivers (set by the state store when both are written together):
    #: delivering the item starts that notice's minimum-notice clock.
    notice_ref: str | None = None
    #: The owner was not reached yet in this episode: the deadline is at least `notice_days` after the
    #: item's delivery (a late delivery postpones it, and the item says so).
    moves_with_delivery: bool = False

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["audience"] = self.audience.value
        data["deadline"] = self.deadline.astimezone(UTC).isoformat() if self.deadline else None
        data["created_at"] = self.created_at.astimezone(UTC).isoformat()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MessageItem:
        values = dict(data)
        values["audience"] = Audience(values["audience"])
        values["deadline"] = _parse(values["deadline"]) if values.get("deadline") else None
        values["created_at"] = _parse(values["created_at"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class OutcomeFacts:
    """What the composer needs to know about one executed action (mirrors `ports.Outcome`)."""

    action: Action
    status: str
    detail: str = ""
    new_key_id: str | None = None
    secret_name: str | None = None


def utc(value: datetime) -> str:
    """`2026-03-01 06:00 UTC`: the exact instant, to the minute, always in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def fetch_command(secret_name: str) -> str:
    return f"aws secretsmanager get-secret-value --secret-id {secret_name} --query SecretString --output text"


def who_reads(user: str, reader: str | None) -> str:
    """Whose credentials can run the fetch command: the secret's policy lets only the IAM user itself
    (and the automation) read it, plus a configured reader role. A human owner's own login cannot."""
    also = f", or as {reader} (configured reader)" if reader else ""
    return (
        f"run it with the credentials of the IAM user {user} itself (its current access key){also}; "
        "nobody else may read the secret"
    )


def compose(
    facts: OutcomeFacts, owner: Owner, *, now: datetime, secret_name: str | None
) -> list[MessageItem]:
    """The items one outcome produces: for the owner and/or the security team (possibly none)."""
    action, status = facts.action, facts.status
    kind = action.action
    secret = facts.secret_name or secret_name
    items: list[MessageItem] = []
    if status == "failed":
        return [_security_failure(facts, owner, now)]
    if action.credential not in _KEY_CREDENTIALS:
        return _credential_items(facts, owner, now)
    if kind is ActionKind.WARN and status in _DONE and action.warns_of is not None:
        items.append(_item(facts, owner, now, Audience.OWNER, *_warn_text(action, secret, owner.reader)))
    elif kind in {ActionKind.ROTATE, ActionKind.DEACTIVATE, ActionKind.DELETE} and status in _DONE:
        items.append(_item(facts, owner, now, Audience.OWNER, *_done_text(facts, secret, owner.reader)))
        if kind is ActionKind.DEACTIVATE and action.reason is Reason.KEY_REPLACED_OVERDUE:
            title, todo = _done_text(facts, secret, owner.reader)
            items.append(
                _item(
                    facts,
                    owner,
                    now,
                    Audience.SECURITY,
                    f"overdue: {title}",
                    f"the owner ({owner.address}) did not switch to the new key in time; {todo}",
                )
            )
    elif kind is ActionKind.ALERT and status == "reported":
        title = "needs a human: the automation acts on none of this user's keys"
        todo = (
            "retire one of the two active keys yourself: switch its workload to the other key, then "
            f"`aws iam update-access-key --user-name {action.user} --access-key-id <KEY> --status Inactive` "
            "and later `aws iam delete-access-key`; the next run rotates the remaining key"
        )
        items.append(_item(facts, owner, now, Audience.OWNER, title, todo))
        items.append(_item(facts, owner, now, Audience.SECURITY, f"conflict: {title}", todo))
    elif kind is ActionKind.ADVISE and status == "reported":  # informational: the owner only, once
        items.append(
            _item(facts, owner, now, Audience.OWNER, "advice: " + action.reason.value, action.detail)
        )
    elif kind is ActionKind.BLOCKED and status == "reported":
        title = "rotation is waiting for room under the two-key quota"
        todo = "nothing; or delete the inactive key yourself to let the rotation happen at the next run"
        items.append(_item(facts, owner, now, Audience.OWNER, title, todo))
    elif kind is ActionKind.EXEMPT and status == "reported" and action.stage == ENDING and action.deadline:
        items.append(_item(facts, owner, now, Audience.OWNER, *_exemption_ending_text(action)))
    return items


def _exemption_ending_text(action: Action) -> tuple[str, str]:
    """The one dated notice before an exemption ends: from then on the usual rules apply, each again
    with its own dated notice before anything disruptive."""
    ends = action.deadline or action.due
    return (
        f"exemption ends on {utc(ends)}",
        f"nothing if the exemption may end: from {utc(ends)} the usual lifecycle applies to the "
        "credentials of this user (rotation, deactivation of unused keys), each step announced with its "
        "own date first. If it is still needed, ask the person who approved it for a new end date "
        "before then",
    )


#: Credentials whose messages are the access-key texts below (an exempt user's row is a "user" row).
_KEY_CREDENTIALS: Final = frozenset({CredentialType.ACCESS_KEY, CredentialType.USER})
_KEY_CREDENTIAL_NAMES: Final = frozenset(c.value for c in _KEY_CREDENTIALS)
#: Account-level rows go to the security team only.
_ACCOUNT_CREDENTIALS: Final = frozenset(
    {CredentialType.ROOT, CredentialType.PASSWORD_POLICY, CredentialType.SERVER_CERTIFICATE}
)


def _credential_items(facts: OutcomeFacts, owner: Owner, now: datetime) -> list[MessageItem]:
    """Console password, MFA and account-level rows: one owner item (and a security copy of what
    changed or needs a human); account-level rows go to the security team only."""
    action, status = facts.action, facts.status
    if status not in _DONE | {"reported"}:
        return []
    would = "would be" if action.dry_run else "will be"
    deadline = utc(action.deadline) if action.deadline else "-"
    subject = {
        CredentialType.PASSWORD: "the console password",
        CredentialType.MFA: "the console user without MFA",
    }.get(action.credential, action.credential.value.replace("_", " "))
    todo_mfa = (
        "enable an MFA device: IAM console → Security credentials → Assign MFA device (`aws iam "
        "create-virtual-mfa-device` + `aws iam enable-mfa-device`)"
    )
    if action.action is ActionKind.WARN:
        outcome = {
            ActionKind.ENFORCE: (
                "restricted in console sessions to MFA set-up (require-MFA policy; calls signed with the "
                "user's access keys are not affected)"
            ),
            ActionKind.DEACTIVATE: "set Inactive",
            ActionKind.DELETE: "removed (console password)"
            if action.credential is CredentialType.MFA
            else "deleted",
            ActionKind.ALERT: "reported to the security team",
        }.get(action.warns_of or ActionKind.ALERT, "acted on")
        title = f"{subject}{' ' + action.key_id if action.key_id else ''}: {would} {outcome} on {deadline}"
        if action.reason is Reason.CONSOLE_NO_MFA:
            todo = todo_mfa
        elif action.credential is CredentialType.PASSWORD:
            todo = (
                "sign in to the console before the deadline if the password is still needed; "
                "otherwise nothing"
            )
        else:
            todo = (
                "if it is still needed, create or upload a new one and switch to it before the deadline "
                "(IAM records no last-used date for this credential, so only its age counts)"
            )
        return [_item(facts, owner, now, Audience.OWNER, title, todo)]
    dry = status == "dry_run"
    if action.action is ActionKind.ENFORCE and action.credential is CredentialType.MFA:
        title = (
            f"{subject}: {'would be' if dry else 'is now'} restricted in console sessions to MFA set-up "
            "(require-MFA policy; access keys not affected)"
        )
        items = [
            _item(facts, owner, now, Audience.OWNER, title, f"{todo_mfa}; the restriction is lifted at once")
        ]
        return [*items, _item(facts, owner, now, Audience.SECURITY, title, "nothing; the owner was told")]
    if action.action is ActionKind.LIFT:
        cause = {
            Reason.CONSOLE_PASSWORD_REMOVED: "console password removed",
            Reason.MFA_ENFORCEMENT_EXEMPT: "user exempt",
        }.get(action.reason, "MFA enabled")
        title = f"{cause}: the require-MFA restriction {'would be' if dry else 'was'} lifted"
        return [_item(facts, owner, now, Audience.OWNER, title, "nothing")]
    if action.action is ActionKind.DEACTIVATE:
        title = f"{subject} {action.key_id or ''}: {'would be' if dry else 'was'} set Inactive"
        todo = "create or upload a new one if you still need access; the inactive one is deleted later"
        return [_item(facts, owner, now, Audience.OWNER, title, todo)]
    if action.action is ActionKind.DELETE and action.credential not in {
        CredentialType.PASSWORD,
        CredentialType.MFA,
    }:
        title = f"{subject} {action.key_id or ''}: {'would be' if dry else 'was'} deleted"
        return [_item(facts, owner, now, Audience.OWNER, title, "nothing; it had been inactive")]
    if action.action is ActionKind.DELETE:
        title = f"{subject}: the console password {'would be' if dry else 'was'} deleted"
        todo = "ask an administrator for a new console password if you need console access (then enable MFA)"
        return [
            _item(facts, owner, now, Audience.OWNER, title, todo),
            _item(facts, owner, now, Audience.SECURITY, title, "nothing; the owner was told"),
        ]
    if action.action is ActionKind.ENFORCE:
        title = f"account password policy {'would be' if dry else 'was'} set to the baseline"
        return [_item(facts, owner, now, Audience.SECURITY, title, "nothing; review the new policy")]
    if action.action is ActionKind.ALERT:
        todo = {
            Reason.PASSWORD_RESET_PENDING: (
                "ask the user to sign in and set their password, or delete the login profile"
            ),
            Reason.PASSWORD_POLICY_WEAK: "set the account password policy to the baseline (or enforce it)",
            Reason.SERVER_CERT_EXPIRING: "upload a renewed certificate and switch the load balancers to it",
            Reason.SERVER_CERT_EXPIRED: "delete the expired certificate once nothing uses it",
            Reason.CONSOLE_NO_MFA: todo_mfa,
        }.get(action.reason, "act on it: the automation never changes the root user")
        items = [_item(facts, owner, now, Audience.SECURITY, action.detail[:200], todo)]
        if action.credential not in _ACCOUNT_CREDENTIALS:
            items.append(_item(facts, owner, now, Audience.OWNER, action.detail[:200], todo))
        return items
    return []


def _warn_text(action: Action, secret: str | None, reader: str | None = None) -> tuple[str, str]:
    would = "would be" if action.dry_run else "will be"
    deadline = utc(action.deadline) if action.deadline else "-"
    fetch = f" `{fetch_command(secret)}`" if secret else " from Secrets Manager"
    fetch += f" ({who_reads(action.user, reader)})"
    if action.warns_of is ActionKind.ROTATE:
        return (
            f"{would} rotated on {deadline}",
            "nothing yet. On that day a new key is created and stored in Secrets Manager; then fetch it "
            f"with{fetch}, switch your workload to it, and stop using the old key",
        )
    if action.warns_of is ActionKind.DEACTIVATE and action.reason in _REPLACED:
        return (
            f"{would} deactivated on {deadline} (it has been replaced)",
            f"switch your workload to the new key (fetch it with{fetch}); the old key is deactivated as soon "
            "as the new key is in use and the old one idle, at the latest on the deadline",
        )
    if action.warns_of is ActionKind.DEACTIVATE:
        return (
            f"{would} deactivated on {deadline} because it is unused",
            "if the key is still needed, use it before the deadline (any signed API call counts) or "
            "ask the security team for an exemption; otherwise nothing: it is deactivated, and deleted later",
        )
    return (
        f"{would} deleted on {deadline} (it is inactive)",
        "nothing if the key is no longer needed; if it is, re-activate and use it before the deadline",
    )


def _done_text(facts: OutcomeFacts, secret: str | None, reader: str | None = None) -> tuple[str, str]:
    action = facts.action
    reads = who_reads(action.user, reader)
    dry = facts.status == "dry_run"
    when = utc(action.due)
    if action.action is ActionKind.ROTATE:
        new = facts.new_key_id or "(new key)"
        deadline = utc(action.deadline) if action.deadline else "-"
        name = secret or "(your secret)"
        if dry:
            title = f"would be rotated now: a new key would be stored in secret {name}"
        else:
            title = f"was rotated: new key {new} is stored in secret {name}"
        return (
            title,
            f"fetch the new key with `{fetch_command(name)}` ({reads}), switch your workload to it and "
            f"stop using the old key; the old key {'would be' if dry else 'is'} deactivated once unused, "
            f"at the latest on {deadline}",
        )
    if action.action is ActionKind.DEACTIVATE:
        verb = "would be deactivated" if dry else "was deactivated"
        todo = (
            f"if a workload broke, switch it to the new key (`{fetch_command(secret)}`; {reads})"
            if secret and action.reason in _REPLACED
            else "if a workload still needs this key, tell the security team now: it is deleted later"
        )
        return f"{verb} ({when})", todo
    verb = "would be deleted" if dry else "was deleted"
    return f"{verb} ({when})", "nothing; this key is gone for good"


def _item(
    facts: OutcomeFacts, owner: Owner, now: datetime, audience: Audience, title: str, todo: str
) -> MessageItem:
    action = facts.action
    deadline = (
        action.deadline
        if action.action in {ActionKind.WARN, ActionKind.ROTATE, ActionKind.EXEMPT}
        else action.due
    )
    return MessageItem(
        id=_item_id(action, audience),
        audience=audience,
        recipient=owner.address if audience is Audience.OWNER else Audience.SECURITY.value,
        owner=owner.address,
        owner_source=owner.source,
        user=action.user,
        credential=action.credential.value,
        key_id=action.key_id,
        kind=action.action.value,
        title=title,
        deadline=deadline,
        reason=action.reason.value,
        control=action.control,
        why=action.detail,
        todo=todo,
        dry_run=action.dry_run,
        severity=action.severity.value,
        created_at=now,
        moves_with_delivery=(
            audience is Audience.OWNER
            and action.opens_notice
            and action.action in {ActionKind.WARN, ActionKind.ROTATE}
        ),
    )


def postponed(item: MessageItem, *, delivered_at: datetime, notice: timedelta) -> MessageItem:
    """The item as it goes out at `delivered_at`: an owner's first notice of an episode that could not
    be delivered in time announces the deadline the planner keeps, `notice` after this delivery."""
    if not item.moves_with_delivery or item.deadline is None:
        return item
    earliest = delivered_at + notice
    if item.deadline >= earliest:
        return item
    old, new = utc(item.deadline), utc(earliest)
    return _replace(
        item,
        deadline=earliest,
        title=item.title.replace(old, new),
        todo=item.todo.replace(old, new),
        why=f"{item.why}; this notice could not be delivered earlier: the deadline moved from {old} to {new}",
    )


def _security_failure(facts: OutcomeFacts, owner: Owner, now: datetime) -> MessageItem:
    action = facts.action
    base = _item(
        facts,
        owner,
        now,
        Audience.SECURITY,
        f"{action.action.value} FAILED: {facts.detail}"[:300],
        "look at the audit trail and the function's logs; the next run tries again",
    )
    failure_id = f"failed|{_item_id(action, Audience.SECURITY)}|{now.astimezone(UTC):%Y-%m-%d}"
    return _replace(base, id=failure_id, kind="failed", severity=Severity.HIGH.value)


def _replace(item: MessageItem, **changes: Any) -> MessageItem:
    data = {name: getattr(item, name) for name in MessageItem.__slots__}
    data.update(changes)
    return MessageItem(**data)


def _item_id(action: Action, audience: Audience) -> str:
    created = (
        action.key_created.astimezone(UTC).replace(microsecond=0).isoformat() if action.key_created else "-"
    )
    if action.credential not in _KEY_CREDENTIALS:  # e.g. `password:<created>`, `server_certificate:<name>`
        created = f"{action.credential.value}:{action.key_id or created}"
        if action.action is ActionKind.ALERT and action.stage:
            created += f":{action.stage}"
    mode = "dry" if action.dry_run else "live"
    if action.action is ActionKind.WARN:
        deadline = action.deadline.astimezone(UTC).isoformat() if action.deadline else "-"
        what = f"warn:{action.warns_of.value if action.warns_of else '-'}:{action.stage}:{deadline}"
    elif action.action is ActionKind.EXEMPT and action.deadline:  # once per exemption end date
        what = f"exempt:{action.reason.value}:{action.deadline.astimezone(UTC).isoformat()}"
    else:
        what = f"{action.action.value}:{action.reason.value}"
    return f"{audience.value}|{action.user}|{created}|{what}|{mode}"


# -- rendering ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Templates:
    """`string.Template` sources (kept as files in `credlife/templates`)."""

    digest_text: str
    digest_html: str
    item_text: str
    item_html: str


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    recipient: str
    subject: str
    text: str
    html: str


def render_digest(
    recipient: str,
    items: Sequence[MessageItem],
    templates: Templates,
    *,
    account_id: str,
    now: datetime,
    security_email: str,
) -> RenderedEmail:
    """One email for one owner: every pending item, soonest deadline first."""
    ordered = sorted(items, key=lambda i: (i.deadline or i.created_at, i.user, i.key_id or ""))
    dry = all(i.dry_run for i in ordered)
    deadlines = [i.deadline for i in ordered if i.deadline is not None and i.kind == "warn"]
    keys_only = all(i.credential in _KEY_CREDENTIAL_NAMES for i in ordered)
    noun = "access-key" if keys_only else "credential"
    subject = f"[credlife{' dry-run' if dry else ''}] {len(ordered)} {noun} notice(s) for you"
    if deadlines:
        subject += f", earliest deadline {min(deadlines).astimezone(UTC):%Y-%m-%d}"
    intro = (
        "This is a DRY RUN: nothing was changed; each notice says what the automation would do."
        if dry
        else f"The credential-lifecycle automation has news about IAM {noun}s you own."
    )
    common = {
        "account_id": account_id,
        "now": utc(now),
        "security_email": security_email,
        "count": str(len(ordered)),
    }
    text_items = "\n".join(_fill(templates.item_text, _item_values(i, escape=False)) for i in ordered)
    html_items = "\n".join(_fill(templates.item_html, _item_values(i, escape=True)) for i in ordered)
    text = _fill(templates.digest_text, {**common, "intro": intro, "items": text_items})
    body = _fill(
        templates.digest_html,
        {**{k: html.escape(v) for k, v in common.items()}, "intro": html.escape(intro), "items": html_items},
    )
    return RenderedEmail(recipient, subject, text, body)


def _item_values(item: MessageItem, *, escape: bool) -> dict[str, str]:
    is_key = item.credential in _KEY_CREDENTIAL_NAMES
    title = (
        f"Access key {item.key_id or ''} of {item.user} {item.title}"
        if is_key
        else f"{item.user}: {item.title}"
    )
    values = {
        "user": item.user,
        "credential": item.credential.replace("_", " "),
        "key_id": item.key_id or ("(id not known yet)" if is_key else ""),
        "title": title.replace("  ", " "),
        "deadline": utc(item.deadline) if item.deadline else "-",
        "reason": item.reason,
        "control": item.control,
        "why": item.why or "-",
        "todo": item.todo,
        "mode": "DRY RUN (nothing changed)" if item.dry_run else "live",
    }
    return {k: html.escape(v) for k, v in values.items()} if escape else values


def _fill(template: str, values: Mapping[str, str]) -> str:
    return Template(template).substitute(values)


def security_summary(
    *,
    account_id: str,
    run_id: str,
    now: datetime,
    dry_run: bool,
    users: int,
    outcomes: Mapping[str, int],
    failures: Sequence[str],
    escalations: Sequence[MessageItem],
    undelivered: int,
    owner_digests: int,
) -> tuple[str, str]:
    """The run summary for the security topic: a short subject and a JSON message."""
    shown = sorted(escalations, key=lambda i: (i.severity != "critical", i.user))[:SUMMARY_ITEM_LIMIT]
    message = {
        "type": "credlife.run_summary",
        "account_id": account_id,
        "run_id": run_id,
        "at": now.astimezone(UTC).isoformat(),
        "dry_run": dry_run,
        "users_scanned": users,
        "outcomes": dict(outcomes),
        "owner_digests_sent": owner_digests,
        "undelivered_messages": undelivered,
        "failures": list(failures)[:SUMMARY_ITEM_LIMIT],
        "escalations": [_escalation(i) for i in shown],
        "escalations_not_shown": max(0, len(escalations) - len(shown)),
    }
    parts = [f"{len(escalations)} escalation(s)"] if escalations else []
    if failures:
        parts.append(f"{len(failures)} failure(s)")
    if undelivered:
        parts.append(f"{undelivered} undelivered")
    subject = f"credlife {account_id}{' dry-run' if dry_run else ''}: " + (", ".join(parts) or "run summary")
    ascii_subject = subject.encode("ascii", "replace").decode("ascii")[:SUBJECT_LIMIT]
    return ascii_subject, json.dumps(message, sort_keys=True)


def mfa_lift_notice(
    *, user: str, account_id: str, at: datetime, owner: Owner, security_email: str, dry_run: bool
) -> tuple[str, str]:
    """The owner's short email when `EnableMFADevice` lifted the require-MFA restriction at once (the event
    function; the digest never repeats it): subject and text. Names the user, the account and the event's
    time in UTC; no secret, no device serial."""
    verb = "would be lifted" if dry_run else "was lifted"
    subject = f"[credlife{' dry-run' if dry_run else ''}] MFA enforcement for {user} {verb} ({account_id})"
    lines = [
        "Hello,",
        "",
        *(["This is a DRY RUN: nothing was changed.", ""] if dry_run else []),
        f"MFA enforcement for the IAM user {user} in AWS account {account_id} {verb} because an MFA",
        f"device was enabled at {utc(at)}. The user's console access is no longer restricted to MFA set-up.",
        f"You are told as the user's owner ({owner.source}).",
        "",
        "If this wasn't you (or someone you expected), contact the security team at once:",
        f"{security_email}.",
        "",
        "--",
        "credential-lifecycle. This email never contains a secret.",
    ]
    ascii_subject = subject.encode("ascii", "replace").decode("ascii")[:SUBJECT_LIMIT]
    return ascii_subject, "\n".join(lines)


def _escalation(item: MessageItem) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "severity": item.severity,
        "user": item.user,
        "owner": item.owner,
        "owner_source": item.owner_source,
        "key_id": item.key_id,
        "what": item.title,
        "deadline": utc(item.deadline) if item.deadline else None,
        "reason": item.reason,
        "control": item.control,
        "todo": item.todo,
        "dry_run": item.dry_run,
    }


def group_by_recipient(items: Iterable[MessageItem]) -> dict[str, list[MessageItem]]:
    grouped: dict[str, list[MessageItem]] = {}
    for item in items:
        grouped.setdefault(item.recipient, []).append(item)
    return grouped


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"datetime without a time zone: {value!r}")
    return parsed.astimezone(UTC)
