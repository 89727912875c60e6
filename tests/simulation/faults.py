"""Faults moto cannot produce, injected through botocore's event system on the real clients.

moto answers every call instantly and correctly: it never throttles, never refuses an email for days, never
fails a Secrets Manager or DynamoDB write between two steps, and a Lambda is never stopped mid-run. The
simulation needs all of these, so it adds two handlers to botocore's `BUILTIN_HANDLERS` (the way moto itself
hooks into every client; every session created while they are installed gets them):

- `before-call`: may answer a call with an error response instead of sending it to moto (as AWS would
  after botocore's own retries gave up), so the project's code sees a real `ClientError`;
- `after-call`: counts the run's calls and may raise `Stopped` (a `BaseException`, like the Lambda runtime
  killing the function at its timeout) right after call N returned.

Both are no-ops unless a `FaultPlan` is armed, and only the project's calls inside a handler invocation are
armed (the simulation's own reads of moto state happen outside)."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.handlers import BUILTIN_HANDLERS


class Stopped(BaseException):
    """The function was stopped right after an AWS call (timeout, crash). A BaseException: `except
    Exception` in the project's code cannot swallow it, just as it cannot swallow a real timeout."""


@dataclass
class Response:
    """The bits of an HTTP response botocore reads after `before-call` answered a call."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


#: Error codes per fault kind, as AWS answers them.
THROTTLE_CODES = {
    "iam": ("Throttling", 400),
    "sts": ("Throttling", 400),
    "sesv2": ("TooManyRequestsException", 429),
    "secretsmanager": ("ThrottlingException", 400),
    "dynamodb": ("ThrottlingException", 400),
    "sns": ("Throttled", 400),
}
SES_REFUSALS = (
    ("SendingPausedException", 400),
    ("MessageRejected", 400),
    ("TooManyRequestsException", 429),
    ("AccountSuspendedException", 400),
)
#: Fault kinds and the calls they hit.
DYNAMO_WRITES = frozenset({"PutItem", "UpdateItem", "TransactWriteItems", "DeleteItem"})
SECRET_WRITES = frozenset(
    {"CreateSecret", "PutSecretValue", "PutResourcePolicy", "UpdateSecretVersionStage", "TagResource"}
)


@dataclass
class FaultPlan:
    """What goes wrong during one run. Rates are per call; `stop_after` stops the run right after that
    many AWS calls (None: never); `ses_down` refuses every email."""

    rng: random.Random
    throttle: dict[str, float] = field(default_factory=dict)  # service → rate
    secrets_fail: float = 0.0
    dynamo_fail: float = 0.0
    ses_down: bool = False
    stop_after: int | None = None
    #: Stop right after the first call of this operation (`service:Operation`), e.g. "iam:CreateAccessKey".
    stop_on: str | None = None
    #: Secrets Manager writes refused with a validation error that echoes the request (as AWS's
    #: "Value '...' at 'secretString' failed to satisfy constraint" messages do).
    echo_fail: float = 0.0
    #: Injected faults by kind (the figures of the run).
    injected: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    #: Every call of the run, in order, as `service:Operation` (for reports: "stopped after call N").
    trail: list[str] = field(default_factory=list)
    stopped_at: str | None = None
    #: The SecretAccessKey of every key created during the run (seen on the wire, as AWS returned it).
    created_secrets: list[str] = field(default_factory=list)
    #: Called right after the run read the credential report (uses younger than the report land then).
    on_report: Callable[[], None] | None = None

    @property
    def quiet(self) -> bool:
        return not (
            any(self.throttle.values())
            or self.secrets_fail
            or self.dynamo_fail
            or self.ses_down
            or self.stop_after is not None
            or self.stop_on is not None
            or self.echo_fail
        )

    def decide(self, service: str, operation: str, body: str = "") -> tuple[str, int, str, str] | None:
        """The error (code, status, kind, message) to answer this call with, or None to let it through."""
        message = "injected by the simulation"
        secret_write = service == "secretsmanager" and operation in SECRET_WRITES
        if secret_write and self.echo_fail and self.rng.random() < self.echo_fail:
            try:
                value = str(json.loads(body).get("SecretString") or body)
            except ValueError:
                value = body
            echoed = (
                f"1 validation error detected: Value '{value}' at 'secretString' failed to satisfy "
                "constraint: Member must have length less than or equal to 65536"
            )
            return "ValidationException", 400, "secrets_echo", echoed
        if service == "sesv2" and operation == "SendEmail" and self.ses_down:
            code, status = self.rng.choice(SES_REFUSALS)
            return code, status, "ses_down", message
        rate = self.throttle.get(service, 0.0)
        if rate and self.rng.random() < rate:
            code, status = THROTTLE_CODES.get(service, ("Throttling", 400))
            return code, status, f"throttle:{service}", message
        if secret_write and self.secrets_fail and self.rng.random() < self.secrets_fail:
            return "InternalServiceError", 500, "secrets_fail", message
        dynamo_write = service == "dynamodb" and operation in DYNAMO_WRITES
        if dynamo_write and self.dynamo_fail and self.rng.random() < self.dynamo_fail:
            return "InternalServerError", 500, "dynamo_fail", message
        return None


_armed: FaultPlan | None = None


def _service(model: Any) -> str:
    return str(model.service_model.service_name)


def _before_call(model: Any, params: Any = None, **_: Any) -> tuple[Response, dict[str, Any]] | None:
    plan = _armed
    if plan is None:
        return None
    service, operation = _service(model), str(model.name)
    body = params.get("body", b"") if isinstance(params, dict) else b""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    decided = plan.decide(service, operation, text)
    if decided is None:
        return None
    code, status, kind, message = decided
    plan.injected[kind] += 1
    return Response(status), {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }


def _after_call(model: Any, parsed: Any = None, **_: Any) -> None:
    plan = _armed
    if plan is None:
        return
    if model.name == "CreateAccessKey" and isinstance(parsed, dict):
        # every secret the run made, including keys deleted again before the run ended
        secret = parsed.get("AccessKey", {}).get("SecretAccessKey")
        if secret:
            plan.created_secrets.append(str(secret))
    plan.calls += 1
    plan.trail.append(f"{_service(model)}:{model.name}")
    if model.name == "GetCredentialReport" and plan.on_report is not None:
        plan.on_report()
    hit = plan.stop_on is not None and plan.trail[-1] == plan.stop_on
    if hit or (plan.stop_after is not None and plan.calls >= plan.stop_after):
        plan.stop_after = plan.stop_on = None
        plan.injected["stop"] += 1
        plan.stopped_at = f"call {plan.calls} ({plan.trail[-1]})"
        raise Stopped(plan.stopped_at)


_HANDLERS = (("before-call", _before_call), ("after-call", _after_call))


@contextmanager
def installed() -> Iterator[None]:
    """The two handlers in botocore's built-in list while the simulation runs (sessions created meanwhile
    get them; they do nothing unless a plan is armed)."""
    for handler in _HANDLERS:
        BUILTIN_HANDLERS.append(handler)
    try:
        yield
    finally:
        for handler in _HANDLERS:
            BUILTIN_HANDLERS.remove(handler)


@contextmanager
def armed(plan: FaultPlan) -> Iterator[FaultPlan]:
    global _armed
    _armed = plan
    try:
        yield plan
    finally:
        _armed = None
