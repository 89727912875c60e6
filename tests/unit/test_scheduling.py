"""The shared notice/deadline mechanism on its own: stages, catch-up, minimum notice, early action,
episodes, dry-run notices."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from credlife.domain.models import Notice
from credlife.domain.scheduling import Step, episode_notices, schedule, stage

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
WEEK = timedelta(days=7)


def d(n: float) -> timedelta:
    return timedelta(days=n)


def sent(
    stage_name: str, ago: float, deadline: datetime, *, dry: bool = False, kind: str = "deactivate"
) -> Notice:
    return Notice(kind, stage_name, NOW - d(ago), deadline, dry_run=dry, delivered_at=NOW - d(ago))


def test_nothing_before_the_first_stage() -> None:
    assert schedule(now=NOW, natural_due=NOW + d(8), warn_days=(7,), notices=[], notice=WEEK) is None


def test_first_stage_warns_with_the_natural_deadline() -> None:
    step = schedule(now=NOW, natural_due=NOW + d(7), warn_days=(7,), notices=[], notice=WEEK)
    assert step == Step(act=False, deadline=NOW + d(7), due=NOW, stage="7d", opens_notice=True)


def test_first_detection_after_the_due_date_pushes_the_deadline_by_the_notice() -> None:
    step = schedule(now=NOW, natural_due=NOW - d(30), warn_days=(7,), notices=[], notice=WEEK)
    assert step is not None
    assert (step.act, step.deadline, step.stage) == (False, NOW + WEEK, "7d")


def test_acts_at_the_deadline_only_after_the_minimum_notice() -> None:
    told = [sent("7d", 3, NOW + d(4))]
    assert schedule(now=NOW, natural_due=NOW - d(1), warn_days=(7,), notices=told, notice=WEEK) is None
    later = schedule(now=NOW + d(4), natural_due=NOW - d(1), warn_days=(7,), notices=told, notice=WEEK)
    assert later is not None
    assert (later.act, later.deadline) == (True, NOW + d(4))


def test_a_step_without_notice_acts_at_its_due_date() -> None:
    step = schedule(
        now=NOW, natural_due=NOW, warn_days=(14, 7, 1), notices=[], notice=WEEK, needs_notice=False
    )
    assert step is not None
    assert step.act


def test_missed_stages_are_caught_up_once_and_never_repeated() -> None:
    one_day = schedule(
        now=NOW, natural_due=NOW + d(1), warn_days=(14, 7, 1), notices=[], notice=WEEK, needs_notice=False
    )
    assert one_day is not None
    assert one_day.stage == "1d"
    told = [sent("1d", 0, NOW + d(1), kind="rotate")]
    assert (
        schedule(
            now=NOW,
            natural_due=NOW + d(1),
            warn_days=(14, 7, 1),
            notices=told,
            notice=WEEK,
            needs_notice=False,
        )
        is None
    )


def test_early_action_needs_a_notice_received_the_full_notice_period_before() -> None:
    kwargs = {"natural_due": NOW + d(10), "warn_days": (14,), "notice": WEEK, "early_ok": True}
    # a notice sent this very run, or received only 6 days ago, does not allow acting early
    assert schedule(now=NOW, notices=[sent("14d", 0, NOW + d(10))], **kwargs) is None  # type: ignore[arg-type]
    assert schedule(now=NOW, notices=[sent("14d", 6, NOW + d(10))], **kwargs) is None  # type: ignore[arg-type]
    step = schedule(now=NOW, notices=[sent("14d", 7, NOW + d(10))], **kwargs)  # type: ignore[arg-type]
    assert step is not None
    assert (step.act, step.early, step.due) == (True, True, NOW)


def test_an_undelivered_notice_counts_for_nothing_but_not_warning_twice() -> None:
    # Given a notice recorded 10 days ago that never reached its owner
    pending = replace(sent("7d", 10, NOW - d(3)), delivered_at=None)
    step = schedule(now=NOW, natural_due=NOW - d(3), warn_days=(7,), notices=[pending], notice=WEEK)
    # Then nothing is done and no second notice recorded, although the announced deadline passed
    assert step is None
    # ... and once delivered (today), the deadline is a full notice period after the delivery
    received = replace(pending, delivered_at=NOW)
    assert (
        schedule(now=NOW + d(6), natural_due=NOW - d(3), warn_days=(7,), notices=[received], notice=WEEK)
        is None
    )
    step = schedule(now=NOW + d(7), natural_due=NOW - d(3), warn_days=(7,), notices=[received], notice=WEEK)
    assert step is not None
    assert (step.act, step.deadline) == (True, NOW + d(7))


def test_episode_and_dry_run_filters() -> None:
    old_episode = sent("7d", 40, NOW - d(33))
    dry = sent("7d", 1, NOW + d(6), dry=True)
    live = sent("7d", 1, NOW + d(6))
    other = sent("7d", 1, NOW + d(6), kind="delete")
    notices = [old_episode, dry, live, other]
    assert episode_notices(notices, "deactivate", NOW + d(6), dry_run=False) == [live]
    assert episode_notices(notices, "deactivate", NOW + d(6), dry_run=True) == [dry, live]


def test_stage_names() -> None:
    assert stage(d(20), (14, 7, 1)) == "notice"
    assert stage(d(14), (14, 7, 1)) == "14d"
    assert stage(d(6.5), (14, 7, 1)) == "7d"
    assert stage(d(0), (14, 7, 1)) == "1d"
