"""Owner resolution, message composition and digest rendering: pure, Given/When/Then."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from credlife.domain.actions import Action, ActionKind, Reason, Severity
from credlife.domain.messages import (
    Audience,
    MessageItem,
    OutcomeFacts,
    compose,
    mfa_lift_notice,
    render_digest,
    security_summary,
)
from credlife.domain.models import AccessKey, CredentialType
from credlife.domain.owners import Owner, OwnerRules, resolve_owner
from credlife.domain.planner import plan
from credlife.domain.policy import Policy
from credlife.templates import load_templates
from tests.builders import NOW, key, snapshot, user

RULES = OwnerRules(path_owners={"/service/": "platform@example.com", "/service/data/": "data@example.com"})
OWNER = Owner("ana@example.com", "tag:owner")


# -- owners --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path", "tags", "expected"),
    [
        (
            "ana",
            "/",
            {"owner": "ana@example.com", "email": "x@example.com"},
            ("ana@example.com", "tag:owner"),
        ),
        (
            "ana",
            "/",
            {"owner": "team ana", "team-email": "t@example.com"},
            ("t@example.com", "tag:team-email"),
        ),
        ("ana", "/", {"Owner": "ana@example.com"}, ("ana@example.com", "tag:owner")),
        ("svc", "/service/data/x/", {}, ("data@example.com", "path:/service/data/")),
        ("svc", "/service/", {}, ("platform@example.com", "path:/service/")),
        ("bob@example.com", "/", {}, ("bob@example.com", "user-name")),
        ("bot", "/", {"owner": "nobody"}, ("security@example.com", "security-default")),
    ],
)
def test_owner_comes_from_tags_then_path_then_name_then_security(
    name: str, path: str, tags: dict[str, str], expected: tuple[str, str]
) -> None:
    # Given a user; When its owner is resolved; Then the first rule yielding an address wins, with its source
    owner = resolve_owner(user(name, path=path, tags=tags), RULES)
    assert (owner.address, owner.source) == expected


# -- composition ---------------------------------------------------------------------------------------


def warn(*, dry_run: bool = False, warns_of: ActionKind = ActionKind.DEACTIVATE) -> Action:
    return Action(
        user="ana",
        credential=CredentialType.ACCESS_KEY,
        action=ActionKind.WARN,
        reason=Reason.KEY_UNUSED if warns_of is ActionKind.DEACTIVATE else Reason.KEY_ROTATION_DUE,
        due=NOW,
        key_id="AKIAOLD",
        key_created=NOW - timedelta(days=100),
        deadline=NOW + timedelta(days=7, hours=3, minutes=15),
        warns_of=warns_of,
        stage="7d",
        dry_run=dry_run,
        detail="not used for 60 days",
    )


def test_a_warning_names_key_deadline_reason_and_what_to_do() -> None:
    # Given a recorded warning of a deactivation
    (item,) = compose(OutcomeFacts(warn(), "applied"), OWNER, now=NOW, secret_name=None)
    # Then the owner item carries the exact deadline in UTC, the reason, the control and advice
    assert (item.audience, item.recipient, item.key_id) == (Audience.OWNER, "ana@example.com", "AKIAOLD")
    assert item.title == "will be deactivated on 2026-06-08 15:15 UTC because it is unused"
    assert (item.reason, item.control) == ("key_unused", "CIS 2.11 / IAM.22")
    assert "use it before the deadline" in item.todo


def test_a_rotation_warning_says_how_to_fetch_the_new_key() -> None:
    action = warn(warns_of=ActionKind.ROTATE)
    (item,) = compose(OutcomeFacts(action, "applied"), OWNER, now=NOW, secret_name="credlife/access-keys/ana")
    assert (
        "aws secretsmanager get-secret-value --secret-id credlife/access-keys/ana --query SecretString "
        "--output text" in item.todo
    )


def test_dry_run_items_say_would() -> None:
    (item,) = compose(OutcomeFacts(warn(dry_run=True), "dry_run"), OWNER, now=NOW, secret_name=None)
    assert item.title.startswith("would be deactivated")
    assert item.dry_run


def test_noop_and_exempt_outcomes_tell_nobody() -> None:
    exempt = Action("ana", CredentialType.USER, ActionKind.EXEMPT, Reason.EXEMPT_TAG, NOW)
    assert compose(OutcomeFacts(warn(), "noop"), OWNER, now=NOW, secret_name=None) == []
    assert compose(OutcomeFacts(exempt, "reported"), OWNER, now=NOW, secret_name=None) == []


def test_a_conflict_goes_to_the_owner_and_the_security_team() -> None:
    alert = Action(
        "ana",
        CredentialType.ACCESS_KEY,
        ActionKind.ALERT,
        Reason.KEY_QUOTA_CONFLICT,
        NOW,
        key_id="AKIAOLD",
        key_created=NOW - timedelta(days=120),
        severity=Severity.CRITICAL,
    )
    items = compose(OutcomeFacts(alert, "reported"), OWNER, now=NOW, secret_name=None)
    assert [(i.audience, i.recipient) for i in items] == [
        (Audience.OWNER, "ana@example.com"),
        (Audience.SECURITY, "security"),
    ]
    assert len({i.id for i in items}) == 2


def test_a_failure_goes_only_to_security_once_a_day() -> None:
    facts = OutcomeFacts(warn(), "failed", "iam:UpdateAccessKey failed: AccessDenied")
    (today,) = compose(facts, OWNER, now=NOW, secret_name=None)
    (again,) = compose(facts, OWNER, now=NOW + timedelta(hours=5), secret_name=None)
    (tomorrow,) = compose(facts, OWNER, now=NOW + timedelta(days=1), secret_name=None)
    assert today.audience is Audience.SECURITY
    assert today.kind == "failed"
    assert today.id == again.id != tomorrow.id


def test_item_ids_are_deterministic_and_items_survive_storage() -> None:
    (first,) = compose(OutcomeFacts(warn(), "applied"), OWNER, now=NOW, secret_name=None)
    (second,) = compose(
        OutcomeFacts(warn(), "applied"), OWNER, now=NOW + timedelta(hours=1), secret_name=None
    )
    assert first.id == second.id
    assert MessageItem.from_json(json.loads(json.dumps(first.as_json()))) == first


# -- rendering -----------------------------------------------------------------------------------------


def test_one_digest_holds_every_item_soonest_first_and_escapes_html() -> None:
    later = compose(OutcomeFacts(warn(), "applied"), OWNER, now=NOW, secret_name=None)[0]
    sooner_action = Action(
        "<b>x</b>",
        CredentialType.ACCESS_KEY,
        ActionKind.WARN,
        Reason.KEY_UNUSED,
        NOW,
        key_id="AKIASOON",
        key_created=NOW - timedelta(days=50),
        deadline=NOW + timedelta(days=1),
        warns_of=ActionKind.DEACTIVATE,
        stage="1d",
    )
    sooner = compose(OutcomeFacts(sooner_action, "applied"), OWNER, now=NOW, secret_name=None)[0]
    email = render_digest(
        "ana@example.com", [later, sooner], load_templates(), account_id="1", now=NOW, security_email="s@x.io"
    )
    assert email.text.index("AKIASOON") < email.text.index("AKIAOLD")
    assert "2 notice(s)" in email.text
    assert "earliest deadline 2026-06-02" in email.subject
    assert "<b>x</b>" not in email.html
    assert "&lt;b&gt;x&lt;/b&gt;" in email.html


def test_the_security_summary_is_json_with_a_short_ascii_subject() -> None:
    items = [
        compose(OutcomeFacts(warn(), "failed", "boom"), OWNER, now=NOW, secret_name=None)[0] for _ in range(3)
    ]
    subject, body = security_summary(
        account_id="123456789012",
        run_id="r",
        now=NOW,
        dry_run=False,
        users=9,
        outcomes={"warn:failed": 3},
        failures=["x" * 500] * 3,
        escalations=items,
        undelivered=2,
        owner_digests=1,
    )
    data = json.loads(body)
    assert len(subject) <= 100
    assert subject.isascii()
    assert "3 escalation(s)" in subject
    assert "3 failure(s)" in subject
    assert "2 undelivered" in subject
    assert data["undelivered_messages"] == 2
    assert len(data["escalations"]) == 3


# -- rotate now (planner) ------------------------------------------------------------------------------


def test_rotate_now_rotates_a_young_key_and_names_who_asked() -> None:
    snap = snapshot([user("ana", key(10, 1))])
    snap = type(snap)(snap.account_id, snap.taken_at, snap.users, snap.records, {"ana": "oncall@example.com"})
    (row,) = plan(snap, Policy(dry_run=False), NOW)
    assert (row.action, row.reason) == (ActionKind.ROTATE, Reason.ROTATION_REQUESTED)
    assert "requested by oncall@example.com" in row.detail
    assert row.deadline == NOW + timedelta(days=14)


@pytest.mark.parametrize(
    ("keys", "tags", "expected"),
    [
        ((key(10, 1), key(5, 1)), {}, {ActionKind.ALERT}),
        ((key(10, 1),), {"credlife:exempt": "true"}, {ActionKind.EXEMPT}),
        ((key(10, 1), key(300, 200, active=False)), {}, {ActionKind.BLOCKED}),
    ],
)
def test_rotate_now_respects_quota_and_exemptions(
    keys: tuple[AccessKey, ...], tags: dict[str, str], expected: set[ActionKind]
) -> None:
    snap = snapshot([user("ana", *keys, tags=tags)])
    snap = type(snap)(snap.account_id, snap.taken_at, snap.users, snap.records, {"ana": "cli"})
    assert {r.action for r in plan(snap, Policy(dry_run=False), NOW)} == expected


# -- the MFA-lift notice (event function) ---------------------------------------------------------------


def test_mfa_lift_notice_names_user_owner_time_and_the_security_contact() -> None:
    # Given MFA enforcement lifted for ana at 13:00:27 UTC (the event's time, given in another zone)
    at = datetime(2026, 6, 1, 13, 0, 27, tzinfo=UTC).astimezone(ZoneInfo("Europe/Oslo"))
    subject, text = mfa_lift_notice(
        user="ana",
        account_id="123456789012",
        at=at,
        owner=OWNER,
        security_email="security@example.com",
        dry_run=False,
    )
    # Then the subject and the text say what happened to whom, when (UTC), and whom to call if not them
    assert subject == "[credlife] MFA enforcement for ana was lifted (123456789012)"
    assert "MFA enforcement for the IAM user ana in AWS account 123456789012 was lifted" in text
    assert "an MFA\ndevice was enabled at 2026-06-01 13:00 UTC" in text
    assert "owner (tag:owner)" in text
    assert "If this wasn't you" in text
    assert "security@example.com" in text
    assert "DRY RUN" not in text
    # and no secret, key id or device serial
    lowered = (subject + text).lower()
    assert "akia" not in lowered
    assert "password" not in lowered
    assert "serial" not in lowered
    assert "arn:aws" not in lowered
    assert subject.isascii()
    assert len(subject) <= 100


def test_mfa_lift_notice_in_dry_run_says_would() -> None:
    subject, text = mfa_lift_notice(
        user="ana",
        account_id="123456789012",
        at=NOW,
        owner=Owner("security@example.com", "security-default"),
        security_email="security@example.com",
        dry_run=True,
    )
    assert subject == "[credlife dry-run] MFA enforcement for ana would be lifted (123456789012)"
    assert "DRY RUN: nothing was changed" in text
    assert "would be lifted" in text
    assert "was lifted" not in text
    assert "owner (security-default)" in text


# -- who reads the new key's secret --------------------------------------------------------------------

OWNER_ROLE = "arn:aws:iam::123456789012:role/team-ana"


@pytest.mark.parametrize(
    ("tags", "path", "expected"),
    [
        ({}, "/", None),
        ({"credlife:secret-reader": OWNER_ROLE}, "/", OWNER_ROLE),
        ({"credlife:secret-reader": "ana@example.com"}, "/", None),  # not an ARN: ignored
        ({}, "/svc/build/", "arn:aws:iam::123456789012:role/build-owners"),
        ({"credlife:secret-reader": OWNER_ROLE}, "/svc/build/", OWNER_ROLE),  # the tag wins
    ],
    ids=["nobody", "tag", "tag-not-an-arn", "path-longest-prefix", "tag-over-path"],
)
def test_the_secret_reader_comes_from_a_tag_or_the_path_defaults(
    tags: dict[str, str], path: str, expected: str | None
) -> None:
    rules = OwnerRules(
        path_readers={
            "/svc/": "arn:aws:iam::123456789012:role/svc-owners",
            "/svc/build/": "arn:aws:iam::123456789012:role/build-owners",
        }
    )
    owner = resolve_owner(user("ana", tags={"owner": "ana@example.com", **tags}, path=path), rules)
    assert owner.address == "ana@example.com"
    assert owner.reader == expected


@pytest.mark.parametrize("reader", [None, OWNER_ROLE])
def test_rotation_notices_say_whose_credentials_read_the_secret(reader: str | None) -> None:
    # Given a rotation warning and a rotation done, for an owner with or without a configured reader
    owner = Owner("ana@example.com", "tag:owner", reader)
    warned = warn(warns_of=ActionKind.ROTATE)
    rotated = Action(
        "ana", CredentialType.ACCESS_KEY, ActionKind.ROTATE, Reason.KEY_ROTATION_DUE, NOW, key_id="AKIAOLD"
    )
    secret = "credlife/access-keys/ana"

    # When the items are composed
    (warning,) = compose(OutcomeFacts(warned, "applied"), owner, now=NOW, secret_name=secret)
    (done,) = compose(
        OutcomeFacts(rotated, "applied", new_key_id="AKIANEW", secret_name=secret),
        owner,
        now=NOW,
        secret_name=None,
    )

    # Then both say exactly whose credentials can run the fetch command (never "your" login)
    for item in (warning, done):
        assert "with the credentials of the IAM user ana itself (its current access key)" in item.todo
        assert "nobody else may read the secret" in item.todo
        assert (f"or as {OWNER_ROLE} (configured reader)" in item.todo) is (reader is not None)
