"""A bounded clock (DESIGN "Decisions"): a run's "now" is the real clock, never the invoking event's
`time`. An event whose time is too far from the real clock (a stale sample such as `events/scheduled.json`,
a replay, a skewed producer) is refused with a clear log line and a metric, so it can neither date notices
in the past nor freeze every clock in the future. Local hosts (the demo, tests) move the real clock with
`time_machine.travel(t, tick=False)`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from credlife.handlers.observability import logger, metrics


def real_now() -> datetime:
    """The run's clock."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ClockRejection:
    """Why an event's time was refused."""

    event_time: datetime
    now: datetime
    limit: timedelta

    @property
    def direction(self) -> str:
        return "future" if self.event_time > self.now else "past"

    def describe(self) -> str:
        return (
            f"event time {self.event_time.isoformat()} is {_span(self.event_time - self.now)} in the "
            f"{self.direction} of the real clock {self.now.isoformat()} (allowed: {_span(self.limit)})"
        )

    def as_response(self) -> dict[str, str]:
        return {
            "status": "rejected",
            "reason": "clock",
            "event_time": self.event_time.isoformat(),
            "now": self.now.isoformat(),
        }


def check(
    event_time: datetime, now: datetime, *, past: timedelta, future: timedelta | None = None
) -> ClockRejection | None:
    """None when `event_time` lies within `past` before and `future` (default: `past`) after `now`."""
    ahead = future if future is not None else past
    if event_time > now + ahead:
        return ClockRejection(event_time, now, ahead)
    if event_time < now - past:
        return ClockRejection(event_time, now, past)
    return None


def reject(rejection: ClockRejection, *, what: str) -> None:
    """Log and count a refused event (never raises)."""
    logger.warning(
        f"rejected {what}: {rejection.describe()}",
        extra={
            "event_time": rejection.event_time.isoformat(),
            "now": rejection.now.isoformat(),
            "direction": rejection.direction,
        },
    )
    metrics.add_metric(name="RejectedEvents", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ClockRejections", unit=MetricUnit.Count, value=1)


def _span(delta: timedelta) -> str:
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} days {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} minutes"
