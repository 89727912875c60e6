"""Exemptions with an end date, a reason and an approver (from the exempt tag or the settings); a dated
notice before one ends; the lifecycle resumes by itself after; permanent ones stay, reported as such."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from credlife.domain.actions import ActionKind, Reason
from credlife.domain.exemptions import ENDING, grant
from credlife.domain.messages import OutcomeFacts, compose
from credlife.domain.owners import Owner
from credlife.domain.planner import exemption, plan
from credlife.domain.policy import Exemption, Policy
from tests.builders import NOW, key, snapshot, user

TAG = "credlife:exempt"
OWNER = Owner("ana@example.com", "tag:owner")
# NOW is 2026-06-01 12:00 UTC


def rows(policy: Policy, *users: object) -> list[tuple[ActionKind, Reason]]:
    return [(a.action, a.reason) for a in plan(snapshot(list(users)), policy, NOW)]  # type: ignore[arg-type]


def test_a_dated_tag_exempts_until_its_end_with_reason_and_approver() -> None:
    # Given an aged key of a user whose tag exempts it until 2026-09-30, approved by the CISO
    ana = user(
        "ana", key(120, 1), tags={TAG: "until=2026-09-30 approved=ciso@example.com reason=vendor appliance"}
    )

    # When planned
    (row,) = plan(snapshot([ana]), Policy(), NOW)

    # Then one exempt row says until when, why and who approved; its deadline is the end
    assert (row.action, row.reason) == (ActionKind.EXEMPT, Reason.EXEMPT_TAG)
    assert row.deadline == datetime(2026, 10, 1, tzinfo=UTC)
    assert "until 2026-09-30 (vendor appliance; approved by ciso@example.com)" in row.detail
    assert row.stage is None  # the end is months away: no notice yet


def test_an_expired_tag_ends_by_itself_and_the_lifecycle_resumes_with_notice() -> None:
    # Given an idle key of a user whose exemption ended yesterday
    ana = user("ana", key(100, 60), tags={TAG: "until=2026-05-31 approved=ciso@example.com reason=audit"})

    # When planned
    (row,) = plan(snapshot([ana]), Policy(), NOW)

    # Then the user is managed again, starting with a dated notice, never a deactivation at once
    assert (row.action, row.warns_of, row.reason) == (
        ActionKind.WARN,
        ActionKind.DEACTIVATE,
        Reason.KEY_UNUSED,
    )
    assert row.deadline is not None
    assert row.deadline > NOW


def test_the_last_day_is_still_exempt() -> None:
    ana = user("ana", key(120, 1), tags={TAG: "until=2026-06-01 approved=ciso@example.com reason=x"})
    assert rows(Policy(), ana) == [(ActionKind.EXEMPT, Reason.EXEMPT_TAG)]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("true", "permanent (no end date) (exempt tag; approval not recorded)"),
        ("vendor", "permanent (no end date) (exempt tag: vendor; approval not recorded)"),
        (
            "approved=ciso@example.com reason=hsm",
            "permanent (no end date) (hsm; approved by ciso@example.com)",
        ),
        ("until=someday reason=hsm", "permanent (end date unreadable) (hsm; approval not recorded)"),
    ],
    ids=["true", "plain", "no-until", "unreadable-until"],
)
def test_permanent_exemptions_stay_and_are_reported_as_permanent(value: str, says: str) -> None:
    (row,) = plan(snapshot([user("ana", key(120, 1), tags={TAG: value})]), Policy(), NOW)
    assert row.action is ActionKind.EXEMPT
    assert row.deadline is None
    assert says in row.detail


@pytest.mark.parametrize("value", ["false", "off", ""])
def test_a_tag_switched_off_exempts_nobody(value: str) -> None:
    assert rows(Policy(), user("ana", key(120, 1), tags={TAG: value})) == [
        (ActionKind.ROTATE, Reason.KEY_ROTATION_DUE)
    ]


def test_a_settings_entry_exempts_until_its_end_and_then_ends() -> None:
    # Given the settings exempting ana until 2026-06-30 and ben until 2026-05-01 (ended)
    policy = Policy(
        exemptions=(
            Exemption(
                user="ana", reason="migration", approved_by="ciso@example.com", until=date(2026, 6, 30)
            ),
            Exemption(user="ben", reason="migration", approved_by="ciso@example.com", until=date(2026, 5, 1)),
        )
    )
    ana, ben = user("ana", key(120, 1)), user("ben", key(120, 1))

    # When planned
    by_user = {a.user: a for a in plan(snapshot([ana, ben]), policy, NOW)}

    # Then ana is exempt (listed, dated, approved), ben is managed again
    assert (by_user["ana"].action, by_user["ana"].reason) == (ActionKind.EXEMPT, Reason.EXEMPT_LISTED)
    assert "until 2026-06-30 (migration; approved by ciso@example.com)" in by_user["ana"].detail
    assert by_user["ben"].action is ActionKind.ROTATE


def test_a_permanent_settings_entry_is_reported_as_permanent() -> None:
    policy = Policy(exemptions=(Exemption(user="ana", reason="HSM appliance", approved_by="ciso"),))
    (row,) = plan(snapshot([user("ana", key(120, 1))]), policy, NOW)
    assert (row.reason, row.deadline) == (Reason.EXEMPT_LISTED, None)
    assert "permanent (no end date) (HSM appliance; approved by ciso)" in row.detail


def test_settings_entries_need_a_reason_and_an_approver() -> None:
    with pytest.raises(ValueError, match="approved_by"):
        Policy.model_validate({"exemptions": [{"user": "ana", "reason": "x"}]})
    with pytest.raises(ValueError, match="reason"):
        Policy.model_validate({"exemptions": [{"user": "ana", "approved_by": "ciso"}]})


# -- the notice before the end ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "notice"), [("2026-06-14", True), ("2026-06-15", False), ("2026-09-30", False)]
)
def test_the_owner_is_told_once_dated_before_the_exemption_ends(until: str, notice: bool) -> None:
    # Given an exemption ending within (or beyond) the 14-day notice window
    ana = user("ana", key(120, 1), tags={TAG: f"until={until} approved=ciso@example.com reason=x"})
    (row,) = plan(snapshot([ana]), Policy(exemption_notice_days=14), NOW)

    # When the exempt row's outcome is composed
    items = compose(OutcomeFacts(row, "reported"), OWNER, now=NOW, secret_name=None)

    # Then inside the window the owner gets one dated notice naming the end; outside it, nothing
    assert (row.stage == ENDING) is notice
    if not notice:
        assert items == []
        return
    (item,) = items
    ends = date.fromisoformat(until)
    assert item.recipient == "ana@example.com"
    assert item.title == f"exemption ends on {ends.replace(day=ends.day + 1).isoformat()} 00:00 UTC"
    assert item.deadline == row.deadline
    assert "the usual lifecycle applies" in item.todo
    # ... and the same item again the next day keeps its id (the outbox sends it once)
    (tomorrow,) = plan(snapshot([ana]), Policy(exemption_notice_days=14), NOW.replace(day=2))
    (again,) = compose(OutcomeFacts(tomorrow, "reported"), OWNER, now=NOW, secret_name=None)
    assert again.id == item.id


def test_without_a_clock_dated_exemptions_are_not_assumed_in_force() -> None:
    # (a caller that cannot tell whether it ended lists the user's credentials rather than skipping them)
    dated = user("ana", tags={TAG: "until=2030-01-01 approved=x reason=y"})
    assert exemption(dated, Policy()) is None
    assert exemption(dated, Policy(), NOW) is Reason.EXEMPT_TAG
    assert grant(user("bob", tags={TAG: "true"}), Policy()) is not None
