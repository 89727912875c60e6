"""Event Lambda: console sign-ins (`aws.signin`) and IAM API calls (`aws.iam`) from CloudTrail via
EventBridge → risk rules → security topic.

Thin on purpose: split the input into events at the edge, hand each to the
`RiskMonitor` (which normalises it, consults the state table, applies the pure rules, alerts), emit one
metric per reason code. The clock is each event's `eventTime`. Accepts one EventBridge event (the normal
case), a list of them, or an SQS batch whose bodies are EventBridge events; one bad record never loses the
others, and nothing raises out of the handler for bad input (it becomes a `malformed` finding; an event out
of the rules' scope is `ignored`).

One exception is raised on purpose: when an alert could not be published (`AlertNotDelivered`), after every
event of the input was judged. The invocation fails, EventBridge retries it and finally sends it to the
dead-letter queue (both alarmed); the monitor released the event's claim, so the retry alerts once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from credlife.aws.risk_factory import EventRuntime, build_event_runtime
from credlife.config import load_settings
from credlife.handlers.observability import logger, metrics, tracer
from credlife.risk_monitor import AlertNotDelivered, EventResult, RiskMonitor, judge_each

_runtime: EventRuntime | None = None


def runtime() -> EventRuntime:
    global _runtime
    if _runtime is None:
        _runtime = build_event_runtime(load_settings())
    return _runtime


def use_runtime(value: EventRuntime | None) -> None:
    """For local hosts (tests, replay against DynamoDB): run the handler on an explicitly built runtime."""
    global _runtime
    _runtime = value


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    rows = judge(runtime().monitor, split(event))
    metrics.add_metric(name="EventsReceived", unit=MetricUnit.Count, value=len(rows))
    undelivered = sum(1 for row in rows if row["undelivered"])
    if undelivered:
        metrics.add_metric(name="AlertsUndelivered", unit=MetricUnit.Count, value=undelivered)
        raise AlertNotDelivered(f"{undelivered} alert(s) not published; the event will be redelivered")
    return {
        "status": "ok" if not any(row["errors"] for row in rows) else "degraded",
        "events": len(rows),
        "risky": sum(1 for row in rows if row["risky"]),
        "ignored": sum(1 for row in rows if row["ignored"]),
        "results": rows,
    }


def judge(monitor: RiskMonitor, inputs: Any) -> list[dict[str, Any]]:
    """Each input event judged (`risk_monitor.judge_each`, the replay's path too), reported in logs and
    metrics, and turned into its row."""
    return [result.as_row() for result in judge_each(monitor, inputs, report=_report)]


def split(event: Any) -> Iterator[Any]:
    """The events inside one invocation's input, in order."""
    if isinstance(event, list):
        yield from event
        return
    # plain dict access, not Powertools' event data classes: importing that package loads every event
    # source's class and costs the cold start more than the whole split
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        for record in event["Records"]:
            if isinstance(record, dict) and "body" in record:
                yield _body(record.get("body"))
            else:
                yield record  # a CloudTrail log file's record
        return
    if isinstance(event, dict) and "detail" in event:
        logger.append_keys(event_source=str(event.get("source"))[:64])
        yield event
        return
    yield event


def _body(body: Any) -> Any:
    if not isinstance(body, str):
        return body
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return body  # judged malformed by the monitor


def _report(result: EventResult) -> None:
    if result.ignored:
        metrics.add_metric(name="EventsIgnored", unit=MetricUnit.Count, value=1)
        logger.info("event out of scope", extra={"event_id": result.event_id})
        return
    metrics.add_metric(name="EventsJudged", unit=MetricUnit.Count, value=1)
    for finding in result.findings:
        metrics.add_metric(name=f"Finding_{finding.reason.value}", unit=MetricUnit.Count, value=1)
    for finding in result.suppressed:
        metrics.add_metric(name=f"Suppressed_{finding.reason.value}", unit=MetricUnit.Count, value=1)
    if result.alerted:
        metrics.add_metric(name="AlertsPublished", unit=MetricUnit.Count, value=1)
    if result.mfa_notice:
        metrics.add_metric(name="MfaLiftNoticesSent", unit=MetricUnit.Count, value=1)
    if any(error.startswith("mfa_notice:") for error in result.errors):
        metrics.add_metric(name="MfaLiftNoticeFailures", unit=MetricUnit.Count, value=1)
    if result.errors:
        metrics.add_metric(name="MonitorErrors", unit=MetricUnit.Count, value=len(result.errors))
    row = result.as_row()
    if result.risky:
        logger.warning("risky event", extra={"risk": row})
    elif result.findings:
        logger.warning("event not judged", extra={"risk": row})
    else:
        logger.info("event judged", extra={"risk": row})
