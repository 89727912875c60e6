"""When a lifecycle step happens and when its owner is told: one mechanism for every credential type.

A step has a natural due date and warning stages (days before its deadline). Disruptive steps need a
*delivered* notice at least `notice` before they happen: the deadline is the natural due date pushed back to
`notice` after the first notice a channel accepted. A notice recorded but still waiting in the outbox counts
for nothing but "do not warn twice": while no notice is delivered the deadline keeps moving with the clock,
so nothing is done to an owner who was never reached. Only the latest stage reached is sent (a missed stage
is caught up once, never as a burst). A notice belongs to the current episode only if it announced a deadline
at or after the natural due date, so a credential used again and idle again later is warned anew."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from credlife.domain.models import Notice


@dataclass(frozen=True, slots=True)
class Step:
    """What is due now for one scheduled step: act (`early` when ahead of the deadline), or warn."""

    act: bool
    deadline: datetime
    due: datetime
    stage: str | None = None  # set for a warning
    early: bool = False
    #: A warning sent while no notice of the episode was delivered: its deadline moves with its delivery.
    opens_notice: bool = False


def episode_notices(
    notices: Iterable[Notice],
    warns_of: str,
    natural_due: datetime,
    *,
    dry_run: bool,
    since: datetime | None = None,
) -> list[Notice]:
    """The notices that count for this step now: same action, this episode, live (dry-run ones only count
    while the policy is dry-run: a live action needs a live notice). `since` ends older episodes (e.g. the
    owner re-activated a key: what was announced before no longer counts)."""
    return [
        n
        for n in notices
        if n.warns_of == warns_of
        and n.deadline >= natural_due
        and (dry_run or not n.dry_run)
        and (since is None or n.sent_at >= since)
    ]


def first_delivery(notices: Iterable[Notice]) -> datetime | None:
    """When the owner first received a notice of this episode (None: not yet)."""
    return min((n.delivered_at for n in notices if n.delivered_at is not None), default=None)


def schedule(
    *,
    now: datetime,
    natural_due: datetime,
    warn_days: Sequence[int],
    notices: Sequence[Notice],
    notice: timedelta,
    needs_notice: bool = True,
    early_ok: bool = False,
) -> Step | None:
    """The step due now, or None. `notices` are this step's episode notices (see `episode_notices`)."""
    first = first_delivery(notices)
    deadline = max(natural_due, (first or now) + notice) if needs_notice else natural_due
    if (first is not None or not needs_notice) and now >= deadline:
        return Step(act=True, deadline=deadline, due=deadline)
    if early_ok and first is not None and first + notice <= now:
        # early (a proven-safe retirement) still only after the owner had the full notice period
        return Step(act=True, deadline=deadline, due=now, early=True)
    current = stage(deadline - now, warn_days)
    if current != NOTICE_STAGE:
        if any(stage_days(n.stage) <= stage_days(current) for n in notices):
            return None  # this stage, or a later one, was already sent
    elif not (needs_notice and not notices and now >= deadline - notice):
        # no stage reached yet (the minimum notice goes out even without a stage), or a notice is already
        # on its way: wait for its delivery rather than record another one
        return None
    return Step(act=False, deadline=deadline, due=now, stage=current, opens_notice=needs_notice and not first)


NOTICE_STAGE = "notice"


def stage(remaining: timedelta, warn_days: Sequence[int]) -> str:
    """The latest warning stage reached with `remaining` time to the deadline ("7d"), or "notice"."""
    reached = [d for d in warn_days if remaining <= days(d)]
    return f"{min(reached)}d" if reached else NOTICE_STAGE


def stage_days(name: str) -> int:
    """Days before the deadline a stage stands for ("7d" → 7); the bare "notice" stage counts as 0."""
    return int(name[:-1]) if name.endswith("d") and name[:-1].isdigit() else 0


@functools.cache
def days(n: float) -> timedelta:
    """Cached: the planner needs the same few durations millions of times at organization scale."""
    return timedelta(days=n)
