"""Planner rules, one class per row of DESIGN §3 for access keys: nothing to do, act, edges, many users.

Ageing is explicit: keys are built `age` days before the fixed clock `NOW` (tests/builders.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from credlife.domain.actions import Action, ActionKind, Reason, Severity
from credlife.domain.models import KeyRecord, Notice, User
from credlife.domain.planner import plan, unrecorded_inactive_keys, users_needing_key_ids
from credlife.domain.policy import Policy
from tests.builders import NOW, days, key, notice, snapshot, user

LIVE = Policy(dry_run=False)


def run(*users_: object, records: tuple[KeyRecord, ...] = (), policy: Policy = LIVE, now=NOW) -> list[Action]:  # type: ignore[no-untyped-def]
    return plan(snapshot(users_, records, now=now), policy, now)  # type: ignore[arg-type]


def kinds(actions: list[Action]) -> list[tuple[str, str, str | None]]:
    return [(a.action.value, a.reason.value, a.stage) for a in actions]


class TestRotation:
    def test_young_used_key_needs_nothing(self) -> None:
        # Given a 10-day-old key used yesterday / When planned / Then nothing is due
        assert run(user("alice", key(10, 1))) == []

    def test_no_warning_just_before_the_first_stage(self) -> None:
        # Given a key one hour short of 76 days (14 days before rotation)
        k = key(76 - 1 / 24, 1)
        # Then no warning yet
        assert run(user("alice", k)) == []

    def test_first_stage_warns_with_the_rotation_date(self) -> None:
        # Given a key exactly 76 days old
        k = key(76, 1)
        # When planned
        (warn,) = run(user("alice", k))
        # Then the owner is warned 14 days ahead, the deadline is creation + 90 days
        assert (warn.action, warn.warns_of, warn.stage) == (ActionKind.WARN, ActionKind.ROTATE, "14d")
        assert warn.deadline == k.created + days(90)
        assert warn.key_created == k.created
        assert warn.control == "CIS 2.12 / IAM.3"

    @pytest.mark.parametrize(("age", "sent", "expected"), [(83, ["14d"], "7d"), (89, ["14d", "7d"], "1d")])
    def test_later_stages_follow(self, age: int, sent: list[str], expected: str) -> None:
        # Given the earlier stages were sent
        k = key(age, 1)
        record = KeyRecord(
            "alice", k.created, notices=tuple(notice("rotate", s, 1, k.created + days(90)) for s in sent)
        )
        # When planned at the next stage / Then exactly that stage goes out
        assert kinds(run(user("alice", k), records=(record,))) == [("warn", "key_rotation_due", expected)]

    def test_a_stage_is_sent_once(self) -> None:
        # Given the 7-day notice went out yesterday
        k = key(84, 1)
        record = KeyRecord("alice", k.created, notices=(notice("rotate", "7d", 1, k.created + days(90)),))
        # Then nothing new today
        assert run(user("alice", k), records=(record,)) == []

    def test_missed_stages_are_caught_up_with_one_notice(self) -> None:
        # Given a first run one day before rotation (the 14- and 7-day stages were missed)
        actions = run(user("alice", key(89, 1)))
        # Then one notice, the latest stage
        assert kinds(actions) == [("warn", "key_rotation_due", "1d")]

    def test_rotation_is_due_at_90_days_not_before(self) -> None:
        stage_1d = KeyRecord("alice", key(89.99, 1).created, notices=())
        assert all(
            a.action is not ActionKind.ROTATE for a in run(user("alice", key(89.99, 1)), records=(stage_1d,))
        )
        # Given a 90-day-old key in use / When planned / Then it is rotated, old key deadline in 14 days
        (rotate,) = run(user("alice", key(90, 1)))
        assert rotate.action is ActionKind.ROTATE
        assert rotate.reason is Reason.KEY_ROTATION_DUE
        assert rotate.deadline == NOW + days(14)
        assert rotate.due == key(90, 1).created + days(90)

    def test_rotation_needs_no_prior_notice(self) -> None:
        # Given a first run on a 200-day-old key in use (never warned)
        actions = run(user("alice", key(200, 0.5)))
        # Then it is rotated right away: a new key beside the old one disturbs nothing. The rotation row
        # announces the old key's deactivation (its first notice, at the 14-day stage)
        assert kinds(actions) == [("rotate", "key_rotation_due", "14d")]
        assert (actions[0].warns_of, actions[0].deadline) == (ActionKind.DEACTIVATE, NOW + days(14))

    def test_dry_run_plans_the_same_rows_marked_dry_run(self) -> None:
        actions = run(user("alice", key(120, 1)), policy=Policy())
        assert [(a.action, a.dry_run) for a in actions] == [(ActionKind.ROTATE, True)]


def after_rotation(
    rotated_ago: float,
    *,
    old_used_ago: float | None,
    new_used_ago: float | None,
    notices: tuple[Notice, ...] = (),
) -> tuple[User, KeyRecord]:
    """Alice's old key (rotated at 90 days, `rotated_ago` days ago) beside the replacement we made."""
    old = key(90 + rotated_ago, old_used_ago, key_id="AKIAOLD")
    new = key(rotated_ago, new_used_ago, key_id="AKIANEW")
    record = KeyRecord(
        "alice",
        old.created,
        key_id="AKIAOLD",
        rotated_at=NOW - days(rotated_ago),
        replacement_key_id="AKIANEW",
        replacement_created=new.created,
        notices=notices,
    )
    return user("alice", old, new), record


class TestRetiringTheReplacedKey:
    def test_day_after_rotation_without_a_recorded_notice_the_owner_is_told_the_deadline(self) -> None:
        alice, record = after_rotation(1, old_used_ago=1, new_used_ago=None)
        (warn,) = run(alice, records=(record,))
        assert (warn.action, warn.warns_of, warn.key_id) == (
            ActionKind.WARN,
            ActionKind.DEACTIVATE,
            "AKIAOLD",
        )
        assert warn.deadline == NOW - days(1) + days(14)

    def test_safe_once_new_key_used_and_old_idle_long_enough(self) -> None:
        # Given the rotation notice went out 8 days ago, the new key is in use and the old one has been
        # idle 8 days (more than `safe_idle_days`), not used since the new key's first use
        alice, record = after_rotation(
            9, old_used_ago=8, new_used_ago=0.5, notices=(notice("deactivate", "14d", 8, NOW + days(5)),)
        )
        # When planned
        actions = run(alice, records=(record,))
        # Then the OLD key (never the new one) is deactivated as safe
        assert [(a.action, a.reason, a.key_id) for a in actions] == [
            (ActionKind.DEACTIVATE, Reason.KEY_REPLACED_SAFE, "AKIAOLD")
        ]

    def test_not_safe_while_old_key_idle_less_than_safe_idle_days(self) -> None:
        # Given the switch looks done (new key used after the old one's last use) but the old key has been
        # idle only 5 days: a weekly job may still need it
        alice, record = after_rotation(
            5, old_used_ago=5, new_used_ago=0.5, notices=(notice("deactivate", "14d", 4, NOW + days(9)),)
        )
        # Then nothing happens before the deadline
        assert run(alice, records=(record,)) == []

    def test_not_safe_when_the_old_key_was_used_after_the_new_keys_first_use(self) -> None:
        # Given a fleet: one host switched to the new key 10 days ago, another used the old key 8 days ago
        # (after that first use), and the new key's latest use is recent
        alice, record = after_rotation(
            11, old_used_ago=8, new_used_ago=0.5, notices=(notice("deactivate", "14d", 11, NOW + days(3)),)
        )
        record = replace(record, replacement_first_used=NOW - days(10))
        # Then comparing the latest uses is not proof: nothing but reminders before the announced deadline
        assert [a.action for a in run(alice, records=(record,))] == [ActionKind.WARN]
        # and at the deadline the old key is retired as overdue (announced 11 days before it)
        later = run(alice, records=(record,), now=NOW + days(3))
        assert [(a.action, a.reason) for a in later] == [(ActionKind.DEACTIVATE, Reason.KEY_REPLACED_OVERDUE)]

    def test_a_reactivated_key_is_a_new_episode_and_never_retired_at_once(self) -> None:
        # Given we deactivated the old key at its deadline and the owner turned it back on today
        alice, record = after_rotation(
            20, old_used_ago=30, new_used_ago=0.5, notices=(notice("deactivate", "14d", 20, NOW - days(6)),)
        )
        record = replace(
            record,
            deactivated_at=NOW - days(6),
            deactivation_reason=Reason.KEY_REPLACED_OVERDUE.value,
            reactivated_at=NOW,
        )
        # When planned the same day (and every day until the new deadline)
        (warn,) = run(alice, records=(record,))
        # Then the owner gets a new notice with a new deadline, nothing is deactivated
        assert (warn.action, warn.warns_of, warn.opens_notice) == (
            ActionKind.WARN,
            ActionKind.DEACTIVATE,
            True,
        )
        assert warn.deadline is not None
        assert warn.deadline >= NOW + days(7)
        told = replace(record, notices=(*record.notices, notice("deactivate", "7d", 0, warn.deadline)))
        for day in range(1, 7):
            later = run(alice, records=(told,), now=NOW + days(day))
            assert [a.action for a in later if a.action is not ActionKind.WARN] == [], day

    def test_not_safe_while_old_key_still_used_within_granularity(self) -> None:
        # Given the old key was used 10 minutes before the new one's last use (15-minute granularity)
        alice, record = after_rotation(
            5,
            old_used_ago=0.5 + 10 / 1440,
            new_used_ago=0.5,
            notices=(notice("deactivate", "14d", 4, NOW + days(9)),),
        )
        # Then it is not yet safe and nothing happens before the deadline
        assert run(alice, records=(record,)) == []

    def test_overdue_at_the_deadline(self) -> None:
        alice, record = after_rotation(
            14,
            old_used_ago=0.1,
            new_used_ago=None,
            notices=(notice("deactivate", "14d", 13, NOW), notice("deactivate", "1d", 1, NOW)),
        )
        actions = run(alice, records=(record,))
        assert [(a.action, a.reason, a.key_id) for a in actions] == [
            (ActionKind.DEACTIVATE, Reason.KEY_REPLACED_OVERDUE, "AKIAOLD")
        ]

    def test_deadline_waits_for_minimum_notice(self) -> None:
        # Given the first deactivation notice went out only 3 days ago although the natural deadline passed
        alice, record = after_rotation(
            20, old_used_ago=0.1, new_used_ago=None, notices=(notice("deactivate", "7d", 3, NOW + days(4)),)
        )
        # Then nothing happens until 7 days after that notice
        assert run(alice, records=(record,)) == []
        later = run(alice, records=(record,), now=NOW + days(4))
        assert [a.action for a in later] == [ActionKind.DEACTIVATE]

    def test_a_key_the_owner_made_after_the_rotation_notice_counts_once_the_old_key_is_idle(self) -> None:
        # Given the owner received a rotation notice 20 days ago, made a fresh key 5 days later and the aged
        # key has not been used for 10 days
        old, new = key(200, 10), key(15, 1)
        record = KeyRecord("alice", old.created, notices=(notice("rotate", "14d", 20, NOW - days(6)),))
        (warn,) = run(user("alice", old, new), records=(record,))
        # Then the aged key's deactivation is announced (the fresh key is left alone)
        assert (warn.action, warn.warns_of, warn.key_created) == (
            ActionKind.WARN,
            ActionKind.DEACTIVATE,
            old.created,
        )
        assert warn.deadline is not None
        assert warn.deadline >= NOW + days(7)

    def test_a_fresh_key_without_a_rotation_notice_is_another_workload(self) -> None:
        # Given an aged key in daily use and a fresh key the owner created with no rotation notice
        old, new = key(200, 1), key(5, 1)
        actions = run(user("alice", old, new))
        # Then two active keys are two workloads: an alert, and nothing deactivated or announced for it
        assert [(a.action, a.reason, a.key_created) for a in actions if a.key_created == old.created] == [
            (ActionKind.ALERT, Reason.KEY_QUOTA_CONFLICT, old.created)
        ]

    def test_two_workloads_keys_made_together_are_not_replacements(self) -> None:
        # Given two keys made 5 days apart, both in daily use (two workloads), the older one now aged
        older, younger = key(90, 0.1, key_id="AKIAOLDER"), key(85, 0.1, key_id="AKIAYOUNGER")
        actions = run(user("alice", older, younger))
        # Then nothing is deactivated or announced for deactivation: the older key's rotation is held up by
        # the quota (a conflict for a human), the younger key just gets its own rotation notice
        assert [(a.action, a.reason, a.key_id) for a in actions] == [
            (ActionKind.ALERT, Reason.KEY_QUOTA_CONFLICT, "AKIAOLDER"),
            (ActionKind.WARN, Reason.KEY_ROTATION_DUE, "AKIAYOUNGER"),
        ]

    def test_a_key_made_inside_the_warning_window_while_the_old_one_is_used_is_not_a_replacement(
        self,
    ) -> None:
        # Given the first rotation notice reached the owner 15 days ago and a new key was made the same day
        # for a different workload; the old key is still used every day
        older, newer = key(91, 0.1), key(15, 0.1)
        record = KeyRecord("alice", older.created, notices=(notice("rotate", "14d", 15, NOW - days(1)),))
        actions = run(user("alice", older, newer), records=(record,))
        # Then the old key is not retired for the new one: a conflict for a human, no deactivation notice
        assert [(a.action, a.reason) for a in actions if a.key_created == older.created] == [
            (ActionKind.ALERT, Reason.KEY_QUOTA_CONFLICT)
        ]


class TestInactiveKeys:
    def test_first_sighting_starts_the_clock_without_acting(self) -> None:
        k = key(200, 100, active=False)
        snap = snapshot([user("alice", k)])
        assert plan(snap, LIVE, NOW) == []
        assert [(u.name, found.created) for u, found in unrecorded_inactive_keys(snap)] == [
            ("alice", k.created)
        ]

    def test_deleted_after_30_days_inactive_with_notice(self) -> None:
        k = key(200, 100, active=False)
        record = KeyRecord(
            "alice",
            k.created,
            first_seen_inactive=NOW - days(30),
            notices=(notice("delete", "7d", 7, NOW),),
        )
        (delete,) = run(user("alice", k), records=(record,))
        assert (delete.action, delete.reason, delete.control) == (
            ActionKind.DELETE,
            Reason.INACTIVE_KEY_CLEANUP,
            "CIS 2.11 / IAM.22",
        )

    def test_deletion_is_warned_first(self) -> None:
        k = key(200, 100, active=False)
        record = KeyRecord("alice", k.created, first_seen_inactive=NOW - days(23))
        (warn,) = run(user("alice", k), records=(record,))
        assert (warn.action, warn.warns_of, warn.stage, warn.deadline) == (
            ActionKind.WARN,
            ActionKind.DELETE,
            "7d",
            NOW + days(7),
        )

    def test_rotated_old_key_deleted_14_days_after_deactivation(self) -> None:
        k = key(120, 20, active=False)
        record = KeyRecord(
            "alice",
            k.created,
            deactivated_at=NOW - days(14),
            deactivation_reason="key_replaced_safe",
            notices=(notice("delete", "7d", 7, NOW),),
        )
        assert [a.action for a in run(user("alice", k), records=(record,))] == [ActionKind.DELETE]
        # and not a day earlier
        early = KeyRecord(
            "alice",
            k.created,
            deactivated_at=NOW - days(13),
            deactivation_reason="key_replaced_safe",
            notices=(notice("delete", "7d", 6, NOW + days(1)),),
        )
        assert run(user("alice", k), records=(early,)) == []

    def test_use_after_deactivation_restarts_the_clock(self) -> None:
        # Given a key we deactivated 40 days ago that shows a use 2 days ago (reactivated meanwhile)
        k = key(200, 2, active=False)
        record = KeyRecord(
            "alice", k.created, deactivated_at=NOW - days(40), deactivation_reason="key_unused"
        )
        # Then it is not deleted
        assert run(user("alice", k), records=(record,)) == []


class TestUnusedKeys:
    def test_no_warning_before_38_days_idle(self) -> None:
        assert run(user("alice", key(60, 37.9))) == []

    def test_warned_7_days_before_45_days_idle(self) -> None:
        k = key(60, 38)
        (warn,) = run(user("alice", k))
        assert (warn.action, warn.warns_of, warn.reason, warn.stage) == (
            ActionKind.WARN,
            ActionKind.DEACTIVATE,
            Reason.KEY_UNUSED,
            "7d",
        )
        assert warn.deadline == k.last_used + days(45)  # type: ignore[operator]
        assert warn.control == "CIS 2.11 / IAM.22"

    def test_deactivated_at_45_days_after_notice(self) -> None:
        k = key(60, 45)
        record = KeyRecord("alice", k.created, notices=(notice("deactivate", "7d", 7, NOW),))
        (act,) = run(user("alice", k), records=(record,))
        assert (act.action, act.reason) == (ActionKind.DEACTIVATE, Reason.KEY_UNUSED)

    def test_first_detection_warns_instead_of_acting(self) -> None:
        # Given a key idle for 60 days never warned about (first run)
        (warn,) = run(user("alice", key(300, 60)))
        # Then a warning with a deadline at least 7 days away, no deactivation
        assert warn.action is ActionKind.WARN
        assert warn.deadline == NOW + days(7)

    def test_never_used_key_judged_by_creation_date(self) -> None:
        assert run(user("alice", key(37, None))) == []
        (warn,) = run(user("alice", key(38, None)))
        assert (warn.reason, warn.deadline) == (Reason.KEY_UNUSED, NOW + days(7))

    def test_never_used_grace_is_configurable(self) -> None:
        policy = Policy(dry_run=False, never_used_grace_days=10)
        assert kinds(run(user("alice", key(3, None)), policy=policy)) == [("warn", "key_unused", "7d")]

    def test_aged_and_unused_key_is_deactivated_not_rotated(self) -> None:
        actions = run(user("alice", key(200, 50)))
        assert [(a.action, a.warns_of) for a in actions] == [(ActionKind.WARN, ActionKind.DEACTIVATE)]

    def test_use_after_a_warning_starts_a_new_episode(self) -> None:
        # Given a deactivation was announced for a deadline, then the key was used again yesterday
        k = key(100, 1)
        record = KeyRecord("alice", k.created, notices=(notice("deactivate", "7d", 20, NOW - days(13)),))
        # Then the stale notice does not let the key be deactivated; nothing is due (the key is in use)
        actions = run(user("alice", k), records=(record,))
        assert all(a.action is not ActionKind.DEACTIVATE for a in actions)


class TestTwoKeyQuota:
    def test_two_aged_active_keys_raise_a_critical_alert_and_nothing_else(self) -> None:
        a, b = key(200, 1, key_id="AKIAA"), key(120, 1, key_id="AKIAB")
        actions = run(user("alice", a, b))
        assert {(x.action, x.reason, x.severity) for x in actions} == {
            (ActionKind.ALERT, Reason.KEY_QUOTA_CONFLICT, Severity.CRITICAL)
        }
        assert sorted(x.key_id or "" for x in actions) == ["AKIAA", "AKIAB"]

    def test_inactive_sibling_due_for_deletion_makes_room_in_the_same_run(self) -> None:
        aged, old = key(95, 1, key_id="AKIAAGED"), key(300, 200, active=False, key_id="AKIAOLD")
        record = KeyRecord(
            "alice",
            old.created,
            first_seen_inactive=NOW - days(31),
            notices=(notice("delete", "7d", 8, NOW - days(1)),),
        )
        actions = run(user("alice", aged, old), records=(record,))
        assert [(a.action, a.key_id) for a in actions] == [
            (ActionKind.DELETE, "AKIAOLD"),
            (ActionKind.ROTATE, "AKIAAGED"),
        ]

    def test_inactive_sibling_not_yet_deletable_blocks_rotation(self) -> None:
        aged, old = key(95, 1, key_id="AKIAAGED"), key(300, 200, active=False, key_id="AKIAOLD")
        record = KeyRecord("alice", old.created, first_seen_inactive=NOW - days(5))
        actions = run(user("alice", aged, old), records=(record,))
        assert [(a.action, a.reason, a.key_id) for a in actions] == [
            (ActionKind.BLOCKED, Reason.KEY_QUOTA_WAIT, "AKIAAGED")
        ]

    def test_quota_never_stops_the_unused_rule_on_the_other_key(self) -> None:
        # Given an aged key in use and an older active key idle for 50 days
        aged, idle = key(95, 1, key_id="AKIAAGED"), key(300, 50, key_id="AKIAIDLE")
        actions = run(user("alice", aged, idle))
        by_key = {a.key_id: (a.action, a.reason) for a in actions}
        # Then the idle key follows the unused row while the aged key's rotation is held up
        assert by_key["AKIAIDLE"] == (ActionKind.WARN, Reason.KEY_UNUSED)
        assert by_key["AKIAAGED"] == (ActionKind.ALERT, Reason.KEY_QUOTA_CONFLICT)


class TestExemptions:
    @pytest.mark.parametrize(
        ("kwargs", "policy", "reason"),
        [
            ({"tags": {"credlife:exempt": "true"}}, LIVE, Reason.EXEMPT_TAG),
            ({"path": "/system/"}, Policy(dry_run=False, path_prefixes=("/people/",)), Reason.EXEMPT_PATH),
            ({}, Policy(dry_run=False, break_glass_users=("alice",)), Reason.EXEMPT_BREAK_GLASS),
            ({}, Policy(dry_run=False, own_principals=("alice",)), Reason.EXEMPT_OWN_PRINCIPAL),
            ({"tags": {"keep": "yes"}}, Policy(dry_run=False, exempt_tag_key="keep"), Reason.EXEMPT_TAG),
        ],
    )
    def test_exempt_users_get_one_audited_row_and_no_action(
        self, kwargs: dict[str, object], policy: Policy, reason: Reason
    ) -> None:
        u = user("alice", key(300, 100), key(120, 1), **kwargs)  # type: ignore[arg-type]
        assert [(a.action, a.reason) for a in run(u, policy=policy)] == [(ActionKind.EXEMPT, reason)]

    def test_exempt_tag_set_to_false_does_not_exempt(self) -> None:
        u = user("alice", key(120, 1), tags={"credlife:exempt": "false"})
        assert [a.action for a in run(u)] == [ActionKind.ROTATE]

    def test_path_inside_prefix_is_in_scope(self) -> None:
        u = user("alice", key(120, 1), path="/people/eng/")
        assert [a.action for a in run(u, policy=Policy(dry_run=False, path_prefixes=("/people/",)))] == [
            ActionKind.ROTATE
        ]


class TestManyUsers:
    def test_each_user_gets_its_own_decision(self) -> None:
        # Given 300 users: a third fresh, a third due for rotation, a third idle for 60 days
        users = []
        for i in range(300):
            kind = i % 3
            k = key(10, 1) if kind == 0 else key(100, 1) if kind == 1 else key(100, 60)
            users.append(user(f"user-{i}", k))
        actions = run(*users)
        # Then 100 rotations and 100 unused warnings, one per user, none for the fresh ones
        assert sum(a.action is ActionKind.ROTATE for a in actions) == 100
        assert sum(a.reason is Reason.KEY_UNUSED for a in actions) == 100
        assert len({a.user for a in actions}) == 200
        assert users_needing_key_ids(actions) == {a.user for a in actions}

    def test_rows_serialize_for_the_cli(self) -> None:
        (row,) = [a.as_row() for a in run(user("alice", key(76, 1)))]
        assert row["user"] == "alice"
        assert row["action"] == "warn"
        assert row["reason"] == "key_rotation_due"
        assert row["deadline"] == (NOW - days(76) + days(90)).isoformat().replace("+00:00", "Z")
