"""Account worker Lambda (organization mode): SQS account queue → assume the member role → lifecycle run.

One message per account (`organizations.AccountMessage`). Powertools' `BatchProcessor` reports each failed
record back to SQS (`ReportBatchItemFailures`), so one account failing — access denied on AssumeRole,
throttled past every retry, out of time — never stops the others: it is logged and counted, retried by
SQS, and lands in the dead-letter queue (alarmed to the security topic) after its last attempt. Per-user
failures inside an account are reported in the run summary like in single-account mode."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from credlife.aws.factory import RETRIES, build_member_runtime
from credlife.aws.organizations import AccountMessage, MemberSessions
from credlife.config import Settings, load_settings
from credlife.handlers import clock
from credlife.handlers.observability import logger, metrics, tracer
from credlife.lifecycle import count_changes

#: A record is not started with less time left than this: it is failed (and retried) instead of cut off.
MIN_REMAINING_MS = 60_000

# Every record's outcome is reported, even when all fail (the invocation itself then still succeeds).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class OutOfTime(Exception):
    """Too little of the invocation's time is left to scan another account."""


class WrongAccount(Exception):
    """The assumed session acts in another account than the message names."""


class StaleMessage(Exception):
    """The message's time is too far from the real clock (older than `queued_run_max_age_minutes`, or
    ahead by more than `event_clock_tolerance_minutes`): refused, never run."""


class _Worker:
    def __init__(self, settings: Settings, home: boto3.Session | None = None) -> None:
        self.settings = settings
        self.home = home or boto3.Session(region_name=settings.region)
        self.members = MemberSessions(
            settings.organization,
            self.home.client("sts", config=RETRIES),
            region=self.home.region_name,
        )


_worker: _Worker | None = None
_context: LambdaContext | None = None


def worker() -> _Worker:
    global _worker
    if _worker is None:
        _worker = _Worker(load_settings())
    return _worker


def use_worker(settings: Settings | None, home: boto3.Session | None = None) -> None:
    """For local hosts (tests, the bench): run on explicit settings and home session; None resets."""
    global _worker
    _worker = None if settings is None else _Worker(settings, home)


def process_account(record: SQSRecord) -> dict[str, Any]:
    """One account: raise to fail the record (SQS retries it), return to delete it."""
    remaining = getattr(_context, "get_remaining_time_in_millis", None)  # absent on local hosts
    if remaining is not None and remaining() < MIN_REMAINING_MS:
        raise OutOfTime(f"less than {MIN_REMAINING_MS} ms left")
    message = AccountMessage.from_json(record.body)
    w = worker()
    now = clock.real_now()  # the run's clock; the message's time only bounds how stale it may be
    rejection = clock.check(
        message.time,
        now,
        past=timedelta(minutes=w.settings.queued_run_max_age_minutes),
        future=timedelta(minutes=w.settings.event_clock_tolerance_minutes),
    )
    if rejection is not None:
        clock.reject(rejection, what=f"account message for {message.account_id}")
        raise StaleMessage(rejection.describe())
    try:
        runtime = build_member_runtime(w.settings, message.account_id, members=w.members, home_session=w.home)
        summary = runtime.service.run(now)
        if summary.account_id != message.account_id:
            raise WrongAccount(f"assumed session acts in {summary.account_id}")
    except Exception as error:
        logger.error(
            "account run failed",
            extra={
                "account_id": message.account_id,
                "error": type(error).__name__,
                "detail": str(error)[:300],
            },
        )
        metrics.add_metric(name="AccountFailures", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name="AccountsScanned", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Failures", unit=MetricUnit.Count, value=len(summary.failures))
    metrics.add_metric(name="UsersScanned", unit=MetricUnit.Count, value=summary.users)
    result = {
        "account_id": summary.account_id,
        "run_id": summary.run_id,
        "dry_run": summary.dry_run,
        "users": summary.users,
        "actions": len(summary.actions),
        "outcomes": count_changes(summary),
        "failures": summary.failures,
        "api_calls": summary.api_calls,
    }
    logger.info("account run finished", extra=result)
    return result


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _context
    _context = context
    try:
        return dict(
            process_partial_response(
                event=event, record_handler=process_account, processor=processor, context=context
            )
        )
    finally:
        _context = None
