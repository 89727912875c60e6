""" "Rotate now" Lambda: a custom EventBridge event asks for one user's access key to be rotated at once.

Event: source `credlife`, detail-type `Rotate Access Key Now`, detail `{"user": ..., "requested_by": ...}`
(sample: `events/rotate_now.json`). Thin: parse and validate at the edge, take the real clock (an event
whose `time` is more than `event_clock_tolerance_minutes` from it is refused), and run the same lifecycle
service as the schedule for that one user with the rotation requested. Every rule still applies:
exemptions, the two-key quota, dry-run. Put events with e.g.
`aws events put-events --entries 'Source=credlife,DetailType=Rotate Access Key Now,Detail={"user":"..."}'`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Final

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from credlife.aws.factory import Runtime, build_runtime
from credlife.aws.secrets import IAM_USER_NAME
from credlife.config import load_settings
from credlife.domain.actions import ActionKind
from credlife.handlers import clock
from credlife.handlers.observability import logger, metrics, tracer
from credlife.lifecycle import count_changes
from credlife.ports import RunSummary

SOURCE: Final = "credlife"
DETAIL_TYPE: Final = "Rotate Access Key Now"
#: Who asked: free text from the event, kept short and printable (it lands in audit rows and emails).
_REQUESTER: Final = re.compile(r"[A-Za-z0-9 @._+=,:/-]{1,128}")

_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = build_runtime(load_settings())
    return _runtime


def use_runtime(value: Runtime | None) -> None:
    """For local hosts (the CLI, tests): run the handler on an explicitly built runtime."""
    global _runtime
    _runtime = value


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event)
    if request is None:
        logger.warning("rejected event: not a valid rotate-now request")
        metrics.add_metric(name="RejectedEvents", unit=MetricUnit.Count, value=1)
        return {"status": "rejected", "reason": "malformed"}
    user, requested_by, requested_at = request
    now = clock.real_now()
    tolerance = timedelta(minutes=runtime().settings.event_clock_tolerance_minutes)
    rejection = clock.check(requested_at, now, past=tolerance)
    if rejection is not None:
        clock.reject(rejection, what="rotate-now request")
        return {**rejection.as_response(), "user": user}
    summary = runtime().service.run(now, only_user=user, rotate_now={user: requested_by})
    result = rotate_now_result(summary, user)
    metrics.add_metric(name="RotateNowRequests", unit=MetricUnit.Count, value=1)
    logger.info("rotate-now finished", extra={**result, "requested_by": requested_by})
    return result


def parse_request(event: Any) -> tuple[str, str, datetime] | None:
    """(user, requested_by, event time) from a valid event, else None."""
    if not isinstance(event, dict):
        return None
    parsed = EventBridgeEvent(event)
    try:
        if parsed.source != SOURCE or parsed.detail_type != DETAIL_TYPE:
            return None
        detail = parsed.detail
        when = datetime.fromisoformat(parsed.time.replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if not isinstance(detail, dict) or when.tzinfo is None:
        return None
    user, requested_by = detail.get("user"), detail.get("requested_by", "unknown")
    if not isinstance(user, str) or not IAM_USER_NAME.fullmatch(user):
        return None
    if not isinstance(requested_by, str) or not _REQUESTER.fullmatch(requested_by):
        return None
    return user, requested_by, when


def rotate_now_result(summary: RunSummary, user: str) -> dict[str, Any]:
    """What happened to the request: `rotated`, `would_rotate` (dry-run), `exempt`, `blocked`, `conflict`,
    `not_found`, `nothing_to_rotate` or `failed`, with the run's outcomes."""
    kinds = {(o.action.action, o.status) for o in summary.outcomes}
    if summary.users == 0:
        status = "not_found"
    elif (ActionKind.ROTATE, "applied") in kinds:
        status = "rotated"
    elif (ActionKind.ROTATE, "dry_run") in kinds:
        status = "would_rotate"
    elif any(k is ActionKind.EXEMPT for k, _ in kinds):
        status = "exempt"
    elif any(k is ActionKind.ALERT for k, _ in kinds):
        status = "conflict"
    elif any(k is ActionKind.BLOCKED for k, _ in kinds):
        status = "blocked"
    elif any(s == "failed" for _, s in kinds) or summary.failures:
        status = "failed"
    else:
        status = "nothing_to_rotate"
    rotation = next((o for o in summary.outcomes if o.action.action is ActionKind.ROTATE), None)
    return {
        "status": status,
        "user": user,
        "run_id": summary.run_id,
        "dry_run": summary.dry_run,
        "new_key_id": rotation.new_key_id if rotation else None,
        "secret_name": rotation.secret_name if rotation else None,
        "outcomes": count_changes(summary),
        "failures": summary.failures,
    }
