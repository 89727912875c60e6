"""Scheduled lifecycle Lambda: EventBridge schedule → inventory → plan → execute.

Thin on purpose: parse the event at the edge, take the run's clock from the event's `time` (the scheduled
time, so a run is reproducible and the demo can walk the calendar), call the lifecycle service, emit
metrics. Dependencies are built once per cold start from validated settings."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from credlife.aws.factory import Runtime, build_runtime
from credlife.config import load_settings
from credlife.handlers.observability import logger, metrics, tracer
from credlife.lifecycle import count_changes

_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = build_runtime(load_settings())
    return _runtime


def use_runtime(value: Runtime | None) -> None:
    """For local hosts (the demo, tests): run the handler on an explicitly built runtime."""
    global _runtime
    _runtime = value


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = scheduled_time(event)
    if now is None:
        logger.warning(
            "rejected event: not an EventBridge scheduled event with a time",
            extra={
                "source": str(event.get("source"))[:64] if isinstance(event, dict) else None,
                "detail_type": str(event.get("detail-type"))[:64] if isinstance(event, dict) else None,
            },
        )
        metrics.add_metric(name="RejectedEvents", unit=MetricUnit.Count, value=1)
        return {"status": "rejected", "reason": "malformed"}
    summary = runtime().service.run(now)
    by_reason = Counter(a.reason.value for a in summary.actions)
    for label, count in count_changes(summary).items():
        metrics.add_metric(name=f"Outcome_{label.replace(':', '_')}", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name="Failures", unit=MetricUnit.Count, value=len(summary.failures))
    metrics.add_metric(name="UsersScanned", unit=MetricUnit.Count, value=summary.users)
    logger.info(
        "lifecycle run finished",
        extra={
            "run_id": summary.run_id,
            "account_id": summary.account_id,
            "dry_run": summary.dry_run,
            "users": summary.users,
            "actions_by_reason": dict(by_reason),
            "outcomes": count_changes(summary),
            "failures": summary.failures,
            "api_calls": summary.api_calls,
        },
    )
    return {
        "status": "failed" if summary.failures else "ok",
        "run_id": summary.run_id,
        "account_id": summary.account_id,
        "dry_run": summary.dry_run,
        "users": summary.users,
        "actions": len(summary.actions),
        "outcomes": count_changes(summary),
        "failures": summary.failures,
    }


def scheduled_time(event: Any) -> datetime | None:
    """The run's clock: the scheduled event's `time`, or None when the event is not one."""
    if not isinstance(event, dict):
        return None
    parsed = EventBridgeEvent(event)
    try:
        if parsed.source != "aws.events" or parsed.detail_type != "Scheduled Event":
            return None
        when = datetime.fromisoformat(parsed.time.replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return when if when.tzinfo is not None else None  # a time without a zone is ambiguous: rejected
