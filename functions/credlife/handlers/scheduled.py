"""Scheduled lifecycle Lambda: EventBridge schedule → inventory → plan → execute.

Organization mode (`organization.enabled`): the same schedule instead lists the organization's active
accounts (filtered by id, OU and tag) and queues one message per account for the account worker
(`handlers/account_worker.py`); accounts that cannot be queued are reported, the others still go.

Thin on purpose: parse the event at the edge, take the run's clock from the real clock (an event whose
`time` is more than `event_clock_tolerance_minutes` from it is refused: see `handlers/clock.py`; the demo
walks the calendar by moving the real clock), call the lifecycle service, emit metrics. Dependencies are
built once per cold start from validated settings."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from credlife.aws.calls import ApiCallCounter
from credlife.aws.factory import RETRIES, Runtime, build_runtime
from credlife.aws.organizations import AccountDirectory, AccountMessage, AccountQueue
from credlife.config import OrganizationSettings, Settings, load_settings
from credlife.handlers import clock
from credlife.handlers.observability import logger, metrics, tracer
from credlife.lifecycle import count_changes

_runtime: Runtime | None = None
_settings: Settings | None = None


def settings() -> Settings:
    global _settings
    if _runtime is not None:
        return _runtime.settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = build_runtime(settings())
    return _runtime


def use_runtime(value: Runtime | None) -> None:
    """For local hosts (the demo, tests): run the handler on an explicitly built runtime."""
    global _runtime, _settings
    _runtime = value
    _settings = None


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    scheduled_at = scheduled_time(event)
    if scheduled_at is None:
        logger.warning(
            "rejected event: not an EventBridge scheduled event with a time",
            extra={
                "source": str(event.get("source"))[:64] if isinstance(event, dict) else None,
                "detail_type": str(event.get("detail-type"))[:64] if isinstance(event, dict) else None,
            },
        )
        metrics.add_metric(name="RejectedEvents", unit=MetricUnit.Count, value=1)
        return {"status": "rejected", "reason": "malformed"}
    now = clock.real_now()
    tolerance = timedelta(minutes=settings().event_clock_tolerance_minutes)
    rejection = clock.check(scheduled_at, now, past=tolerance)
    if rejection is not None:
        clock.reject(rejection, what="scheduled event")
        return rejection.as_response()
    if settings().organization.enabled:
        return fan_out(now, settings().organization)
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


def fan_out(now: datetime, org: OrganizationSettings, session: boto3.Session | None = None) -> dict[str, Any]:
    """Organization mode: one account-queue message per active, selected account."""
    assert org.queue_url is not None  # guaranteed by OrganizationSettings' validation
    session = session or boto3.Session(region_name=settings().region)
    counter = ApiCallCounter()
    directory = AccountDirectory(session.client("organizations", config=RETRIES), counter=counter)
    queue = AccountQueue(org.queue_url, session.client("sqs", config=RETRIES), counter=counter)
    accounts = directory.accounts(org)
    failed = queue.send(AccountMessage(a.account_id, now, a.name) for a in accounts)
    metrics.add_metric(name="AccountsQueued", unit=MetricUnit.Count, value=len(accounts) - len(failed))
    metrics.add_metric(name="AccountsNotQueued", unit=MetricUnit.Count, value=len(failed))
    result = {
        "status": "failed" if failed else "ok",
        "mode": "organization",
        "accounts": len(accounts),
        "queued": len(accounts) - len(failed),
        "failures": [f"{account}: could not be queued" for account in failed],
        "api_calls": counter.snapshot(),
    }
    logger.info("accounts queued", extra=result)
    return result


def scheduled_time(event: Any) -> datetime | None:
    """The scheduled event's `time` (checked against the real clock), or None when the event is not one."""
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
