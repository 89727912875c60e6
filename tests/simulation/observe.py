"""What the simulation sees from the outside: IAM as moto holds it, the emails SES accepted, the security
topic's messages, the state table's rows, the handed-over secrets and everything logged. Nothing here
reads the project's own objects."""

from __future__ import annotations

import email
import email.policy
import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.iam.models import iam_backends
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from tests.simulation.world import REGION


@dataclass(frozen=True)
class UserState:
    keys: dict[str, str]  # key id → Active / Inactive
    password: bool
    policies: frozenset[str]
    ssh: dict[str, str]  # SSH key id → status
    mfa: bool


def iam_state(account_id: str) -> dict[str, UserState]:
    """Every user's credentials, read from moto's stored state (no API call: fast and side-effect free)."""
    users = iam_backends[account_id]["global"].users
    return {
        name: UserState(
            keys={k.access_key_id: k.status for k in u.access_keys},
            password=u.password is not None,
            policies=frozenset(u.managed_policies),
            ssh={s.ssh_public_key_id: s.status for s in u.ssh_public_keys},
            mfa=bool(u.mfa_devices),
        )
        for name, u in users.items()
    }


def key_secrets(account_id: str) -> dict[str, str]:
    """Secret access key → its key id, for every key that exists now."""
    return {
        k.secret_access_key: k.access_key_id
        for u in iam_backends[account_id]["global"].users.values()
        for k in u.access_keys
    }


@dataclass(frozen=True)
class Change:
    """One change a run made to IAM (owners never act during a run, so every change is the project's)."""

    user: str
    kind: str  # create_key, deactivate, delete, reactivate, delete_password, enforce_mfa, lift_mfa,
    #            ssh_inactive, ssh_delete
    credential: str  # access_key / password / mfa / ssh_key
    cred_id: str | None

    @property
    def disruptive(self) -> bool:
        return self.kind in {
            "deactivate",
            "delete",
            "delete_password",
            "enforce_mfa",
            "ssh_inactive",
            "ssh_delete",
        }

    def label(self) -> str:
        return f"{self.user} {self.credential} {self.cred_id or ''}".strip()


def diff(before: dict[str, UserState], after: dict[str, UserState], mfa_policy_arn: str) -> list[Change]:
    changes: list[Change] = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old is None or new is None:
            changes.append(Change(name, "user_changed", "user", None))
            continue
        for key_id in sorted(set(old.keys) | set(new.keys)):
            was, now = old.keys.get(key_id), new.keys.get(key_id)
            if was == now:
                continue
            if was is None:
                changes.append(Change(name, "create_key", "access_key", key_id))
            elif now is None:
                changes.append(Change(name, "delete", "access_key", key_id))
            elif now == "Inactive":
                changes.append(Change(name, "deactivate", "access_key", key_id))
            else:
                changes.append(Change(name, "reactivate", "access_key", key_id))
        if old.password and not new.password:
            changes.append(Change(name, "delete_password", "password", None))
        if mfa_policy_arn in new.policies and mfa_policy_arn not in old.policies:
            changes.append(Change(name, "enforce_mfa", "mfa", None))
        if mfa_policy_arn in old.policies and mfa_policy_arn not in new.policies:
            changes.append(Change(name, "lift_mfa", "mfa", None))
        for ssh_id in sorted(set(old.ssh) | set(new.ssh)):
            was, now = old.ssh.get(ssh_id), new.ssh.get(ssh_id)
            if was == now:
                continue
            if now is None:
                changes.append(Change(name, "ssh_delete", "ssh_key", ssh_id))
            elif now == "Inactive":
                changes.append(Change(name, "ssh_inactive", "ssh_key", ssh_id))
            else:
                changes.append(Change(name, "ssh_other", "ssh_key", ssh_id))
    return changes


# -- delivered notices ---------------------------------------------------------------------------------

_DEADLINE = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC")


@dataclass(frozen=True)
class Notice:
    """One item of an email SES accepted."""

    sent: datetime
    recipient: str
    user: str
    credential: str  # access_key / password / mfa / ssh_key / ...
    cred_id: str | None
    title: str
    deadline: datetime | None
    live: bool
    announces: str | None  # deactivate / delete / enforce / rotate, for warnings; None for reports
    unused: bool  # the warning's reason is disuse ("use it before the deadline")
    new_key: str | None  # a rotation message: the key handed over

    def names(self, credential: str, cred_id: str | None) -> bool:
        return self.credential == credential and (cred_id is None or self.cred_id == cred_id)


def _announces(title: str) -> str | None:
    lower = title.lower()
    if "was rotated" in lower:
        return "deactivate"  # the rotation message announces the old key's deactivation deadline
    if not any(word in lower for word in ("will be", "would be", "postponed", "moved to", "new deadline")):
        return None  # a report of what happened, not a warning
    if "restricted" in lower and "mfa" in lower:
        return "enforce"
    if "rotated on" in lower:
        return "rotate"
    if "deactivated" in lower or "set inactive" in lower:
        return "deactivate"
    if "deleted" in lower or "removed (console password)" in lower:
        return "delete"
    return None


def parse_email(raw: str, sent: datetime) -> list[Notice]:
    message = email.message_from_string(raw, policy=email.policy.default)
    recipient = str(message["To"])
    text = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text = str(part.get_content())
            break
    notices = []
    for block in re.split(r"\n(?=\* )", text):
        if not block.startswith("* "):
            continue
        lines = block.splitlines()
        title = lines[0][2:]
        fields: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.strip().partition(":")
            if value:
                fields.setdefault(name.strip(), value.strip())
        credential_text = fields.get("Credential", "")
        credential, cred_id = _credential(credential_text)
        found = _DEADLINE.search(fields.get("Deadline", ""))
        deadline = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC) if found else None
        new_key = re.search(r"new key (AKIA[A-Z0-9]+|[A-Z0-9]{16,})", title)
        notices.append(
            Notice(
                sent=sent,
                recipient=recipient,
                user=fields.get("User", ""),
                credential=credential,
                cred_id=cred_id,
                title=title,
                deadline=deadline,
                live=fields.get("Mode", "").startswith("live"),
                announces=_announces(title),
                unused=("unused" in title.lower()),
                new_key=new_key.group(1) if new_key else None,
            )
        )
    return notices


def _credential(text: str) -> tuple[str, str | None]:
    """`access key AKIA…` → ("access_key", "AKIA…"); `password` → ("password", None)."""
    parts = text.split()
    for known in (
        "access key",
        "ssh key",
        "service credential",
        "signing certificate",
        "password",
        "mfa",
        "user",
    ):
        if text.startswith(known):
            rest = text[len(known) :].strip()
            ident = rest if rest and not rest.startswith("(") else None
            return known.replace(" ", "_"), ident
    return (parts[0] if parts else ""), None


def new_emails(account_id: str, seen: int) -> list[tuple[str, str]]:
    """(recipient, raw MIME text) of every email SES accepted after the first `seen`."""
    sent = ses_backends[account_id][REGION].sent_messages
    found = []
    for message in sent[seen:]:
        raw = getattr(message, "raw_data", None)
        if raw is None:  # a simple (non-raw) email: rebuild enough to read it
            raw = f"To: {', '.join(message.destinations.get('ToAddresses', []))}\n\n{message.body}"
        found.append((",".join(getattr(message, "destinations", []) or []), raw))
    return found


def email_count(account_id: str) -> int:
    return len(ses_backends[account_id][REGION].sent_messages)


def topic_messages(account_id: str, topic_arn: str) -> list[str]:
    topic = sns_backends[account_id][REGION].topics.get(topic_arn)
    if topic is None:
        return []
    return [f"{subject}\n{message}" for _, message, subject, *_ in topic.sent_notifications]


def table_items(
    account_id: str, table: str, *, partitions: tuple[str, ...] | None = None, since: str = ""
) -> list[dict[str, Any]]:
    """Items of the state table as plain values, read from moto's store (no API call); only those of the
    given partitions (`AUDIT`, `OUTBOX`, `ACCOUNT`) with a sort key from `since` on, when given."""
    stored = dynamodb_backends[account_id][REGION].get_table(table)
    found = []
    for hash_key, by_range in stored.items.items():
        pk = str(getattr(hash_key, "value", hash_key))
        if partitions is not None and not pk.startswith(partitions):
            continue
        for range_key, item in by_range.items():
            if since and str(getattr(range_key, "value", range_key)) < since:
                continue
            found.append(item.to_json()["Attributes"])
    return found


def table_size(account_id: str, table: str) -> int:
    stored = dynamodb_backends[account_id][REGION].get_table(table)
    return sum(len(by_range) for by_range in stored.items.values())


def audit_rows(items: list[dict[str, Any]], account_id: str, since: datetime) -> list[dict[str, Any]]:
    """The audit rows written at or after `since` (their `at`), decoded."""
    rows = []
    cutoff = since.astimezone(UTC).isoformat()
    for item in items:
        if item.get("pk", {}).get("S") != f"AUDIT#{account_id}":
            continue
        if item["sk"]["S"] < cutoff[:19]:
            continue
        rows.append(
            {
                "at": item["at"]["S"],
                "phase": item["phase"]["S"],
                "run_id": item["run_id"]["S"],
                "action": json.loads(item["action"]["S"]),
                "outcome": item.get("outcome", {}).get("S", ""),
                "detail": item.get("detail", {}).get("S", ""),
            }
        )
    return rows


# -- logs ----------------------------------------------------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.parts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.parts.append(record.getMessage())
        except Exception:  # a bad format string is still captured raw
            self.parts.append(str(record.msg))
        self.parts.append(repr(record.args))
        self.parts.append(repr({k: v for k, v in vars(record).items() if k not in {"msg", "args"}}))
        if record.exc_info and record.exc_info[1] is not None:
            self.parts.append(repr(record.exc_info[1]))


@dataclass
class LogTap:
    """Everything logged during the simulation: the records of every logger (at DEBUG for the project's,
    INFO for the libraries') and what the Powertools handlers wrote to their stream."""

    capture: _Capture = field(default_factory=_Capture)
    stream: io.StringIO = field(default_factory=io.StringIO)

    def drain(self) -> str:
        text = "\n".join([self.stream.getvalue(), *self.capture.parts])
        self.capture.parts.clear()
        self.stream.seek(0)
        self.stream.truncate()
        return text


@contextmanager
def tapped() -> Iterator[LogTap]:
    """Capture every log record of the project (at DEBUG) and the libraries' warnings while the simulation
    runs. The project's records stop at its own logger meanwhile, so a test runner's log capture does not
    keep thousands of runs' records in memory."""
    tap = LogTap()
    project = logging.getLogger("credlife")
    root = logging.getLogger()
    streams = [
        h
        for h in project.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    previous = [h.setStream(tap.stream) for h in streams]
    old_level, old_propagate = project.level, project.propagate
    project.setLevel(logging.DEBUG)
    project.propagate = False
    project.addHandler(tap.capture)
    root.addHandler(tap.capture)
    try:
        yield tap
    finally:
        root.removeHandler(tap.capture)
        project.removeHandler(tap.capture)
        project.setLevel(old_level)
        project.propagate = old_propagate
        for handler, old in zip(streams, previous, strict=True):
            if old is not None:
                handler.setStream(old)
