"""Small builders for domain snapshots in tests. Time is always explicit: ages are days before `NOW`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from credlife.domain.models import AccessKey, AccountSnapshot, KeyRecord, KeyStatus, Notice, User, key_ref

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
#: The columns of IAM's credential report, in order (for hand-built report rows).
REPORT_HEADER = [
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
]


def days(n: float) -> timedelta:
    return timedelta(days=n)


def key(
    age: float,
    used_ago: float | None = None,
    *,
    active: bool = True,
    key_id: str | None = None,
    now: datetime = NOW,
) -> AccessKey:
    """A key created `age` days before `now`, last used `used_ago` days before (None: never)."""
    return AccessKey(
        created=now - days(age),
        status=KeyStatus.ACTIVE if active else KeyStatus.INACTIVE,
        last_used=None if used_ago is None else now - days(used_ago),
        key_id=key_id,
    )


def user(
    name: str = "alice",
    *keys: AccessKey,
    path: str = "/",
    tags: Mapping[str, str] | None = None,
) -> User:
    return User(
        name=name,
        arn=f"arn:aws:iam::{ACCOUNT}:user{path}{name}",
        path=path,
        tags=dict(tags or {}),
        access_keys=tuple(keys),
    )


def notice(
    warns_of: str, stage: str, sent_ago: float, deadline: datetime, *, dry_run: bool = False
) -> Notice:
    """A notice recorded `sent_ago` days before NOW and delivered to its owner at once."""
    sent_at = NOW - days(sent_ago)
    return Notice(
        warns_of=warns_of,
        stage=stage,
        sent_at=sent_at,
        deadline=deadline,
        dry_run=dry_run,
        delivered_at=sent_at,
    )


def snapshot(
    users: Iterable[User], records: Iterable[KeyRecord] = (), now: datetime = NOW
) -> AccountSnapshot:
    return AccountSnapshot(
        account_id=ACCOUNT,
        taken_at=now,
        users=tuple(users),
        records={key_ref(r.user, r.key_created): r for r in records},
    )
