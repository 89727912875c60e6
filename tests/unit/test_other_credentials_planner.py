"""Planner rows for SSH public keys, service-specific credentials and signing certificates (issue 4): IAM
records no last-used date for them, so age only: warned, set Inactive, deleted later (signing certificates
are only set Inactive). Nothing to do, act, edges, many."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from credlife.domain.actions import Action, ActionKind
from credlife.domain.credential_planner import unrecorded_inactive_credentials
from credlife.domain.credentials import ServiceCredential, SigningCertificate, SshPublicKey
from credlife.domain.models import (
    AccountSnapshot,
    CredentialRecord,
    CredentialType,
    KeyStatus,
    Notice,
    User,
    cred_ref,
)
from credlife.domain.planner import plan
from credlife.domain.policy import Policy
from tests.builders import ACCOUNT, NOW, days, user

LIVE = Policy(dry_run=False, ssh_keys_enabled=True, service_credentials_enabled=True)
ACTIVE, INACTIVE = KeyStatus.ACTIVE, KeyStatus.INACTIVE


def ssh(key_id: str, age: float, status: KeyStatus = ACTIVE) -> SshPublicKey:
    return SshPublicKey(key_id, status, NOW - days(age))


def git_user(name: str = "dev", *keys: SshPublicKey, **extra: object) -> User:
    return replace(user(name), ssh_keys=tuple(keys), **extra)  # type: ignore[arg-type]


def run(*users: User, records: tuple[CredentialRecord, ...] = (), now: datetime = NOW) -> list[Action]:
    snap = AccountSnapshot(
        ACCOUNT,
        now,
        users,
        credential_records={cred_ref(r.user, r.credential, r.credential_id): r for r in records},
    )
    return plan(snap, LIVE, now)


def rows(actions: list[Action]) -> list[tuple[str, str | None, str, str | None]]:
    return [(a.credential.value, a.key_id, a.action.value, a.stage) for a in actions]


def test_young_ssh_key_needs_nothing() -> None:
    assert run(git_user("dev", ssh("APKA1", 10))) == []


def test_not_listed_means_not_judged() -> None:
    # the type is disabled (or the listing failed): `ssh_keys` stays None, no rows
    assert run(user("dev")) == []


def test_aged_ssh_key_warned_14_days_ahead_with_its_id() -> None:
    actions = run(git_user("dev", ssh("APKA1", 76)))
    assert rows(actions) == [("ssh_key", "APKA1", "warn", "14d")]
    assert actions[0].warns_of is ActionKind.DEACTIVATE
    assert actions[0].deadline == NOW + days(14)


def test_aged_ssh_key_set_inactive_at_the_deadline() -> None:
    sent = Notice("deactivate", "14d", NOW - days(14), NOW, delivered_at=NOW - days(14))
    record = CredentialRecord("dev", "ssh_key", "APKA1", notices=(sent,))
    assert rows(run(git_user("dev", ssh("APKA1", 90)), records=(record,))) == [
        ("ssh_key", "APKA1", "deactivate", None)
    ]


def test_first_seen_far_past_due_warns_first() -> None:
    actions = run(git_user("dev", ssh("APKA1", 400)))
    assert rows(actions) == [("ssh_key", "APKA1", "warn", "7d")]
    assert actions[0].deadline == NOW + days(7)


def test_inactive_key_deleted_30_days_after_first_seen() -> None:
    key = ssh("APKA2", 400, INACTIVE)
    assert unrecorded_inactive_credentials(AccountSnapshot(ACCOUNT, NOW, (git_user("dev", key),))) == [
        ("dev", CredentialType.SSH_KEY, "APKA2")
    ]
    seen = CredentialRecord("dev", "ssh_key", "APKA2", detected_at=NOW - days(23))
    assert rows(run(git_user("dev", key), records=(seen,))) == [("ssh_key", "APKA2", "warn", "7d")]
    sent = Notice("delete", "7d", NOW - days(7), NOW, delivered_at=NOW - days(7))
    done = replace(seen, detected_at=NOW - days(30), notices=(sent,))
    assert rows(run(git_user("dev", key), records=(done,))) == [("ssh_key", "APKA2", "delete", None)]


def test_service_credentials_and_signing_certificates() -> None:
    cred = ServiceCredential("ACCA1", "codecommit.amazonaws.com", ACTIVE, NOW - days(80))
    cert = SigningCertificate("CERT1", ACTIVE, NOW - days(85))
    old_cert = SigningCertificate("CERT0", INACTIVE, NOW - days(900))
    u = replace(user("dev"), service_credentials=(cred,), signing_certificates=(cert, old_cert))
    assert rows(run(u)) == [
        ("service_credential", "ACCA1", "warn", "14d"),
        ("signing_certificate", "CERT1", "warn", "7d"),
    ]  # an inactive signing certificate is never deleted


def test_each_credential_decided_alone_for_many_users() -> None:
    users = [git_user(f"dev{i}", ssh(f"K{i}a", 10 * i), ssh(f"K{i}b", 5)) for i in range(12)]
    actions = run(*users)
    assert {a.key_id for a in actions} == {f"K{i}a" for i in range(8, 12)}  # 80 days old and more
    assert all(a.action is ActionKind.WARN for a in actions)


def test_exempt_user_is_left_alone_and_audited() -> None:
    u = git_user("dev", ssh("APKA1", 400), tags={"credlife:exempt": "yes"})
    u = replace(u, tags={"credlife:exempt": "yes"})
    (row,) = run(u)
    assert row.action is ActionKind.EXEMPT
    assert "1 other credential(s)" in row.detail
