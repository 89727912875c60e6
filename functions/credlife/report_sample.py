"""A synthetic account of any size, planned and built into a report: for looking at the report page at 20
or 5,000 users (scripts/report_screenshots.py) and for checking that its layout stays bounded (tests).

Pure and deterministic: user i's keys, passwords, tags and exemptions follow from i alone."""

from __future__ import annotations

from datetime import datetime, timedelta

from credlife.domain.models import AccessKey, AccountSnapshot, KeyStatus, LoginProfile, User
from credlife.domain.owners import OwnerRules, resolve_owner
from credlife.domain.planner import plan
from credlife.domain.policy import Policy
from credlife.report import Report, build_report

ACCOUNT = "123456789012"
_TEAMS = ("payments", "search", "platform", "data", "identity", "mobile", "web", "ml")


def sample_users(count: int, now: datetime) -> tuple[User, ...]:
    users = []
    for i in range(count):
        team = _TEAMS[i % len(_TEAMS)]
        age = (i * 37) % 400  # key ages spread over 0..399 days
        used = None if i % 11 == 0 else (i * 13) % 120
        keys = [
            AccessKey(
                created=now - timedelta(days=age, hours=i % 24),
                status=KeyStatus.INACTIVE if i % 17 == 0 else KeyStatus.ACTIVE,
                last_used=None if used is None else now - timedelta(days=used),
                key_id=f"AKIA{i:016d}",
            )
        ]
        tags = {"owner": f"{team}-lead@example.com"}
        if i % 29 == 0:
            tags["credlife:exempt"] = "until=2026-12-31 approved=ciso@example.com reason=vendor appliance"
        elif i % 97 == 0:
            tags["credlife:exempt"] = "true"
        console = i % 5 == 0
        users.append(
            User(
                name=f"{team}.user{i:05d}",
                arn=f"arn:aws:iam::{ACCOUNT}:user/{team}/{team}.user{i:05d}",
                path=f"/{team}/",
                created=now - timedelta(days=500),
                access_keys=tuple(keys),
                keys_resolved=True,
                login_profile=(
                    LoginProfile(created=now - timedelta(days=200), last_used=now - timedelta(days=i % 90))
                    if console
                    else None
                ),
                mfa_active=console and i % 3 == 0,
                tags=tags,
            )
        )
    return tuple(users)


def sample_report(count: int, now: datetime) -> Report:
    """The report of a synthetic account of `count` users, planned with the default policy."""
    users = sample_users(count, now)
    policy = Policy()
    actions = plan(AccountSnapshot(ACCOUNT, now, users, {}), policy, now)
    rules = OwnerRules()
    return build_report(
        account_id=ACCOUNT,
        now=now,
        dry_run=True,
        actions=actions,
        users=users,
        audit=None,
        owner_of=lambda user: resolve_owner(user, rules).address,
    )
